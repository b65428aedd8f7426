package pipeline

// Verdict tells the runner whether to go on to the next stage.
type Verdict uint8

const (
	// Next continues with the next stage.
	Next Verdict = iota
	// Replied means the response is complete (an answer or a failure
	// recorded with Fail): the remaining stages are skipped.
	Replied
)

// Stage is one compiled step of a route. Stages are built once when the
// configuration is compiled and shared by all requests: they must be safe
// for concurrent use and keep per-request state in the Exchange (or in the
// state Exchange.Local reaches) only.
type Stage interface {
	// Name is the stage's stable name, shown by GET /routes ("" for a step
	// of the engine's own plumbing that the configuration does not name).
	Name() string
	// Handle runs the stage for x.
	Handle(x *Exchange) Verdict
}

// Finisher is implemented by stages that must see the final response (the
// cache fill, compression, the response transform). Finish runs after the
// last Handle, in reverse order, only for the stages whose Handle ran.
type Finisher interface {
	Finish(x *Exchange)
}

// Pipeline is an ordered, immutable list of stages, built once.
type Pipeline struct {
	stages []Stage
	finish []Finisher // aligned with stages; nil where a stage has no Finish
}

// New builds the pipeline of stages, in the order they run. It resolves the
// optional Finisher once, so that Run does no type assertions.
func New(stages ...Stage) *Pipeline {
	p := &Pipeline{stages: stages, finish: make([]Finisher, len(stages))}
	for i, s := range stages {
		p.finish[i], _ = s.(Finisher)
	}
	return p
}

// Stages returns the stages in the order they run. The slice must not be
// modified.
func (p *Pipeline) Stages() []Stage { return p.stages }

// Run executes p for x: each Handle in order until one replies, then the
// Finish of every stage whose Handle ran, in reverse. It does not allocate.
func (p *Pipeline) Run(x *Exchange) {
	n := 0
	for _, s := range p.stages {
		n++
		if s.Handle(x) == Replied {
			break
		}
	}
	for i := n - 1; i >= 0; i-- {
		if f := p.finish[i]; f != nil {
			f.Finish(x)
		}
	}
}
