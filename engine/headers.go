package engine

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
)

// headerOps are a route's precomputed header sets and removals.
type headerOps struct {
	set    [][2]string
	remove []string
}

type headerWriter interface {
	Set(key, value string)
	Del(key string)
}

func compileHeaderOps(c *config.HeaderOps, path string) (headerOps, config.Errors) {
	var errs config.Errors
	var ops headerOps
	if c == nil {
		return ops, nil
	}
	for _, k := range sortedKeys(c.Set) {
		if !httpbytes.ValidToken(k) {
			errs.Add(config.Join(config.Join(path, "set"), k), "invalid header name")
			continue
		}
		ops.set = append(ops.set, [2]string{k, c.Set[k]})
	}
	for i, k := range c.Remove {
		if !httpbytes.ValidToken(k) {
			errs.Add(config.Index(config.Join(path, "remove"), i), "invalid header name %q", k)
			continue
		}
		ops.remove = append(ops.remove, k)
	}
	return ops, errs
}

func (o *headerOps) apply(h headerWriter) {
	for _, k := range o.remove {
		h.Del(k)
	}
	for _, kv := range o.set {
		h.Set(kv[0], kv[1])
	}
}
