#!/usr/bin/env python3
"""Which of llama.cpp's numerics make lmscore's Q8_0 scores differ from llama.cpp's on the same GGUF file.

An experiment, not a check: toggles.patch (beside this file) adds temporary switches to lmscore's C kernels,
read once from the environment variable LMK_EXP (a bit set), each replacing one of lmscore's operations by
llama.cpp 0.3.36's CPU arithmetic (ggml-cpu, as built -march=native on an AVX-512 CPU):
    1  GELU (tanh form) through ggml's F16 table: x ≤ −10 → 0, x ≥ 10 → x, else table[F16(x)], the table
       F16(0.5f·x·(1 + tanhf(√(2/π)·x·fmaf(0.044715f·x, x, 1)))) (gcc contracted that inner FMA: with it
       all 65,536 entries equal libggml-cpu.so's ggml_table_gelu_f16, without it one differs, x = −1.999)
    2  layer norm as ggml_compute_forward_norm_f32: mean = (float)(Σ in double) / n, variance Σ in double of
       16-lane tree sums of (x − mean)², scale = 1 / sqrtf(var + ε), then · gain, + bias
    4  attention softmax as ggml_vec_soft_max_f32: ggml_v_expf (AVX-512 form), 16-lane tree sums in double,
       · (float)(1 / Σ)
    8  Q8_0 products in the order of llamafile's tinyBLAS_Q0_AVX (what llama.cpp's mul_mat runs for Q8_0 on
       x86): per output 8 lanes, lane L = Σ of 4 int8 products (bytes 4L … 4L+3 of each block), accumulated
       fmaf(d_a · d_w, lane, acc) over the blocks, then (l0+l4 + l2+l6) + (l1+l5 + l3+l7); replaces the
       avx512 path's kernel (scalar C: slow, and only on an AVX-512 CPU)
   16  GELU (erf form, GPT-NeoX/Pythia's `gelu`) through the same table: llama.cpp has only the tanh one
The rows are check_llama_cpp_q8.py's: `bundled` (16 held-out rows of 256 tokens, Q8_0; `bundled-f32`: the
F32 file) or a fixture name. llama.cpp's log-probs (target token and top-1 per position) are computed once
and cached in --work; then `lmscore score` runs once per LMK_EXP value given.

    git apply Scripts/llama_cpp_numerics/toggles.patch && nice -n 19 swift build -c release --product lmscore
    PYTHONPATH=$SDIST LLAMA_CPP_LIB_PATH=$SDIST/vendor/llama.cpp/build/bin $VENV/bin/python \
        Scripts/llama_cpp_numerics/experiment.py --lmscore .build/release/lmscore --llama-cpp $SDIST/vendor/llama.cpp \
        --work /tmp/q8-numerics bundled 0 1 9 11
    git apply -R Scripts/llama_cpp_numerics/toggles.patch
(SDIST: the llama-cpp-python source tree of check_llama_cpp_q8.sh's build cache; VENV: Scripts/setup_venv.sh's.)
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import check_llama_cpp_q8 as q8  # noqa: E402
from gguf_check_support import FIXTURES, fixture_source, gpt2_vocabulary  # noqa: E402



def rows_and_file(what, args, work):
    """(rows of token ids, the GGUF file) of `bundled`, `bundled-f32` or a fixture, converted once."""
    if what.startswith("bundled"):
        outtype = "f32" if what == "bundled-f32" else "q8_0"
        directory = q8.bundled_source(work)
        out = work / f"bundled-{outtype}.gguf"
        if not out.exists():
            q8.convert(args.llama_cpp, directory, out, outtype, gpt2_vocabulary(args.llama_cpp))
        tokens = work / "heldout.txt"
        if not tokens.exists():
            q8.heldout_tokens(args.corpus, tokens)
        stream = [int(t) for t in tokens.read_text().split()]
        return [stream[i:i + 256] for i in range(0, 256 * q8.BUNDLED_ROWS, 256)], out
    fixture = next(f for f in FIXTURES if f.name == what)
    directory, vocab = fixture_source(fixture, Path(args.reference), args.llama_cpp, work)
    out = work / f"{what}-q8_0.gguf"
    if not out.exists():
        q8.convert(args.llama_cpp, directory, out, "q8_0", vocab)
    return q8.fixture_rows(directory), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lmscore", required=True, help="a build with toggles.patch applied")
    ap.add_argument("--llama-cpp", required=True, help="vendor/llama.cpp of the sdist")
    ap.add_argument("--reference", default=str(q8.REPO.parent / "shared/reference"))
    ap.add_argument("--corpus", default=str(q8.REPO.parent / "shared/corpus"))
    ap.add_argument("--work", required=True, help="cache of converted files and llama.cpp's log-probs")
    ap.add_argument("what", help="bundled, bundled-f32 or a fixture name")
    ap.add_argument("settings", nargs="+", help="LMK_EXP values (bit sets, see above)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows, out = rows_and_file(args.what, args, work)
    cache = work / f"{args.what}-llama-cpp.json"
    if not cache.exists():
        full = q8.llama_cpp_logprobs(out, rows, 2, "f32")
        cache.write_text(json.dumps([[[float(lp[t, r[t + 1]]), int(np.argmax(lp[t]))] for t in range(len(r) - 1)]
                                     for lp, r in zip(full, rows)]))
    theirs = json.loads(cache.read_text())
    for setting in args.settings:
        result = subprocess.run([args.lmscore, "score", "--model", str(out)], input=json.dumps({"sequences": rows, "top_k": 1}),
                                capture_output=True, text=True, env=dict(os.environ, LMK_EXP=setting))
        if result.returncode != 0:
            raise SystemExit(f"lmscore score failed: {result.stderr[-1000:]}")
        deltas, agree = [], []
        for ours, their_row, ids in zip(json.loads(result.stdout)["results"], theirs, rows):
            for t in range(len(ids) - 1):
                deltas.append(abs(ours["logprobs"][t + 1] - their_row[t][0]))
                agree.append(ours["top"][t + 1][0][0] == their_row[t][1])
        print(f"{args.what} LMK_EXP={setting}: {len(deltas)} positions: {q8.summary(deltas, agree)[0]}", flush=True)


if __name__ == "__main__":
    main()
