#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer, in its own build directory:
#
#   Scripts/sanitize.sh address    # AddressSanitizer + LeakSanitizer, .build-asan
#   Scripts/sanitize.sh thread     # ThreadSanitizer, .build-tsan
#   Scripts/sanitize.sh thread --filter ServerTests    # extra arguments go to swift test
#
# The test processes and the lmscore children they spawn run with the sanitizer; any report fails
# the run (halt_on_error for ASan; TSan's exitcode for races). Leaks inside Foundation and XCTest that
# are not lmscore's are suppressed, with the evidence, in Tests/Sanitizers/lsan.supp.
# Slow: a cold build takes ~4-5 min on 2 cores, the tests 2-10× longer than plain.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

kind=${1:-}
shift || true
case "$kind" in
  address) scratch=.build-asan ;;
  thread) scratch=.build-tsan ;;
  *) echo "usage: Scripts/sanitize.sh address|thread [swift test arguments…]" >&2; exit 2 ;;
esac

# Every process's reports (the test runner's and each lmscore child's) go to files in $reports, so a
# child's report fails the run even when no test reads that child's stderr.
reports=$(mktemp -d /tmp/lmscore-sanitize-$kind.XXXXXX)
# Timing guards in the tests widen their factors under a sanitizer (HostileInputTests).
export LMSCORE_SANITIZER=$kind
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:log_path=$reports/report}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/Tests/Sanitizers/lsan.supp:print_suppressions=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:log_path=$reports/report}
echo "sanitize.sh: swift test --sanitize=$kind --scratch-path $scratch $* (reports: $reports)"
set +e
swift test --sanitize="$kind" --scratch-path "$scratch" "$@" 2>&1 \
  | grep -v "Cannot export local symbol" | tee "$reports/swift-test.log" | grep -E "^(✘|✔ Test run|.*Test run with)"
status=${PIPESTATUS[0]}
set -e
found=$(find "$reports" -name 'report.*' | wc -l)
for report in $(find "$reports" -name 'report.*' | head -5); do
  echo "--- $report"; head -40 "$report"
done
echo "sanitize.sh: $kind: swift test exit $status, sanitizer reports from $found process(es)"
[ "$status" -eq 0 ] && [ "$found" -eq 0 ]
