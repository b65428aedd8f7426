package pipeline

import (
	"strings"
	"testing"
)

// recorder is a stage that logs its calls into the shared trail.
type recorder struct {
	name  string
	reply bool
	trail *[]string
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Handle(*Exchange) Verdict {
	*r.trail = append(*r.trail, r.name)
	if r.reply {
		return Replied
	}
	return Next
}

// finishing is a recorder with a Finish.
type finishing struct{ recorder }

func (f *finishing) Finish(*Exchange) { *f.trail = append(*f.trail, "~"+f.name) }

func TestRunOrder(t *testing.T) {
	var trail []string
	p := New(
		&finishing{recorder{name: "a", trail: &trail}},
		&recorder{name: "b", trail: &trail},
		&finishing{recorder{name: "c", trail: &trail}},
		&finishing{recorder{name: "d", reply: true, trail: &trail}},
		&finishing{recorder{name: "e", trail: &trail}},
	)
	p.Run(&Exchange{})
	if got := strings.Join(trail, " "); got != "a b c d ~d ~c ~a" {
		t.Fatalf("trail %q", got)
	}
	if len(p.Stages()) != 5 || p.Stages()[4].Name() != "e" {
		t.Fatalf("stages %v", p.Stages())
	}
}

// nop is the cheapest stage: it only goes on.
type nop struct{}

func (nop) Name() string             { return "nop" }
func (nop) Handle(*Exchange) Verdict { return Next }

// nopFinish also has a Finish.
type nopFinish struct{ nop }

func (nopFinish) Finish(*Exchange) {}

// BenchmarkPipelineRun runs six stages, two with a Finish: the runner's own
// cost, which must stay allocation-free.
func BenchmarkPipelineRun(b *testing.B) {
	p := New(nop{}, &nopFinish{}, nop{}, nop{}, &nopFinish{}, nop{})
	x := &Exchange{}
	b.ReportAllocs()
	for b.Loop() {
		p.Run(x)
	}
}

func TestRunZeroAllocs(t *testing.T) {
	p := New(nop{}, &nopFinish{}, nop{})
	x := &Exchange{}
	if n := testing.AllocsPerRun(100, func() { p.Run(x) }); n != 0 {
		t.Fatalf("Run: %v allocs", n)
	}
}
