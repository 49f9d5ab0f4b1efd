#!/usr/bin/env bash
# Fuzzes the request decoders and the tokenizer with libFuzzer + AddressSanitizer for SECONDS (default 60):
#
#   Scripts/fuzz.sh [SECONDS] [LIBFUZZER_FLAG…]      e.g. Scripts/fuzz.sh 1800 -max_len=16384
#
# Builds the LMScoreFuzz target (Sources/LMScoreFuzz) into .build-fuzz with -sanitize=fuzzer,address,
# copies the seed corpus (Tests/Fuzz/corpus) to a temporary directory — generated inputs never land in
# the repository — and runs libFuzzer over it with Tests/Fuzz/lmscore.dict. Prints executions, exec/s,
# coverage and findings. A crash (a sanitizer report, a trap, or a broken property of the harness such as
# a decoder answering bad input with something other than 400/422), a timeout (> FUZZ_TIMEOUT s, default
# 10, on one input) or running out of memory fails the run: the input is kept in the temporary directory,
# printed, and the script exits non-zero. `.build-fuzz/debug/LMScoreFuzz FILE` replays it.
#
# Environment: FUZZ_TIMEOUT (s per input, default 10), FUZZ_MAX_LEN (bytes, default 4096),
# FUZZ_RSS_MB (default 4096), FUZZ_KEEP=1 keeps the temporary directory after a clean run,
# FUZZ_SCRATCH (build directory, default .build-fuzz). Scripts/test.sh passes FUZZ_SCRATCH=.build: the
# sanitizer flags only reach the Swift compiler, so the C dependencies (BoringSSL) already compiled
# there are reused — 30 s instead of 2 min cold — at the price of the next plain `swift build`
# recompiling the Swift modules.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "usage: Scripts/fuzz.sh [SECONDS] [LIBFUZZER_FLAG…]" >&2; exit 2; }
shift $(( $# > 0 ? 1 : 0 ))

scratch=${FUZZ_SCRATCH:-.build-fuzz}
binary=$scratch/debug/LMScoreFuzz
echo "fuzz.sh: building LMScoreFuzz (-sanitize=fuzzer,address) in $scratch"
build_start=$(date +%s)
if ! swift build --scratch-path "$scratch" -c debug --product LMScoreFuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DLMSCORE_FUZZING \
        > >(grep -v "Cannot export local symbol" >&2) 2>&1; then
  echo "fuzz.sh: build failed" >&2
  exit 2
fi
echo "fuzz.sh: built in $(( $(date +%s) - build_start )) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/lmscore-fuzz.XXXXXX")
mkdir -p "$work/corpus" "$work/artifacts"
cp "$root"/Tests/Fuzz/corpus/* "$work/corpus/"
seeds=$(ls "$work/corpus" | wc -l)
log=$work/fuzz.log

echo "fuzz.sh: $seeds seed inputs, ${seconds} s, work directory $work"
status=0
# libFuzzer writes its progress to stderr; keep it all in the log and show the periodic lines.
(
  cd "$work"
  # Swift's own crash backtracer reads raw stack memory, which ASan reports as an overflow of its own,
  # burying the real report: let libFuzzer and ASan print the stack instead.
  SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no} \
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:symbolize=1} \
  "$root/$binary" corpus \
    -dict="$root/Tests/Fuzz/lmscore.dict" \
    -max_total_time="$seconds" \
    -timeout="${FUZZ_TIMEOUT:-10}" \
    -max_len="${FUZZ_MAX_LEN:-4096}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-4096}" \
    -artifact_prefix="$work/artifacts/" \
    -print_final_stats=1 \
    -print_pcs=0 \
    "$@"
) > "$log" 2>&1 &
fuzzer=$!
# A progress line about every 30 s.
while kill -0 "$fuzzer" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$fuzzer" 2>/dev/null || break; sleep 1; done
  line=$(grep -aE '^#[0-9]+[[:space:]]' "$log" | tail -1 || true)
  [[ -n $line ]] && echo "  ${line}"
done
wait "$fuzzer" || status=$?

final_stat() { grep -a "^stat::$1:" "$log" | awk '{print $2}' | tail -1; }
last=$(grep -aE '^#[0-9]+[[:space:]].*cov:' "$log" | tail -1 || true)
field() { sed -nE "s/.* $1: ([^ ]+).*/\1/p" <<<"$last"; }
runs=$(final_stat number_of_executed_units)
echo "fuzz.sh: executions ${runs:-?}, exec/s ${runs:+$(final_stat average_exec_per_sec)}, coverage $(field cov) edges, $(field ft) features," \
     "corpus $(field corp), peak RSS $(final_stat peak_rss_mb) MB, slowest input $(final_stat slowest_unit_time_sec) s"

findings=$(ls "$work/artifacts" 2>/dev/null | wc -l)
if [[ $status -ne 0 || $findings -gt 0 ]]; then
  echo "fuzz.sh: FAILED (libFuzzer exit $status, $findings finding(s))" >&2
  # The report: from the first sanitizer/fatal error line to the end of the log.
  awk '/==ERROR|Fatal error|ERROR: libFuzzer|SUMMARY:|deadly signal|Test unit written/ {show=1} show' "$log" | head -80 >&2
  for finding in "$work"/artifacts/*; do
    [[ -e $finding ]] || continue
    echo "--- $finding ($(wc -c < "$finding") bytes), as a Python bytes literal:" >&2
    python3 -c 'import sys; print(repr(open(sys.argv[1], "rb").read()[:4000]))' "$finding" >&2 2>/dev/null \
      || od -An -c "$finding" | head -40 >&2
    echo "--- replay: $binary $finding" >&2
  done
  echo "fuzz.sh: inputs and log kept in $work" >&2
  exit 1
fi
echo "fuzz.sh: no findings"
if [[ ${FUZZ_KEEP:-0} == 1 ]]; then echo "fuzz.sh: kept $work"; else rm -rf "$work"; fi
