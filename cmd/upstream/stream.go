package main

import (
	"bufio"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// streamEvents and streamGap shape GET /stream: five events 50ms apart.
const (
	streamEvents = 5
	streamGap    = 50 * time.Millisecond
)

// stream answers GET /stream with a chunked text/event-stream, flushing each event.
func (s *service) stream(ctx *fasthttp.RequestCtx, rest string) {
	if rest != "" {
		s.writeJSON(ctx, fasthttp.StatusNotFound, []byte(`{"error":"not found"}`))
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	name := s.opts.Name
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		for i := 1; i <= streamEvents; i++ {
			if i > 1 {
				time.Sleep(streamGap)
			}
			fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\":%d,\"served_by\":%q}\n\n", i, i, name)
			if err := w.Flush(); err != nil {
				return // the client went away
			}
		}
	})
}
