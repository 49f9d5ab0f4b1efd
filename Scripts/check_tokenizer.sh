#!/usr/bin/env bash
# Compares `lmscore tokenize` with tiktoken (Scripts/check_tokenizer.py does the comparing).
#
#   Scripts/check_tokenizer.sh [CHECKER OPTIONS]     e.g. --seed 7 (see Scripts/check_tokenizer.py --help)
#
# 1. builds lmscore (debug; the tokenizer library is optimized even there) unless LMSCORE_BIN names a
#    binary; LMSCORE_SCRATCH_PATH picks the build directory (default .build);
# 2. uses LMSCORE_TOKENIZER_PYTHON if set (any python with tiktoken 0.14), else makes or reuses a venv
#    outside the repository (LMSCORE_TOKENIZER_VENV, default ~/.cache/lmscore-tokenizer-venv) with
#    tiktoken pinned, from PyPI;
# 3. runs the checker: corpus from ../shared/corpus beside the repository (LMSCORE_SHARED_CORPUS=DIR to
#    override; skipped with a notice when absent) plus generated texts, every code point, id lists.
#    tiktoken is built offline from Models/lmscore-gpt2-small-en/gpt2.tiktoken: nothing is downloaded
#    but the venv.
# Ends with `check_tokenizer: N texts, M tokens, K id lists, X mismatches`; exit status 0 only when X is 0.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)
say() { echo "check_tokenizer.sh: $*" >&2; }

source Scripts/check_support.sh
lmscore_binary

# ---- python with tiktoken
if [ -n "${LMSCORE_TOKENIZER_PYTHON:-}" ]; then
  python=$LMSCORE_TOKENIZER_PYTHON
else
  python_venv "${LMSCORE_TOKENIZER_VENV:-$HOME/.cache/lmscore-tokenizer-venv}" "tiktoken==0.14.0"
fi
"$python" -c 'import tiktoken' 2>/dev/null || { say "$python has no tiktoken"; exit 1; }

set +e
"$python" "$repo/Scripts/check_tokenizer.py" --lmscore "$bin" "$@"
status=$?
set -e
say "$(( $(date +%s) - started )) s"
exit $status
