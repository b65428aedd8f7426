package engine

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/tracing"
)

// tracingOptions translates the tracing section for package tracing; nil
// (no section) stays nil: tracing off.
func tracingOptions(c *config.Tracing) *tracing.Options {
	if c == nil {
		return nil
	}
	return &tracing.Options{OTLPEndpoint: c.OTLPEndpoint, SampleRatio: c.SampleRatio, ServiceName: c.ServiceName}
}
