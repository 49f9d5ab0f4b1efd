# Sourced by the live checks: sets $bin to the lmscore binary under test, as an absolute path.
# LMSCORE_BIN when set (Scripts/test.sh builds once and sets it), otherwise the debug build, built here
# (a no-op when up to date). Progress and errors go to stderr, prefixed with the caller's name.
#   . Scripts/lmscore_bin.sh NAME
lmscore_bin_caller=$1
if [ -n "${LMSCORE_BIN:-}" ]; then
  bin=$LMSCORE_BIN
else
  echo "$lmscore_bin_caller: swift build --product lmscore (debug; a no-op when up to date)" >&2
  swift build --product lmscore >&2
  bin=$(pwd)/.build/debug/lmscore
fi
[ -x "$bin" ] || { echo "$lmscore_bin_caller: no lmscore binary at $bin" >&2; exit 1; }
bin=$(realpath "$bin")
