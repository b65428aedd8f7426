package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// slowBuilds are the deliberately slower gateways of the self-test: build
// tag and what each must trip.
var slowBuilds = []struct{ tag, what string }{
	{"sluice_slow_delay", "every 100th request held 20 ms (1% × 20 ms)"},
	{"sluice_slow_cpu", "10 µs of extra CPU per request"},
}

// runSelfTest is `harness selftest`: it builds sluice normally and with each
// slowdown tag (engine/slowdown_*.go), runs the load guards against each
// build and asserts that the normal build passes and every slow one fails.
// The micro-benchmark guards do not see the gateway binary, so only the load
// group runs.
func runSelfTest(ctx context.Context, o options, pin bool) error {
	b, err := loadBaseline(o.baseline)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sluice-selftest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	type build struct{ name, tag, what, bin string }
	builds := []build{{"normal", "", "the build under test", o.sluiceBin}}
	for _, sb := range slowBuilds {
		builds = append(builds, build{sb.tag, sb.tag, sb.what, filepath.Join(dir, "sluice-"+sb.tag)})
	}
	for _, bd := range builds[1:] {
		fmt.Fprintf(os.Stderr, "selftest: building sluice with -tags %s\n", bd.tag)
		args := allCPUs("go", "build", "-tags", bd.tag, "-o", bd.bin, "./cmd/sluice")
		if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("build -tags %s: %v\n%s", bd.tag, err, out)
		}
	}
	groups := map[string]bool{groupLoad: true}
	var report strings.Builder
	fmt.Fprintf(&report, "# bench-check self-test %s\n\n", time.Now().UTC().Format(time.RFC3339))
	report.WriteString("| build | expected | result | guards broken |\n|---|---|---|---|\n")
	wrong := 0
	for _, bd := range builds {
		fmt.Printf("== selftest: %s (%s)\n", bd.name, bd.what)
		ob := o
		ob.sluiceBin = bd.bin
		ob.allowSkip = false
		vs, failed, err := checkConfirmed(ctx, ob, pin, b, groups)
		if err != nil {
			return fmt.Errorf("%s: %w", bd.name, err)
		}
		var broken []string
		for _, v := range vs {
			if v.state == "FAIL" {
				broken = append(broken, v.name+" "+strings.SplitN(v.detail, " ", 2)[0])
			}
		}
		want := bd.tag != ""
		got := failed > 0
		result := map[bool]string{true: "bench-check fails", false: "bench-check passes"}[got]
		expected := map[bool]string{true: "fail", false: "pass"}[want]
		if got != want {
			wrong++
			result += " (WRONG)"
		}
		fmt.Printf("selftest %s: %s, expected to %s\n", bd.name, result, expected)
		fmt.Fprintf(&report, "| %s: %s | %s | %s | %s |\n", bd.name, bd.what, expected, result, strings.Join(broken, "; "))
	}
	os.MkdirAll(o.results, 0o755)
	out := filepath.Join(o.results, "selftest-latest.md")
	if err := os.WriteFile(out, []byte(report.String()), 0o644); err == nil {
		fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	}
	fmt.Print(report.String())
	if wrong > 0 {
		return fmt.Errorf("%w: self-test: %d build(s) judged wrongly", errCheckFailed, wrong)
	}
	fmt.Println("bench-selftest: ok (the normal build passes, every slowed build fails)")
	return nil
}
