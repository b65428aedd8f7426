package main

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastrand"
)

// Options tune one upstream instance.
type Options struct {
	// Name identifies the instance in X-Served-By and "served_by".
	Name string
	// Latency is added before every answer except /healthz.
	Latency time.Duration
	// ErrorRate is the fraction (0..1) of requests answered 500, except /healthz.
	ErrorRate float64
}

// service holds the state of one upstream instance.
type service struct {
	opts     Options
	nameJSON []byte // the name as a JSON string, precomputed
	requests atomic.Int64
	orders   atomic.Int64

	mu    sync.Mutex
	carts map[string]json.RawMessage
}

// NewServer returns a fasthttp server answering the upstream's endpoints.
func NewServer(opts Options) *fasthttp.Server {
	s := &service{opts: opts, carts: make(map[string]json.RawMessage)}
	s.nameJSON, _ = json.Marshal(opts.Name)
	return &fasthttp.Server{
		Handler:                       s.handle,
		NoDefaultServerHeader:         true,
		DisableHeaderNamesNormalizing: false,
		ReadTimeout:                   30 * time.Second,
		IdleTimeout:                   60 * time.Second,
		MaxRequestBodySize:            16 << 20,
		StreamRequestBody:             false,
	}
}

var (
	strServedBy = []byte("X-Served-By")
	strJSON     = []byte("application/json")
)

func (s *service) handle(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetBytesKV(strServedBy, []byte(s.opts.Name))
	applyHeaderParams(ctx)
	path := ctx.Path()
	if string(path) == "/healthz" {
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok")
		return
	}
	s.requests.Add(1)
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}
	if s.opts.ErrorRate > 0 && float64(fastrand.Uint32n(1<<24))/(1<<24) < s.opts.ErrorRate {
		s.writeJSON(ctx, fasthttp.StatusInternalServerError, []byte(`{"error":"injected failure"}`))
		return
	}
	first, rest := split(path)
	switch first {
	case "catalog", "products":
		s.catalog(ctx, rest)
	case "cart":
		s.cart(ctx, rest)
	case "checkout":
		s.checkout(ctx, rest)
	case "users":
		s.user(ctx, rest)
	case "feed":
		s.feed(ctx, rest)
	case "notifications":
		s.notifications(ctx, rest)
	case "echo":
		s.echo(ctx)
	case "status":
		s.status(ctx, rest)
	case "slow":
		s.slow(ctx, rest)
	case "stream":
		s.stream(ctx, rest)
	case "stats":
		s.writeJSON(ctx, 200, []byte(`{"requests":`+strconv.FormatInt(s.requests.Load(), 10)+`}`))
	default:
		s.writeJSON(ctx, fasthttp.StatusNotFound, []byte(`{"error":"not found"}`))
	}
}

// split returns the first segment of path and the remainder after its slash.
func split(path []byte) (first, rest string) {
	p := bytes.TrimPrefix(path, []byte("/"))
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		return string(p[:i]), string(p[i+1:])
	}
	return string(p), ""
}

// applyHeaderParams lets a test ask for response headers: every query
// parameter "header=Name:Value" is set on the answer (e.g. Cache-Control).
func applyHeaderParams(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	if args.Len() == 0 {
		return
	}
	for _, v := range args.PeekMulti("header") {
		if i := bytes.IndexByte(v, ':'); i > 0 {
			ctx.Response.Header.AddBytesKV(bytes.TrimSpace(v[:i]), bytes.TrimSpace(v[i+1:]))
		}
	}
}

func (s *service) writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentTypeBytes(strJSON)
	ctx.SetBody(body)
}

func (s *service) methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set("Allow", allow)
	s.writeJSON(ctx, fasthttp.StatusMethodNotAllowed, []byte(`{"error":"method not allowed"}`))
}

func isGet(ctx *fasthttp.RequestCtx) bool { return ctx.IsGet() || ctx.IsHead() }

// catalog answers GET /catalog/{sku}: a product with a price derived from the sku.
func (s *service) catalog(ctx *fasthttp.RequestCtx, sku string) {
	if !isGet(ctx) {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	if sku == "" || bytes.IndexByte([]byte(sku), '/') >= 0 {
		s.writeJSON(ctx, fasthttp.StatusNotFound, []byte(`{"error":"no such product"}`))
		return
	}
	skuJSON, _ := json.Marshal(sku)
	nameJSON, _ := json.Marshal("Product " + sku)
	cents := 100 + xxhash.Sum64String(sku)%99900
	b := make([]byte, 0, 128)
	b = append(b, `{"sku":`...)
	b = append(b, skuJSON...)
	b = append(b, `,"name":`...)
	b = append(b, nameJSON...)
	b = append(b, `,"price":`...)
	b = strconv.AppendUint(b, cents/100, 10)
	b = append(b, '.')
	if c := cents % 100; c < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, cents%100, 10)
	b = append(b, `,"currency":"EUR","served_by":`...)
	b = append(b, s.nameJSON...)
	b = append(b, '}')
	s.writeJSON(ctx, 200, b)
}

