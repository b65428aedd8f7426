// Package cache is the response cache stage: a byte-bounded in-memory store
// shared by every cached route, with coalesced misses and stale-if-error.
//
// One Store (a ristretto cache costed in bytes of the stored response) serves
// every route; Store.Route turns a route's Options into a Route whose Lookup
// (before the upstream stages) and Fill (after them) answer a request from
// memory (HIT), through the upstream (MISS, storing
// what may be stored), with an expired entry when the upstream fails
// (STALE), or straight through without touching the cache (BYPASS). Every
// answer of a cached route carries X-Cache; hits carry Age.
//
// Decisions where the contract is silent:
//
//   - Key: route, host (case-folded, port kept), normalised path, query
//     parameters sorted by name (repeated names keep their order; the
//     parameters are compared as sent, not percent-decoded), the class of
//     Accept-Encoding (which of gzip/br/zstd/deflate the client accepts, so
//     a compressed answer never reaches a client that cannot decode it), the
//     route's vary header values, and the consumer with per_consumer. The
//     full key is stored and compared: a hash collision is a miss.
//   - Stored: GET answers 200/203/204/301/404 without Set-Cookie, without
//     Cache-Control private/no-store/no-cache and without Vary: *. Freshness
//     is the route's ttl, or the upstream's s-maxage (else max-age) less its
//     Age when shorter; Expires is not consulted. Streamed bodies are not
//     stored.
//   - BYPASS: methods other than GET/HEAD, or a client Cache-Control
//     no-cache/no-store or Pragma: no-cache.
//   - HEAD is answered from the GET entry; a HEAD miss goes upstream as a
//     HEAD and is not stored.
//   - Coalescing: the first GET miss for a key calls the upstream; others
//     wait, bounded by x.Deadline. They answer from the leader's copy as HIT
//     (STALE when the leader served stale). When the copy may not be shared
//     (not storable, streamed, or a failure without a stale entry) each
//     waiter calls the upstream itself. A waiter whose deadline passes
//     answers stale if it can, else 504 upstream_timeout.
//   - STALE: an upstream 5xx, or a fetch failed with 5xx (connect error,
//     timeout, open circuit or its fallback), answered by an entry that
//     expired less than stale_if_error ago.
package cache
