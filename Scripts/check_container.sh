#!/usr/bin/env bash
# What can be proved about the container without a Docker engine (none runs here):
#  1. the Dockerfile's build command is the one README.md gives, and the image runs `lmscore serve`
#     with `lmscore healthcheck` as its HEALTHCHECK;
#  2. that build command, run here, produces a binary whose every shared library (ldd) belongs to a
#     Debian package (dpkg -S) that the runtime stage installs, pulls in as a dependency, or that
#     debian:bookworm-slim already has.
#   Scripts/check_container.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check_container: $*" >&2; exit 1; }

# 1. Commands.
build_cmd=$(grep -A1 '^# build-command' Dockerfile | tail -1 | sed -E 's/^RUN //')
[[ "$build_cmd" == swift\ build* ]] || fail "no build command after '# build-command' in Dockerfile"
grep -qF -- "$build_cmd" README.md || fail "README.md does not use the Dockerfile's build command: $build_cmd"
grep -q '^CMD \["serve"\]' Dockerfile || fail "the image does not run lmscore serve"
grep -q 'HEALTHCHECK .*"lmscore", "healthcheck"' Dockerfile || fail "HEALTHCHECK does not use lmscore healthcheck"
runtime_packages=$(grep -A3 '^# runtime-packages' Dockerfile | grep -o 'install -y --no-install-recommends [^&]*' | sed -E 's/install -y --no-install-recommends //; s/[\\ ]+$//')
[ -n "$runtime_packages" ] || fail "no runtime package list after '# runtime-packages'"
echo "build command:    $build_cmd"
echo "runtime packages: $runtime_packages"

# 2. Libraries.
if [ "${1:-}" != "--no-build" ]; then eval "$build_cmd"; fi
binary=.build/release/lmscore
[ -x "$binary" ] || fail "$binary not built"

# Packages the runtime stage has: bookworm-slim's own (the libraries it ships that a binary may link)
# plus the closure of the runtime packages' dependencies.
base="libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0 libcrypt1 libselinux1 libpcre2-8-0 libgmp10 libffi8 libtinfo6"
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
            $runtime_packages 2>/dev/null | grep -v '^ ' | grep -v '^<' | sort -u)
provided=" $base $runtime_packages $(echo $closure) "

missing=0
while read -r lib path; do
  [ -n "$path" ] || continue
  real=$(readlink -f "$path")
  package=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$package" ] || package=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1) || true
  if [ -z "$package" ]; then
    echo "  $lib → $real: no Debian package owns it"; missing=1
  elif [[ "$provided" == *" $package "* ]]; then
    echo "  $lib → $package"
  else
    echo "  $lib → $package: NOT in the runtime stage"; missing=1
  fi
done < <(ldd "$binary" | awk '/=>/ { print $1, $3 }')
[ $missing -eq 0 ] || fail "the runtime stage lacks libraries the binary needs"
echo "check_container: 1 passed, 0 failed"
