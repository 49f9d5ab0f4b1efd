#!/usr/bin/env bash
# Runs every example marked in README.md and docs/api.md (a live `lmscore serve` for the curl ones, the
# binary for the CLI ones) and compares the output with the text shown (Scripts/check_examples.py does
# the work; the marking convention is in docs/development.md, "Checked examples").
#
#   Scripts/check_examples.sh            check (part of Scripts/test.sh)
#   Scripts/check_examples.sh --update   rewrite the shown output of every example that differs, e.g.
#                                        after a kernel change moved the last digits; review the diff
#
# Uses LMSCORE_BIN when set, otherwise builds the debug binary. Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lmscore_bin.sh check_examples
exec python3 Scripts/check_examples.py --bin "$bin" "$@"
