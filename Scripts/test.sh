#!/usr/bin/env bash
# Everything CI checks, in one command (README: "Run the tests"):
#  1. swift test                                 — unit, reference, CLI and live-HTTP tests
#     Scripts/check_avx512_emulated.sh           — the AVX-512 kernel path run with SIMDe standing in for its
#                                                  intrinsics: the AVX2 path's bits on every shape
#  2. Scripts/check_openapi.sh                   — real responses of running servers against openapi.yaml
#     Scripts/check_examples.sh                  — the marked examples of README.md and docs/api.md, re-run
#                                                  against a live server and the binary
#     Scripts/check_schemathesis.sh              — schemathesis: generated requests against openapi.yaml
#  3. Scripts/check_tokenizer.sh                 — `lmscore tokenize` against tiktoken (ids, decode, offsets)
#     Scripts/check_hf_tokenizers.sh             — tokenizer.json reading against llama.cpp's vocabulary
#                                                  tests and HF `tokenizers` (Llama 3, Qwen2, Llama 2,
#                                                  GPT-2, StarCoder vocabularies from PyPI)
#  4. Scripts/openai_compat/check_openai_client.sh — /v1/completions and /v1/models through the openai package
#  5. Scripts/check_deploy.sh                    — deploy/*.yaml against the Kubernetes schemas (kubernetes-validate)
#     Scripts/check_llama_cpp_q8.sh --if-built   — lmscore against llama.cpp itself on the same GGUF files (F32, Q8_0)
#                                                  and the bundled model's Q8_0 perplexity; ONLY when the llama.cpp
#                                                  build cache exists (~/.cache/lmscore-llama-cpp-build, made by
#                                                  running the script once, 12+ min), else skipped (~3 min when run)
#  6. Scripts/check_container.sh                 — the Dockerfile's build command builds a binary whose
#                                                  libraries the runtime image provides
#  7. Scripts/hardening/run.sh --ci              — overload, hostile clients, soak and SIGTERM against that
#                                                  release binary serving (short durations; --full by hand)
#  8. Scripts/fuzz.sh 45                         — libFuzzer + AddressSanitizer over the request decoders
#                                                  and the tokenizer for 45 s (longer by hand)
set -euo pipefail
cd "$(dirname "$0")/.."
passed=0
swift test
passed=$((passed + 1))
Scripts/check_avx512_emulated.sh
passed=$((passed + 1))
swift build --product lmscore
export LMSCORE_BIN=$PWD/.build/debug/lmscore
for check in Scripts/check_openapi.sh Scripts/check_examples.sh Scripts/check_schemathesis.sh Scripts/check_tokenizer.sh \
             Scripts/check_hf_tokenizers.sh Scripts/openai_compat/check_openai_client.sh Scripts/check_deploy.sh \
             "Scripts/check_llama_cpp_q8.sh --if-built"; do
  $check   # unquoted: "SCRIPT --flag" splits into the script and its flag
  passed=$((passed + 1))
done
Scripts/check_container.sh
passed=$((passed + 1))
LMSCORE_BIN=$PWD/.build/release/lmscore Scripts/hardening/run.sh --ci
passed=$((passed + 1))
unset LMSCORE_BIN
# Last: it rebuilds .build's Swift modules with -sanitize=fuzzer,address (reusing its compiled C code).
FUZZ_SCRATCH=.build Scripts/fuzz.sh 45
passed=$((passed + 1))
echo "test.sh: $passed passed, 0 failed"
