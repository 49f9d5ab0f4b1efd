#!/usr/bin/env python3
"""lmscore's Q8_0 scores against llama.cpp's on the same GGUF files, and the bundled model's Q8_0 perplexity.

1. GGUF files made by llama.cpp's convert_hf_to_gguf.py (llama_cpp_convert.py): the bundled model
   (Models/lmscore-gpt2-small-en) in F32 and Q8_0, and the reference fixtures llama.cpp can load in Q8_0.
   llama.cpp's logits at every position come from the llama-cpp-python package of the same source
   distribution (ctypes over the libllama.so built by check_llama_cpp_q8.sh; `logits_all=True`, each row
   evaluated as one batch, rows cut to the model's context, the KV cache in F32 unless --kv-cache f16:
   llama.cpp's default F16 cache alone moves log-probs by ~1e-3, which is not the Q8_0 arithmetic being
   compared); lmscore's from `lmscore score --model FILE.gguf` (top_k 1), once with each `--numerics`
   (transformers, the default, and llama.cpp: its GELU table and Q8_0 product order). Per position (each next token of
   each row): |Δ logprob| of the row's next token (llama.cpp's log-softmax in float64) and whether the
   top-1 ids agree.
   Required, on the bundled model (16 held-out rows of 256 tokens): F32, |Δ logprob| <= 1e-2 at every
   position and the same top-1 on >= 99.9 % (the GGUF reading and this harness against llama.cpp itself);
   Q8_0, the same top-1 on >= 99 % of the positions. Issue 22's full Q8_0 criterion, |Δ logprob| <= 1e-2
   and the same top-1 on >= 99 % of the positions, is printed for both and required with --strict for
   --numerics llama.cpp: measured 2026-12-07 (Zen 4, avx512) it holds at 86 % of the positions with
   transformers' numerics (max 0.13, mean 5e-3: llama.cpp's GELU goes through an F16 table and its Q8_0
   products sum in another order, and each last-bit difference can move an 8-bit activation rounding, by
   the quantization noise itself) and at 99 % with llama.cpp's (docs/models.md measures each cause;
   Scripts/llama_cpp_numerics/ is the experiment). A closing table gives every figure. The fixtures' figures are printed, not required: their
   weights are random and large (N(0, 0.3)), so one activation rounded to the other 8-bit step (any
   difference upstream, however small, can move one) changes log-probs by up to 0.1 — in llama.cpp's Q8_0
   against its own F32 as much as between the two Q8_0 implementations — and llama.cpp rounds the
   activations of F16 matrices (the converter keeps llama-gqa's 172-wide ffn_down F16) and of its GELU
   (an F16 table) to F16.
2. The bundled model's F32 and Q8_0 files: `lmscore perplexity --tokens` on its held-out stream (the last
   5 % of each ../shared/corpus document, as Scripts/train_default_model.py cuts it), --stride 255 as in
   its model card. Required: the Q8_0 perplexity within 0.5 % of the F32 one.
Exits 1 when a requirement fails.

  python Scripts/check_llama_cpp_q8.py --lmscore BIN --llama-cpp SRC_DIR --reference ../shared/reference \
      --corpus ../shared/corpus --work DIR [--kv-cache f16] [--only FIXTURE ... | bundled]
"""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_cpp_convert import convert  # noqa: E402
from gguf_check_support import FIXTURES, arguments, fixture_source, gpt2_vocabulary  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "Models/lmscore-gpt2-small-en"
BUNDLED_ROWS = 16   # held-out rows of 256 tokens (its context) compared with llama.cpp position by position
# The fixtures (gguf_check_support.py) llama.cpp reads: Q8_0 needs rows of whole 32-value blocks (the
# converter keeps the others F16, llama-gqa's ffn_down of 172 columns for one), and llama.cpp needs a
# vocabulary in the file it can load (qwen3-qknorm-sharded has no tokenizer; llama.cpp's SentencePiece
# loader refuses the phi3-fused and gemma2-softcap-bf16 ones: `unordered_map::at`). Its GELU is the tanh
# form: GPT-NeoX's erf GELU (Pythia's) differs there.
Q8_FIXTURES = ["llama-gqa", "qwen2-bias-bf16", "gpt2vocab-f16", "neox-pythia-f16"]


def bundled_source(work):
    """The bundled model as its converter reads it: a linked copy in WORK whose config.json says n_ctx."""
    bundled = work / "bundled"
    bundled.mkdir(exist_ok=True)
    for f in BUNDLED.iterdir():
        if f.name != "config.json" and not (bundled / f.name).exists():
            os.symlink(f, bundled / f.name)
    config = json.loads((BUNDLED / "config.json").read_text())
    config["n_ctx"] = config["n_positions"]   # GPT-2's converter reads n_ctx
    (bundled / "config.json").write_text(json.dumps(config))
    return bundled


