#!/usr/bin/env bash
# Installs the peer proxies the benchmark compares sluice with, from Debian
# packages: nginx (the small nginx-light build) and haproxy. Arguments pick
# some of them (`install.sh nginx`); none means both. Idempotent; waits for
# another apt run to release its lock.
set -euo pipefail
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(nginx haproxy)
need=()
for p in "${want[@]}"; do
    case $p in
    nginx) command -v nginx >/dev/null 2>&1 || need+=(nginx-light) ;;
    haproxy) command -v haproxy >/dev/null 2>&1 || need+=(haproxy) ;;
    *) echo "peers: unknown peer $p (nginx or haproxy)" >&2; exit 2 ;;
    esac
done
if [ ${#need[@]} -eq 0 ]; then
    echo "peers: ${want[*]} already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -o DPkg::Lock::Timeout=600)
$SUDO "${apt[@]}" update -qq
$SUDO "${apt[@]}" install -y -qq --no-install-recommends "${need[@]}"
# The packages start system services; the harness runs its own instances.
for svc in nginx haproxy; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "peers: installed ${need[*]}"
