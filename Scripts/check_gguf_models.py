#!/usr/bin/env python3
"""GGUF files made by llama.cpp's own converter from the reference checkpoints, scored by lmscore.

For each fixture of ../shared/reference named below and each output type (F32, and the fixture's own
16-bit type when it is stored in one), this script
  1. runs llama.cpp's convert_hf_to_gguf.py (from the llama-cpp-python source distribution) on the
     checkpoint. The fixtures' tokenizers are small synthetic ones whose pre-tokenizer the converter
     does not recognize by hash; the converter is told which one it is (`tokenizer.ggml.pre`), nothing
     else about it changes;
  2. scores every case of the fixture's expected.json with `lmscore score --model FILE.gguf` (top_k 5) and
     with `lmscore score --model DIR` (the safetensors checkpoint), and requires
       - |Δ logprob| <= 2e-4 against HF transformers' float64 truth, the same top-5 ids and greedy flags;
       - the same bits as the safetensors checkpoint (F32 files, and 16-bit files of a checkpoint stored in
         that type: the converter writes the stored values unchanged).
Prints one line per file and exits 1 on any failure.

  python Scripts/check_gguf_models.py --lmscore BIN --llama-cpp DIR --reference ../shared/reference --work DIR
"""
import argparse
import json
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

# fixture → (the pre-tokenizer its tokenizer.json uses, the 16-bit type it is stored in, if any)
FIXTURES = {
    "llama-gqa": (None, None),            # SentencePiece-style: no pre-tokenizer hash involved
    "qwen2-bias-bf16": ("qwen2", "bf16"),
    "qwen3-qknorm-sharded": ("qwen2", None),
}


def convert(llama_cpp, fixture_dir, out, outtype, pre):
    """convert_hf_to_gguf.py in a child process, with get_vocab_base_pre answering `pre` when set."""
    code = (
        "import sys, runpy\n"
        f"sys.path[:0] = [{str(Path(llama_cpp) / 'gguf-py')!r}, {str(llama_cpp)!r}]\n"
        f"sys.argv = ['convert_hf_to_gguf.py', {str(fixture_dir)!r}, '--outtype', {outtype!r}, '--outfile', {str(out)!r}]\n"
        f"pre = {pre!r}\n"
        "if pre is not None:\n"
        "    import conversion.base\n"   # where llama.cpp keeps TextModel
        "    conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre\n"
        f"module = runpy.run_path({str(Path(llama_cpp) / 'convert_hf_to_gguf.py')!r}, run_name='lmscore_check')\n"
        "module['main']()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"check_gguf_models: converting {fixture_dir} to {outtype} failed:\n{result.stderr[-2000:]}")


def score(lmscore, model, case):
    body = {"top_k": 5}
    if case.get("sequences") is not None:
        body["sequences"] = case["sequences"]
    else:
        body["inputs"], body["targets"] = case["inputs"], case["targets"]
    if case.get("window"):
        body["window"] = case["window"]
    result = subprocess.run([lmscore, "score", "--model", str(model)], input=json.dumps(body), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"check_gguf_models: lmscore score --model {model} failed: {result.stderr[-1000:]}")
    return json.loads(result.stdout)["results"]


def compare_with_truth(results, case):
    """(max |Δ logprob|, positions whose top-5 ids or greedy flag differ) against expected.json."""
    worst, differing = 0.0, 0
    for result, truth in zip(results, case["rows"]):
        ours = result["logprobs"][1:] if case.get("sequences") is not None else result["logprobs"]
        tops = result["top"][1:] if case.get("sequences") is not None else result["top"]
        greedy = result["greedy"][1:] if case.get("sequences") is not None else result["greedy"]
        for i, expected in enumerate(truth["target_logprobs"]):
            if expected is None:
                continue
            worst = max(worst, abs(ours[i] - expected))
            if truth.get("top") and truth["top"][i] is not None:
                if [t[0] for t in tops[i]] != [int(t[0]) for t in truth["top"][i]]:
                    differing += 1
            if truth.get("greedy") and truth["greedy"][i] is not None and greedy[i] != truth["greedy"][i]:
                differing += 1
    return worst, differing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lmscore", required=True)
    ap.add_argument("--llama-cpp", required=True, help="llama.cpp's folder (convert_hf_to_gguf.py, conversion/, gguf-py/)")
    ap.add_argument("--reference", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    failures = 0
    for fixture, (pre, stored16) in FIXTURES.items():
        directory = Path(args.reference) / fixture
        expected = json.loads((directory / "expected.json").read_text())
        safetensors = [score(args.lmscore, directory, case) for case in expected["cases"]]
        for outtype in ["f32"] + ([stored16] if stored16 else []):
            out = Path(args.work) / f"{fixture}-{outtype}.gguf"
            convert(args.llama_cpp, directory, out, outtype, pre)
            worst, differing, same_bits = 0.0, 0, True
            for case, reference in zip(expected["cases"], safetensors):
                results = score(args.lmscore, out, case)
                w, d = compare_with_truth(results, case)
                worst, differing = max(worst, w), differing + d
                same_bits &= [r["logprobs"] for r in results] == [r["logprobs"] for r in reference]
            ok = worst <= 2e-4 and differing == 0 and same_bits
            failures += 0 if ok else 1
            print(f"check_gguf_models: {fixture} → {outtype.upper()} GGUF ({out.stat().st_size} bytes): "
                  f"{len(expected['cases'])} cases, max |Δ logprob| {worst:.2e} vs float64, {differing} top-5/greedy "
                  f"differences, {'the same bits as' if same_bits else 'NOT the same bits as'} the safetensors: "
                  f"{'ok' if ok else 'FAIL'}", flush=True)
    print(f"check_gguf_models: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
