# Shared by the live checks (Scripts/check_tokenizer.sh, Scripts/check_hf_tokenizers.sh); sourced, not
# run. Each caller defines `say` (its own name in front of a message) first.

# Sets `bin` to the lmscore binary: LMSCORE_BIN, or a debug build (the tokenizer library is optimized
# even there) in LMSCORE_SCRATCH_PATH (default .build).
lmscore_binary() {
  if [ -n "${LMSCORE_BIN:-}" ]; then
    bin=$LMSCORE_BIN
  else
    local scratch=${LMSCORE_SCRATCH_PATH:-.build}
    say "swift build --scratch-path $scratch --product lmscore (debug; a no-op when up to date)"
    swift build --scratch-path "$scratch" --product lmscore >&2
    bin=$(swift build --scratch-path "$scratch" --show-bin-path)/lmscore
  fi
  [ -x "$bin" ] || { say "no lmscore binary at $bin"; exit 1; }
}

# python_venv VENV REQUIREMENTS: makes (or reuses, when its requirements are the same) a venv outside
# the repository with REQUIREMENTS from PyPI, and sets `python` to its interpreter.
python_venv() {
  local venv=$1 requirements=$2
  local stamp="$venv/.lmscore-requirements"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
    say "creating venv $venv ($requirements)"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2 || { say "python3 cannot create venvs (Debian: apt-get install python3-venv)"; exit 1; }
    # shellcheck disable=SC2086  # requirements are words
    "$venv/bin/python" -m pip install -q --disable-pip-version-check $requirements >&2
    printf '%s' "$requirements" >"$stamp"
  fi
  python=$venv/bin/python
}