def fixture_rows(directory):
    """The token rows of a fixture's cases, cut to the model's context: past it lmscore slides windows,
    llama.cpp runs on past its training."""
    expected = json.loads((directory / "expected.json").read_text())
    config = json.loads((directory / "config.json").read_text())
    context = config.get("max_position_embeddings") or config["n_positions"]
    return [r[:context] for case in expected["cases"] if case.get("sequences") for r in case["sequences"] if len(r) > 1]


NUMERICS = ["transformers", "llama.cpp"]   # lmscore's --numerics, each compared with llama.cpp


def lmscore_rows(lmscore, model, rows, numerics):
    body = json.dumps({"sequences": rows, "top_k": 1})
    result = subprocess.run([lmscore, "score", "--model", str(model), "--numerics", numerics], input=body,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"check_llama_cpp_q8: lmscore score --model {model} failed: {result.stderr[-1000:]}")
    return json.loads(result.stdout)["results"]


def llama_cpp_logprobs(model, rows, threads, kv_cache):
    """[row][position] float64 log-softmax of llama.cpp's logits (its KV cache in `kv_cache`, f16 or f32)."""
    from llama_cpp import Llama
    n_ctx = max(32, max(len(r) for r in rows))
    kv_type = {"f32": 0, "f16": 1}[kv_cache]   # GGML_TYPE_F32, GGML_TYPE_F16
    llm = Llama(model_path=str(model), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True, n_threads=threads,
                type_k=kv_type, type_v=kv_type, verbose=False)
    out = []
    for ids in rows:
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[:len(ids)], dtype=np.float64)
        out.append(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
    del llm
    return out


def compare(ours, theirs, rows):
    """(|Δ logprob| list, top-1 agreements list) over every scored position."""
    deltas, agree = [], []
    for result, lp, ids in zip(ours, theirs, rows):
        for t in range(len(ids) - 1):
            deltas.append(abs(result["logprobs"][t + 1] - lp[t, ids[t + 1]]))
            agree.append(result["top"][t + 1][0][0] == int(np.argmax(lp[t])))
    return deltas, agree


def table_row(name, numerics, deltas, agree):
    """One line of the closing table (docs/models.md's)."""
    deltas, agree = np.array(deltas), np.array(agree)
    return (f"| {name} | `{numerics}` | {len(deltas):,} | {deltas.max():.2g} | {deltas.mean():.2g} | "
            f"{100 * np.mean(deltas <= 1e-2):.2f} % | {100 * np.mean(agree):.2f} % |")


def summary(deltas, agree):
    """The figures of one comparison, and whether it meets the criterion: |Δ logprob| <= 1e-2 and the same
    top-1 on >= 99 % of the positions."""
    deltas, agree = np.array(deltas), np.array(agree)
    both = np.mean((deltas <= 1e-2) & agree)
    text = (f"|Δ logprob| vs llama.cpp max {deltas.max():.2e}, mean {deltas.mean():.2e}, median {np.median(deltas):.2e}; "
            f"within 1e-2 at {100 * np.mean(deltas <= 1e-2):.2f} %, top-1 the same at {100 * np.mean(agree):.2f} %, "
            f"both at {100 * both:.2f} %")
    return text, both >= 0.99


def heldout_tokens(corpus, path):
    """The bundled model's held-out stream, as train_default_model.py cuts it, written as ids."""
    import train_default_model as train   # tiktoken: the venv of Scripts/setup_venv.sh
    encoding = train.gpt2_encoding(BUNDLED / "gpt2.tiktoken")
    _, heldout, _ = train.corpus_streams(corpus, encoding)
    path.write_text(" ".join(str(int(i)) for i in heldout))
    return len(heldout)


def perplexity(lmscore, model, tokens):
    result = subprocess.run([lmscore, "perplexity", "--model", str(model), "--tokens", str(tokens), "--stride", "255", "--json", "--quiet"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"check_llama_cpp_q8: lmscore perplexity --model {model} failed: {result.stderr[-1000:]}")
    return json.loads(result.stdout)


def main():
    ap = arguments(__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kv-cache", choices=["f32", "f16"], default="f32",
                    help="llama.cpp's KV cache type (its default f16 rounds k and v: ~1e-3 in log-prob on its own)")
    ap.add_argument("--strict", action="store_true", help="require issue 22's full Q8_0 criterion on the bundled model")
    ap.add_argument("--only", nargs="*", help="fixture names (default: all), 'bundled' for the perplexity check")
    args = ap.parse_args()
    work = Path(args.work)
    failures = 0

    table = []
    all_deltas, all_agree = {n: [] for n in NUMERICS}, {n: [] for n in NUMERICS}
    for fixture in FIXTURES:
        if fixture.name not in Q8_FIXTURES or (args.only and fixture.name not in args.only):
            continue
        directory, vocab = fixture_source(fixture, args.reference, args.llama_cpp, work)
        out = convert(args.llama_cpp, directory, work / f"{fixture.name}-q8_0.gguf", "q8_0", vocab)
        rows = fixture_rows(directory)
        theirs = llama_cpp_logprobs(out, rows, args.threads, args.kv_cache)
        for numerics in NUMERICS:
            deltas, agree = compare(lmscore_rows(args.lmscore, out, rows, numerics), theirs, rows)
            all_deltas[numerics] += deltas
            all_agree[numerics] += agree
            print(f"check_llama_cpp_q8: {fixture.name} Q8_0 ({out.stat().st_size} bytes), --numerics {numerics}, {len(rows)} rows, "
                  f"{len(deltas)} positions: {summary(deltas, agree)[0]}", flush=True)
    for numerics in NUMERICS:
        if all_deltas[numerics]:
            print(f"check_llama_cpp_q8: all fixtures, --numerics {numerics} (random weights: reported, not required), "
                  f"{len(all_deltas[numerics])} positions: {summary(all_deltas[numerics], all_agree[numerics])[0]}", flush=True)
            table.append(table_row("fixtures Q8_0", numerics, all_deltas[numerics], all_agree[numerics]))

    if not args.only or "bundled" in args.only:
        bundled = bundled_source(work)
        gpt2_vocab = gpt2_vocabulary(args.llama_cpp)
        tokens = work / "heldout.txt"
        count = heldout_tokens(args.corpus, tokens)
        figures = {}
        stream = [int(t) for t in tokens.read_text().split()]
        rows = [stream[i:i + 256] for i in range(0, 256 * BUNDLED_ROWS, 256)]
        scored = {}
        for outtype in ["f32", "q8_0"]:
            out = convert(args.llama_cpp, bundled, work / f"bundled-{outtype}.gguf", outtype, gpt2_vocab)
            theirs = llama_cpp_logprobs(out, rows, args.threads, args.kv_cache)
            start = time.monotonic()
            figures[outtype] = perplexity(args.lmscore, out, tokens)
            print(f"check_llama_cpp_q8: bundled model {outtype.upper()} GGUF ({out.stat().st_size} bytes): held-out perplexity "
                  f"{figures[outtype]['perplexity']:.4f} over {count} tokens ({time.monotonic() - start:.0f} s)", flush=True)
            for numerics in NUMERICS:
                ours = lmscore_rows(args.lmscore, out, rows, numerics)
                if numerics == "transformers":
                    scored[outtype] = (ours, theirs)
                deltas, agree = compare(ours, theirs, rows)
                text, strict_ok = summary(deltas, agree)
                table.append(table_row(f"bundled model {outtype.upper()}", numerics, deltas, agree))
                if outtype == "f32":
                    ok, required = max(deltas) <= 1e-2 and np.mean(agree) >= 0.999, "every |Δ| <= 1e-2, top-1 >= 99.9 %"
                elif numerics == "llama.cpp" and args.strict:
                    ok, required = strict_ok, "|Δ| <= 1e-2 and top-1 on >= 99 % of the positions (--strict)"
                else:
                    ok, required = np.mean(agree) >= 0.99, "top-1 >= 99 %; issue 22's |Δ| <= 1e-2 and top-1 on >= 99 %: " + \
                        ("met" if strict_ok else "NOT met") + (" (--strict requires it)" if numerics == "llama.cpp" else "")
                failures += 0 if ok else 1
                print(f"check_llama_cpp_q8: bundled model {outtype.upper()} GGUF, --numerics {numerics}, {len(rows)} held-out rows "
                      f"of 256, {len(deltas)} positions: {text} ({required}): {'ok' if ok else 'FAIL'}", flush=True)
        # How far each Q8_0 is from lmscore's F32 (exact FP32 arithmetic on the same weights).
        exact = scored["f32"][0]
        for who, q8 in [("lmscore", [[o["logprobs"][t + 1] for t in range(len(r) - 1)] for o, r in zip(scored["q8_0"][0], rows)]),
                        ("llama.cpp", [[lp[t, r[t + 1]] for t in range(len(r) - 1)] for lp, r in zip(scored["q8_0"][1], rows)])]:
            d = np.concatenate([np.abs(np.array(q) - np.array(e["logprobs"][1:])) for q, e in zip(q8, exact)])
            print(f"check_llama_cpp_q8: bundled model, {who} Q8_0 vs lmscore F32: |Δ logprob| max {d.max():.2e}, mean {d.mean():.2e}",
                  flush=True)
        ratio = figures["q8_0"]["perplexity"] / figures["f32"]["perplexity"]
        ok = abs(ratio - 1) <= 0.005
        failures += 0 if ok else 1
        print(f"check_llama_cpp_q8: Q8_0 / F32 perplexity {ratio:.6f} (within 0.5 %): {'ok' if ok else 'FAIL'}", flush=True)

    if table:
        print("| file | lmscore --numerics | positions | max \\|Δ logprob\\| | mean | within 1e-2 | top-1 the same |")
        print("|---|---|---:|---:|---:|---:|---:|")
        print("\n".join(table))
    print(f"check_llama_cpp_q8: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