// cart answers GET/POST /cart[/{id}]; POST stores the posted JSON as the cart's items.
func (s *service) cart(ctx *fasthttp.RequestCtx, id string) {
	if id == "" {
		id = "default"
	}
	var items json.RawMessage
	switch {
	case ctx.IsPost() || ctx.IsPut():
		body := ctx.PostBody()
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("[]")
		}
		if !json.Valid(body) {
			s.writeJSON(ctx, fasthttp.StatusBadRequest, []byte(`{"error":"body is not JSON"}`))
			return
		}
		items = append(json.RawMessage(nil), body...)
		s.mu.Lock()
		s.carts[id] = items
		s.mu.Unlock()
	case isGet(ctx):
		s.mu.Lock()
		items = s.carts[id]
		s.mu.Unlock()
		if items == nil {
			items = json.RawMessage(`[{"sku":"sku-1","qty":1}]`)
		}
	default:
		s.methodNotAllowed(ctx, "GET, HEAD, POST, PUT")
		return
	}
	out, _ := json.Marshal(struct {
		ID       string          `json:"id"`
		Items    json.RawMessage `json:"items"`
		ServedBy string          `json:"served_by"`
	}{id, items, s.opts.Name})
	s.writeJSON(ctx, 200, out)
}

// checkout answers POST /checkout with an order echoing the posted JSON body.
func (s *service) checkout(ctx *fasthttp.RequestCtx, rest string) {
	if rest != "" {
		s.writeJSON(ctx, fasthttp.StatusNotFound, []byte(`{"error":"not found"}`))
		return
	}
	if !ctx.IsPost() {
		s.methodNotAllowed(ctx, "POST")
		return
	}
	body := ctx.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("null")
	}
	if !json.Valid(body) {
		s.writeJSON(ctx, fasthttp.StatusBadRequest, []byte(`{"error":"body is not JSON"}`))
		return
	}
	out, _ := json.Marshal(struct {
		OrderID  string          `json:"order_id"`
		Status   string          `json:"status"`
		Request  json.RawMessage `json:"request"`
		ServedBy string          `json:"served_by"`
	}{"ord-" + strconv.FormatInt(s.orders.Add(1), 10), "created", body, s.opts.Name})
	s.writeJSON(ctx, fasthttp.StatusCreated, out)
}

// user answers GET /users/{id} with a profile.
func (s *service) user(ctx *fasthttp.RequestCtx, id string) {
	if !isGet(ctx) {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	if id == "" {
		s.writeJSON(ctx, fasthttp.StatusNotFound, []byte(`{"error":"no such user"}`))
		return
	}
	out, _ := json.Marshal(struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Email    string `json:"email"`
		Tier     string `json:"tier"`
		ServedBy string `json:"served_by"`
	}{id, "User " + id, id + "@example.com", "gold", s.opts.Name})
	s.writeJSON(ctx, 200, out)
}

// feed answers GET /feed with a JSON array of items.
func (s *service) feed(ctx *fasthttp.RequestCtx, rest string) {
	if !isGet(ctx) {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	if rest != "" {
		s.writeJSON(ctx, fasthttp.StatusNotFound, []byte(`{"error":"not found"}`))
		return
	}
	var b []byte
	b = append(b, '[')
	for i := 1; i <= 3; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"title":"Story `...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","served_by":`...)
		b = append(b, s.nameJSON...)
		b = append(b, '}')
	}
	b = append(b, ']')
	s.writeJSON(ctx, 200, b)
}

// notifications answers GET /notifications/count.
func (s *service) notifications(ctx *fasthttp.RequestCtx, rest string) {
	if rest != "count" {
		s.writeJSON(ctx, fasthttp.StatusNotFound, []byte(`{"error":"not found"}`))
		return
	}
	if !isGet(ctx) {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	s.writeJSON(ctx, 200, []byte(`{"count":3}`))
}

// echo describes the request as received, so tests can see what a gateway forwarded.
func (s *service) echo(ctx *fasthttp.RequestCtx) {
	headers := make(map[string]string)
	ctx.Request.Header.VisitAll(func(k, v []byte) {
		if old, ok := headers[string(k)]; ok {
			headers[string(k)] = old + ", " + string(v)
			return
		}
		headers[string(k)] = string(v)
	})
	out, _ := json.Marshal(struct {
		Method   string            `json:"method"`
		Path     string            `json:"path"`
		Host     string            `json:"host"`
		Headers  map[string]string `json:"headers"`
		Body     string            `json:"body"`
		ServedBy string            `json:"served_by"`
	}{
		string(ctx.Method()), string(ctx.Request.Header.RequestURI()), string(ctx.Request.Header.Host()),
		headers, string(ctx.PostBody()), s.opts.Name,
	})
	s.writeJSON(ctx, 200, out)
}

// status answers GET /status/{code} with that status.
func (s *service) status(ctx *fasthttp.RequestCtx, rest string) {
	code, err := strconv.Atoi(rest)
	if err != nil || code < 200 || code > 599 {
		s.writeJSON(ctx, fasthttp.StatusBadRequest, []byte(`{"error":"status must be 200..599"}`))
		return
	}
	if code == 204 || code == 304 {
		ctx.SetStatusCode(code)
		return
	}
	s.writeJSON(ctx, code, []byte(`{"status":`+rest+`,"served_by":`+string(s.nameJSON)+`}`))
}

// slow answers GET /slow?ms=N after sleeping N milliseconds (at most a minute).
func (s *service) slow(ctx *fasthttp.RequestCtx, rest string) {
	ms, err := strconv.Atoi(string(ctx.QueryArgs().Peek("ms")))
	if rest != "" || err != nil || ms < 0 || ms > 60000 {
		s.writeJSON(ctx, fasthttp.StatusBadRequest, []byte(`{"error":"ms must be 0..60000"}`))
		return
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	s.writeJSON(ctx, 200, []byte(`{"slept_ms":`+strconv.Itoa(ms)+`,"served_by":`+string(s.nameJSON)+`}`))
}
