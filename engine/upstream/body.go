package upstream

import (
	"errors"
	"io"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/internal/promlabel"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// BufferLimit is the largest upstream answer (by Content-Length) that is read
// whole before the gateway answers; larger and chunked answers stream to the
// client as they arrive.
const BufferLimit = 64 << 10

// ErrTruncated: the upstream's answer ended before its body did (fewer bytes
// than its Content-Length, a broken chunked stream, a reset mid-body). It is
// a 502, counted in sluice_upstream_truncated_total and as a target failure.
var ErrTruncated = errors.New("upstream answer truncated")

// bodyPool holds the buffers small streamed answers are read into; a read
// buffer is swapped into the response, whose old buffer comes back here.
var bodyPool bytebufferpool.Pool

// bufferSmall reads a streamed answer whose Content-Length is at most
// BufferLimit into resp's body, checking that every declared byte arrived,
// and returns the read error otherwise (the body is then empty). fasthttp's
// Body() would hide a failed read by making the error text the body; this
// never does. Chunked and larger answers are left streaming.
func bufferSmall(resp *fasthttp.Response) error {
	if !resp.IsBodyStream() {
		return nil
	}
	n := resp.Header.ContentLength()
	if n < 0 || n > BufferLimit {
		return nil
	}
	bb := bodyPool.Get()
	buf, err := ReadExact(resp.BodyStream(), bb.B[:0], n)
	if err != nil {
		bb.B = buf[:0]
		bodyPool.Put(bb)
		// Closing with the error discards the connection.
		if c, ok := resp.BodyStream().(fasthttp.ReadCloserWithError); ok {
			_ = c.CloseWithError(err)
		}
		resp.ResetBody()
		return err
	}
	// The stream is at its end: SwapBody closes it (releasing the connection
	// to the pool) and hands back the response's old buffer for the pool.
	bb.B = resp.SwapBody(buf)[:0]
	bodyPool.Put(bb)
	return nil
}

// ReadExact appends exactly n bytes of r to dst and checks that r ends there.
// A stream that ends early, fails or carries more than n bytes is an error
// (io.ErrUnexpectedEOF for a short one), never a shorter or longer body.
func ReadExact(r io.Reader, dst []byte, n int) ([]byte, error) {
	if n < 0 {
		return dst, errors.New("negative body length")
	}
	start := len(dst)
	// One spare byte: the final read must see the end of the stream (which
	// also lets fasthttp reuse an upstream connection).
	if need := start + n + 1; cap(dst) < need {
		grown := make([]byte, start, need)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+n]
	if _, err := io.ReadFull(r, dst[start:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return dst[:start], err
	}
	for range 3 {
		m, err := r.Read(dst[start+n : start+n+1])
		if m > 0 {
			return dst[:start], errors.New("body longer than its Content-Length")
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], err
		}
	}
	return dst[:start], io.ErrNoProgress
}

// truncation reports whether err, from a fasthttp client call that read the
// whole answer, means the body was cut short.
func truncation(err error) bool {
	var bc fasthttp.ErrBrokenChunk
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &bc)
}

// truncatedCounter returns the service's sluice_upstream_truncated_total.
func truncatedCounter(set *metrics.Set, name string) *metrics.Counter {
	return set.GetOrCreateCounter(`sluice_upstream_truncated_total{service="` + promlabel.Value(name) + `"}`)
}

// CountTruncated counts an answer of s that was cut short while it streamed
// to the client (after the gateway had started answering).
func (s *Service) CountTruncated() {
	if s.truncated != nil {
		s.truncated.Inc()
	}
}

// ErrClientBody: the client's streamed request body failed or ended before
// its Content-Length while it was being sent upstream. It is the client's
// fault (400), never counted against the target.
var ErrClientBody = errors.New("client request body incomplete")

// ClientBody wraps a client's streamed request body on its way upstream and
// records whether it failed, so that a broken upload is told apart from an
// upstream failure. Reset it for each request; it is reusable.
type ClientBody struct {
	r    io.Reader
	want int
	got  int
	err  error
}

// Reset points b at r, a body of want bytes.
func (b *ClientBody) Reset(r io.Reader, want int) { *b = ClientBody{r: r, want: want} }

// Read reads from the client's body.
func (b *ClientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.got += n
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}

// Failed reports whether the body broke or ended short.
func (b *ClientBody) Failed() bool {
	return b.err != nil && (b.err != io.EOF || b.got < b.want)
}
