#!/usr/bin/env bash
# Everything CI checks, in one command (README: "Run the tests"):
#  1. swift test                     — unit, reference, CLI and live-HTTP tests
#  2. Scripts/check_openapi.sh       — real responses of a running server against openapi.yaml
#  3. Scripts/check_container.sh     — the Dockerfile's build command builds a binary whose libraries
#                                      the runtime image provides
set -euo pipefail
cd "$(dirname "$0")/.."
passed=0
swift test
passed=$((passed + 1))
Scripts/check_openapi.sh
passed=$((passed + 1))
Scripts/check_container.sh
passed=$((passed + 1))
echo "test.sh: $passed passed, 0 failed"
