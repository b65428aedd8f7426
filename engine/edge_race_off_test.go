//go:build !race

package engine_test

const edgeRaceEnabled = false
