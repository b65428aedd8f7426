#!/usr/bin/env bash
# Zero-downtime handover of a local sluice: start a new process beside the
# running one (server.reuse_port: true lets both bind the same client and
# admin addresses), wait for its /readyz, then SIGTERM the old one, which
# drains (drain_delay, shutdown_timeout) and exits. With no running process
# it just starts one. Either way the new process's pid goes to PIDFILE.
#
#   scripts/handover.sh [-c CONFIG] [-p PIDFILE] [-b BINARY] [-l LOGFILE]
#
# Defaults: configs/handover.json, bin/sluice.pid, bin/sluice, bin/sluice.log.
set -euo pipefail
cd "$(dirname "$0")/.."

config=configs/handover.json pidfile=bin/sluice.pid bin=bin/sluice log=bin/sluice.log
while getopts "c:p:b:l:" opt; do
	case $opt in
	c) config=$OPTARG ;;
	p) pidfile=$OPTARG ;;
	b) bin=$OPTARG ;;
	l) log=$OPTARG ;;
	*) echo "usage: $0 [-c CONFIG] [-p PIDFILE] [-b BINARY] [-l LOGFILE]" >&2; exit 2 ;;
	esac
done

die() { echo "handover: $*" >&2; exit 1; }

# A config that does not compile never replaces a running process.
"$bin" check -c "$config" >/dev/null || die "$config does not compile (see above); the running process is untouched"
# Keys read with grep/sed to need nothing beyond coreutils.
key() { tr -d '\n' <"$config" | grep -o "\"$1\"[[:space:]]*:[[:space:]]*[^,}]*" | head -n1 | sed 's/^[^:]*:[[:space:]]*//; s/"//g'; }
[ "$(key reuse_port)" = "true" ] || die "$config needs \"server\": {\"reuse_port\": true} for a handover"
admin=$(key admin_listen)
[ -n "$admin" ] || die "$config needs server.admin_listen (the handover waits for /readyz)"
command -v curl >/dev/null || die "curl is needed to poll /readyz"

old=""
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	old=$(cat "$pidfile")
fi

mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")"
nohup "$bin" run -c "$config" >>"$log" 2>&1 &
new=$!
echo "handover: started sluice pid $new (old: ${old:-none}), waiting for http://$admin/readyz"

# With reuse_port the newest process answers the shared admin address, so a
# 200 while the new process is alive is its own /readyz.
ready=""
for _ in $(seq 1 300); do
	kill -0 "$new" 2>/dev/null || die "new process $new exited before it was ready (see $log); the old one keeps serving"
	if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$admin/readyz")" = "200" ]; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	kill -TERM "$new" 2>/dev/null || true
	die "new process $new not ready within 30s (see $log); stopped it, the old one keeps serving"
fi
echo "$new" >"$pidfile"

if [ -n "$old" ]; then
	echo "handover: new process ready; SIGTERM to old pid $old (it drains, then exits)"
	kill -TERM "$old"
	for _ in $(seq 1 1200); do
		kill -0 "$old" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$old" 2>/dev/null && die "old process $old still running after 120s"
fi
echo "handover: done; sluice pid $new serves $config"
