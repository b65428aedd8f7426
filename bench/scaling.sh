#!/usr/bin/env bash
# scaling.sh [ROUNDS] [SECONDS] — CPU per proxied request of sluice with
# GOMAXPROCS=N against nginx with N worker processes, N = 1 and 2, from the
# processes' own CPU time (/proc/PID/stat utime+stime) over a wrk run
# (1 thread, 64 connections) through the plain-proxy route. Nothing is pinned:
# on a 2-core machine wrk and the upstream share the cores, so req/s is not the
# proxies' capacity, but CPU per request is what a dedicated N-core host
# divides by. Prints each round, then medians. Needs wrk, nginx and curl.
set -euo pipefail
ROUNDS=${1:-5}
DUR=${2:-5}
cd "$(dirname "$0")/.."
for cmd in wrk nginx curl; do
	command -v "$cmd" >/dev/null || { echo "scaling.sh: $cmd is not installed" >&2; exit 1; }
done
go build -o bin/sluice ./cmd/sluice
go build -o bin/upstream ./cmd/upstream
dir=$(mktemp -d)
up=127.0.0.1:19001 px=127.0.0.1:19002 admin=127.0.0.1:19003
bin/upstream -listen "$up" -name catalog-1 >/dev/null 2>&1 &
upid=$!
trap 'kill $upid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5

ticks() { # utime+stime of the given pids, in clock ticks
	local sum=0 p
	for p in "$@"; do sum=$((sum + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
	echo "$sum"
}
hz=$(getconf CLK_TCK)

printf 'proxy\tN\treq/s\tproxy_us/req\tupstream_us/req\n' | tee "$dir/rounds.tsv"
for _ in $(seq "$ROUNDS"); do
	for n in 1 2; do
		for proxy in sluice nginx; do
			if [ "$proxy" = sluice ]; then
				sed -e "s/{{LISTEN}}/$px/; s/{{ADMIN}}/$admin/; s/{{UPSTREAM}}/$up/" bench/configs/plain.json >"$dir/plain.json"
				GOMAXPROCS=$n bin/sluice run -c "$dir/plain.json" >/dev/null 2>&1 &
			else
				mkdir -p "$dir/nginx"
				sed -e "s#{{DIR}}#$dir/nginx#g; s/{{LISTEN}}/$px/; s/{{UPSTREAM}}/$up/" \
					-e "s/^worker_processes 1;/worker_processes $n;/; s/^master_process off;/master_process on;/" \
					bench/peers/nginx.conf.tmpl >"$dir/nginx/nginx.conf"
				nginx -c "$dir/nginx/nginx.conf" >/dev/null 2>&1 &
			fi
			pid=$!
			for _ in $(seq 50); do curl -sf "http://$px/catalog/sku-42" >/dev/null && break; sleep 0.1; done
			wrk -t1 -c64 -d1s "http://$px/catalog/sku-42" >/dev/null # warm-up
			pids=$(pgrep -P "$pid" || true)
			c0=$(ticks $pid $pids) u0=$(ticks $upid)
			rps=$(wrk -t1 -c64 -d"${DUR}s" "http://$px/catalog/sku-42" | awk '/Requests\/sec/{print $2}')
			c1=$(ticks $pid $pids) u1=$(ticks $upid)
			awk -v p="$proxy" -v n="$n" -v r="$rps" -v d="$DUR" -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v hz="$hz" \
				'BEGIN { q = r * d; printf "%s\t%d\t%.0f\t%.1f\t%.1f\n", p, n, r, c * 1e6 / hz / q, u * 1e6 / hz / q }' |
				tee -a "$dir/rounds.tsv"
			kill "$pid"
			wait "$pid" 2>/dev/null || true
			sleep 0.3
		done
	done
done
echo "medians:"
awk -F'\t' 'NR > 1 { k = $1 " N=" $2; n[k]++; r[k, n[k]] = $3; c[k, n[k]] = $4; u[k, n[k]] = $5 }
	function med(a, k, m,   i, j, t, v) {
		for (i = 1; i <= m; i++) v[i] = a[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	END { for (k in n) printf "  %-10s %8.0f req/s  %5.1f µs/req proxy  %5.1f µs/req upstream\n", k, med(r, k, n[k]), med(c, k, n[k]), med(u, k, n[k]) }' \
	"$dir/rounds.tsv" | sort
