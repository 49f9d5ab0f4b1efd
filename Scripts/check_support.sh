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

# llama_cpp_build_dir VERSION: sets `llama_build` to the cached llama.cpp build of the llama-cpp-python
# sdist VERSION, ~/.cache/lmscore-llama-cpp-build/VERSION-CPUKEY (LMSCORE_LLAMA_CPP_BUILD overrides the
# parent). llama.cpp is built with -DGGML_NATIVE=ON (-march=native: the kernels this CPU has, as a user's
# build would), so a build only fits the CPU it was made on: CPUKEY is the first 12 hex digits of the
# sha256 of the sorted CPU flags of /proc/cpuinfo, and a session on another CPU builds afresh beside it.
llama_cpp_build_dir() {
  local version=$1 cpukey
  cpukey=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2 | tr ' ' '\n' | sed '/^$/d' | sort | sha256sum | cut -c1-12)
  llama_build=${LMSCORE_LLAMA_CPP_BUILD:-$HOME/.cache/lmscore-llama-cpp-build}/$version-$cpukey
}

# llama_cpp_build PIP_PYTHON VERSION: builds llama.cpp from the sdist VERSION into `llama_build` (see
# llama_cpp_build_dir) unless a finished build is there: the sources under $llama_build/src, the
# binaries (llama-bench, llama-perplexity, libllama.so and the ggml libraries) in $llama_build/src/
# vendor/llama.cpp/build/bin, a `.complete` stamp last. Needs cmake and a C++ compiler; about 12-15 min
# on 2 cores at nice 19.
llama_cpp_build() {
  local pip_python=$1 version=$2
  llama_cpp_build_dir "$version"
  local src=$llama_build/src/llama_cpp_python-$version
  llama_bin=$src/vendor/llama.cpp/build/bin
  llama_sdist_root=$src
  [ -f "$llama_build/.complete" ] && return 0
  command -v cmake >/dev/null || { say "cmake is missing (Debian: apt-get install -y cmake)"; exit 1; }
  llama_cpp_sdist "$pip_python" "$version"
  say "building llama.cpp $version into $llama_build (once per CPU; 12+ min on 2 cores)"
  rm -rf "$llama_build"
  mkdir -p "$llama_build/src"
  tar -xzf "$sdist" -C "$llama_build/src"
  (cd "$src/vendor/llama.cpp" &&
    nice -n 19 cmake -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=ON >"$llama_build/cmake.log" 2>&1 &&
    nice -n 19 cmake --build build -j2 --target llama-bench llama-perplexity llama >>"$llama_build/cmake.log" 2>&1) ||
    { say "the llama.cpp build failed: see $llama_build/cmake.log"; exit 1; }
  touch "$llama_build/.complete"
}
