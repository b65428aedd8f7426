package engine

// headerOps are a route's precomputed header sets and removals.
type headerOps struct {
	set    [][2]string
	remove []string
}

type headerWriter interface {
	Set(key, value string)
	Del(key string)
}

func (o *headerOps) apply(h headerWriter) {
	for _, k := range o.remove {
		h.Del(k)
	}
	for _, kv := range o.set {
		h.Set(kv[0], kv[1])
	}
}
