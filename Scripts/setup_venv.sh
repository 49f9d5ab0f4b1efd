#!/usr/bin/env bash
# Create (or reuse) the Python venv used by lmscore's helper scripts:
#   Scripts/make_reference.py  (regenerates Tests/Fixtures/reference/)
#   Scripts/bench_pytorch.py   (PyTorch side of the benchmark comparison)
#   Scripts/train_default_model.py, Scripts/model_card_sanity.py  (the default model; need tiktoken)
#   Scripts/peer_fastapi.py    (the HTTP peer of Scripts/load_bench.sh; fastapi + uvicorn)
#   Scripts/bench_ctranslate2.py (the CTranslate2 side of Scripts/compare_bench.sh)
# The venv lives OUTSIDE the repo: ${LMSCORE_VENV:-$HOME/.cache/lmscore-venv}.
# Idempotent: a venv that already has the pinned versions is left alone. Progress goes to
# stderr; the venv path is the only thing printed on stdout, so VENV=$(Scripts/setup_venv.sh).
#
# WARNING about torch: `pip install torch==2.13.0` from plain PyPI pulls the CUDA build and
# several GB of nvidia-* wheels. This machine has a CPU-only wheel in /opt/wheels and pip is
# configured with PIP_FIND_LINKS=/opt/wheels (also in pip.conf); torch 2.13.0+cpu from there
# satisfies ==2.13.0 and is preferred. Elsewhere, point PIP_FIND_LINKS at a directory holding
# the CPU wheel (only PyPI is reachable here, so no --index-url to download.pytorch.org).
set -euo pipefail

VENV="${LMSCORE_VENV:-$HOME/.cache/lmscore-venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
# transformers is pinned too: it writes transformers_version into the fixtures' config.json,
# and make_reference.py promises byte-identical output.
TRANSFORMERS_VERSION="5.24.0"
# tiktoken is pinned because train_default_model.py checks its r50k_base split pattern.
TIKTOKEN_VERSION="0.14.0"
# fastapi + uvicorn: the HTTP peer of Scripts/load_bench.sh (PEER=fastapi).
FASTAPI_VERSION="0.165.0"
UVICORN_VERSION="0.54.0"
# CTranslate2: the fastest CPU scorer a user could pick instead (Generator.score_batch); compare_bench.sh's peer.
CTRANSLATE2_VERSION="4.8.5"
PACKAGES=("torch==${TORCH_VERSION}" "transformers==${TRANSFORMERS_VERSION}" "tiktoken==${TIKTOKEN_VERSION}" safetensors numpy
          "fastapi==${FASTAPI_VERSION}" "uvicorn==${UVICORN_VERSION}" "ctranslate2==${CTRANSLATE2_VERSION}")

has_packages() {
    "$VENV/bin/python" - "$TORCH_VERSION" "$TRANSFORMERS_VERSION" "$TIKTOKEN_VERSION" "$FASTAPI_VERSION" "$UVICORN_VERSION" "$CTRANSLATE2_VERSION" 2>/dev/null <<'PY'
import sys
import ctranslate2, fastapi, numpy, safetensors, tiktoken, torch, transformers, uvicorn  # noqa: F401
ok = (torch.__version__.split("+")[0] == sys.argv[1] and transformers.__version__ == sys.argv[2]
      and tiktoken.__version__ == sys.argv[3] and fastapi.__version__ == sys.argv[4] and uvicorn.__version__ == sys.argv[5]
      and ctranslate2.__version__ == sys.argv[6])
sys.exit(0 if ok else 1)
PY
}

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating venv at $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi

if has_packages; then
    echo "venv already has torch ${TORCH_VERSION}, transformers ${TRANSFORMERS_VERSION}, tiktoken ${TIKTOKEN_VERSION}, fastapi ${FASTAPI_VERSION}, uvicorn ${UVICORN_VERSION}, ctranslate2 ${CTRANSLATE2_VERSION}, safetensors, numpy" >&2
else
    if [[ -z "${PIP_FIND_LINKS:-}" ]]; then
        echo "warning: PIP_FIND_LINKS is not set; plain PyPI torch brings CUDA wheels (GBs)" >&2
    fi
    "$VENV/bin/python" -m pip install --quiet "${PACKAGES[@]}" >&2
fi

"$VENV/bin/python" -c 'import tiktoken, torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "tiktoken", tiktoken.__version__)' >&2
echo "$VENV"
