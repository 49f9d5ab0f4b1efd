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

# llama_cpp_sdist PYTHON VERSION: the llama-cpp-python source distribution VERSION (llama.cpp's sources,
# vocabulary test files and converter), downloaded once from PyPI with PYTHON's pip into
# LMSCORE_LLAMA_CPP_SDIST (default ~/.cache/lmscore-llama-cpp-sdist); sets `sdist` to the tarball.
# `--no-binary llama-cpp-python` rather than `:all:`: the latter also builds pip's build dependencies,
# cmake included, from source (more than 10 minutes). Nothing of it enters the repository.
llama_cpp_sdist() {
  local pip_python=$1 version=$2
  local dir=${LMSCORE_LLAMA_CPP_SDIST:-$HOME/.cache/lmscore-llama-cpp-sdist}
  sdist=$dir/llama_cpp_python-$version.tar.gz
  if [ ! -f "$sdist" ]; then
    say "pip download llama-cpp-python==$version (source distribution, 50-80 MB)"
    mkdir -p "$dir"
    "$pip_python" -m pip download -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$version" -d "$dir" >&2
  fi
}
