#!/usr/bin/env python3
"""GGUF files made by llama.cpp's own converter from the reference checkpoints, scored by lmscore.

For each fixture named below (../shared/reference, and lmscore's own Tests/Fixtures/reference for
families the shared ones lack) and each output type (F32, F16, and the fixture's own 16-bit type when it
is stored in one), this script
  1. runs llama.cpp's convert_hf_to_gguf.py (from the llama-cpp-python source distribution) on the
     checkpoint (llama_cpp_convert.py: the fixtures' synthetic tokenizers are named or replaced, nothing
     else about them changes);
  2. scores every case of the fixture's expected.json with `lmscore score --model FILE.gguf` (top_k 5) and
     with `lmscore score --model DIR` (the safetensors checkpoint), and requires
       - |Δ logprob| <= 2e-4 against HF transformers' float64 truth, the same top-5 ids and greedy flags;
       - the same bits as the safetensors checkpoint (F32 files, and 16-bit files of a checkpoint stored in
         that type: the converter writes the stored values unchanged). A file of another type than the
         checkpoint's is compared with a copy of the checkpoint whose matrices are stored in the file's
         type (F16: rounded as the converter rounds them), its float64 truth recomputed (`typed_copy`).
Where a GGUF file cannot carry a config value (Gemma 2/3's query_pre_attn_scalar, GPT-NeoX's activation,
Gemma 3's local/global pattern), llama.cpp reads the file with its own value for the architecture; the
comparison is then with a copy of the checkpoint whose config.json says that value (`edits`, printed),
its float64 truth recomputed with Scripts/make_reference.py's code.
Prints one line per file and exits 1 on any failure.

  python Scripts/check_gguf_models.py --lmscore BIN --llama-cpp DIR --reference ../shared/reference --work DIR
"""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_cpp_convert import convert  # noqa: E402
from gguf_check_support import FIXTURES, arguments, fixture_source, rescored  # noqa: E402


def typed_copy(directory, outtype, work):
    """DIR's checkpoint with the values a GGUF file of OUTTYPE holds: the matrices stored as OUTTYPE (F32:
    exactly; F16: rounded to nearest even from FP32, as the converter does; GPT-2's position table stays
    as it is, the converter keeps it F32), the vectors as stored, config.json's dtype OUTTYPE (Gemma
    rounds its embedding scale to the embedding's type, in lmscore as in transformers); truth recomputed.
    The file must give this checkpoint's bits."""
    import torch
    import make_reference
    from safetensors.torch import save_file
    dtype = {"f32": torch.float32, "f16": torch.float16}[outtype]
    out = Path(work) / f"{directory.name}-{outtype}"
    out.mkdir(exist_ok=True)
    tensors = make_reference.read_stored_tensors(directory)
    typed = {name: (t.to(torch.float32).to(dtype) if t.dim() == 2 and not name.endswith("wpe.weight") else t).contiguous()
             for name, t in tensors.items()}
    save_file(typed, out / "model.safetensors")
    config = json.loads((directory / "config.json").read_text())
    config["torch_dtype"] = config["dtype"] = {"f32": "float32", "f16": "float16"}[outtype]
    (out / "config.json").write_text(json.dumps(config))
    return rescored(out, directory / "expected.json")


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
    ap = arguments(__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="fixture names (default: all)")
    args = ap.parse_args()
    failures = 0
    for fixture in FIXTURES:
        if args.only and fixture.name not in args.only:
            continue
        directory, vocab = fixture_source(fixture, args.reference, args.llama_cpp, args.work)
        for outtype in ["f32", "f16"] + ([fixture.stored16] if fixture.stored16 not in (None, "f16") else []):
            # The checkpoint whose bits the file must give: the fixture's, or its copy stored as OUTTYPE.
            reference = directory if outtype == (fixture.stored16 or "f32") else typed_copy(directory, outtype, args.work)
            expected = json.loads((reference / "expected.json").read_text())
            safetensors = [score(args.lmscore, reference, case) for case in expected["cases"]]
            out = Path(args.work) / f"{fixture.name}-{outtype}.gguf"
            convert(args.llama_cpp, directory, out, outtype, vocab)
            worst, differing, same_bits = 0.0, 0, True
            for case, theirs in zip(expected["cases"], safetensors):
                results = score(args.lmscore, out, case)
                w, d = compare_with_truth(results, case)
                worst, differing = max(worst, w), differing + d
                same_bits &= [r["logprobs"] for r in results] == [r["logprobs"] for r in theirs]
            ok = worst <= 2e-4 and differing == 0 and same_bits
            failures += 0 if ok else 1
            edits = f" (config edits {json.dumps(fixture.edits)})" if fixture.edits else ""
            rounded = f" {outtype.upper()} copy's" if reference != directory else ""
            print(f"check_gguf_models: {fixture.name}{edits} → {outtype.upper()} GGUF ({out.stat().st_size} bytes): "
                  f"{len(expected['cases'])} cases, max |Δ logprob| {worst:.2e} vs{rounded} float64 truth, {differing} top-5/greedy "
                  f"differences, {'the same bits as' if same_bits else 'NOT the same bits as'} the{rounded} safetensors: "
                  f"{'ok' if ok else 'FAIL'}", flush=True)
    print(f"check_gguf_models: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
