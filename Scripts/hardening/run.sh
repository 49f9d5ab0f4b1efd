#!/usr/bin/env bash
# Hardening checks for `lmscore serve` on 127.0.0.1: overload (wrk at ~4x the measured sustainable
# rate against a small max_queued_tokens), hostile clients (2,000 idle connections, connection_limit,
# slowloris headers and bodies, clients leaving mid-batch, pipelining, chunked bodies, Expect:
# 100-continue, oversized bodies, Content-Type), a soak of mixed traffic (RSS, fds, 5xx), and SIGTERM
# under load. Each check prints PASS/FAIL with its numbers; a SUMMARY line ends the run; the exit
# status is non-zero when any check failed. See Scripts/hardening/README.md.
#
#   Scripts/hardening/run.sh --ci      # every check, short durations (~2.5 min on 2 cores)
#   Scripts/hardening/run.sh --full    # 60 s overload, 10 min soak (~14 min)
#   Scripts/hardening/run.sh --ci --only overload,shutdown
#
# Environment: LMSCORE_BIN (a built lmscore; otherwise built here, release, scratch path
# LMSCORE_HARDENING_SCRATCH or .build-hard), LMSCORE_HARDENING_MODEL (default: the bundled model),
# LMSCORE_HARDENING_WORKDIR (configs and server logs; default: a new temporary directory).
# Needs python3 (stdlib only) and wrk (Debian: apt-get install -y wrk; installed here when root).
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=ci
only=overload,hostile,bodies,soak,shutdown
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) mode=ci ;;
    --full) mode=full ;;
    --only) only=${2:?--only needs a list}; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (use --ci, --full, --only LIST)" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  fi
  command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
fi
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 2; }

bin=${LMSCORE_BIN:-}
if [ -z "$bin" ]; then
  scratch=${LMSCORE_HARDENING_SCRATCH:-.build-hard}
  swift build --scratch-path "$scratch" -c release --product lmscore >&2
  bin=$scratch/release/lmscore
fi
model=${LMSCORE_HARDENING_MODEL:-Models/lmscore-gpt2-small-en}
workdir=${LMSCORE_HARDENING_WORKDIR:-$(mktemp -d /tmp/lmscore-hardening.XXXXXX)}

exec python3 -u Scripts/hardening/harden.py --bin "$bin" --model "$model" --mode "$mode" --only "$only" --workdir "$workdir"
