#!/usr/bin/env bash
# Serving load test: a generated ~80k-post community behind `steward serve`
# on loopback, driven by wrk (2 threads x 32 connections, 15 s per endpoint),
# then a new client timed among 20,000 idle connections. A thin wrapper of
# `steward bench serve`; arguments are passed on (e.g. --work-dir DIR to keep
# and reuse the imported database, --json).
#
#   bench/load.sh [--work-dir /tmp/steward-load] [--json]
#
# Needs wrk: `apt-get install -y wrk` on Debian/Ubuntu, else
# https://github.com/wg/wrk. Uses $STEWARD (a steward binary) when set, else
# builds the release binary with cargo. Bounded: the whole run is stopped
# after 30 minutes (generation and import of a fresh community included).
set -euo pipefail

if ! command -v wrk >/dev/null 2>&1; then
    echo "bench/load.sh: wrk is not installed; on Debian/Ubuntu: apt-get install -y wrk" >&2
    exit 2
fi
# 20,000 idle connections need as many file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${STEWARD:-}" ]; then
    cargo build --release --locked -p steward-cli --manifest-path "$root/Cargo.toml" >&2
    STEWARD="${CARGO_TARGET_DIR:-$root/target}/release/steward"
fi
exec timeout 1800 "$STEWARD" bench serve "$@"
