#!/usr/bin/env python3
"""Re-score lm-eval's logged multiple-choice requests with lmscore's own POST /score and compare.

Reads the samples lm-eval wrote with --log_samples (resps = [[loglikelihood, is_greedy]] per choice),
tokenizes every (context, continuation) pair exactly as lm-eval 0.4.13's TemplateLM.loglikelihood /
_encode_pair / TemplateAPI.batch_loglikelihood_requests do (GPT-2 BPE built offline with tiktoken from
the model's ranks file), sends the token ids to POST /score as {"sequences": [context + continuation]}
(results[k].logprobs[i] = log p(token i | tokens < i), logprobs[0] = null; greedy[i] = token i was the
argmax), sums the continuation positions and checks, per request:
  |lm-eval loglikelihood - /score sum| <= --tol (2e-4) and identical is_greedy,
and per task that the acc / acc_norm lm-eval reports equal the ones recomputed from the /score sums.
Prints one summary line; exits 1 on any mismatch, 2 on a usage/input problem.

  python Scripts/openai_compat/check_lm_eval.py --base-url http://127.0.0.1:8080 \
      --output-path OUT --tasks lmscore_mc,lmscore_mc_noctx --max-length 256
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the repository (it has no ignore rule for it)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt2_tokenizer import DEFAULT_RANKS, EOT_ID, tiktoken_gpt2  # noqa: E402


def post_json(url: str, obj, timeout=120):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"check_lm_eval: POST {url} -> HTTP {e.code}: {e.read()[:500]!r}")


class LmEvalTokenization:
    """lm_eval/api/model.py TemplateLM.loglikelihood + _encode_pair (causal), and
    lm_eval/models/api_models.py TemplateAPI.batch_loglikelihood_requests (left truncation)."""

    def __init__(self, enc, prefix_token_id: int, max_length: int):
        self.enc = enc
        self.prefix_token_id = prefix_token_id
        self.max_length = max_length - 1  # TemplateAPI.__init__: self.max_length = max_length - 1

    def tok_encode(self, s: str) -> list[int]:
        # HF tokenizer(s, add_special_tokens=False): "<|endoftext|>" in text is the special token
        return self.enc.encode(s, allowed_special="all")

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        if context == "":
            cont = self.tok_encode(continuation)
            if self.prefix_token_id != cont[0]:
                return [self.prefix_token_id], cont
            return cont[:1], cont[1:]
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.tok_encode(context + continuation)
        ctx = self.tok_encode(context)
        return ctx, whole[len(ctx):]

    def request(self, context: str, continuation: str) -> tuple[list[int], int]:
        """(token ids sent to the server, ctxlen) exactly as lm-eval builds them."""
        ctx, cont = self.encode_pair(context, continuation)
        inp = (ctx + cont)[-self.max_length:]
        ctxlen = len(ctx) - max(0, len(ctx) + len(cont) - self.max_length)
        return inp, ctxlen


def parse_bool(x) -> bool:
    if isinstance(x, bool):
        return x
    if x in ("True", "true"):
        return True
    if x in ("False", "false"):
        return False
    raise ValueError(f"not a boolean: {x!r}")


def newest(pattern: str, name_re: str | None = None) -> str | None:
    files = glob.glob(pattern, recursive=True)
    if name_re is not None:  # samples_lmscore_mc_*.jsonl would also match samples_lmscore_mc_noctx_*.jsonl
        files = [f for f in files if re.fullmatch(name_re, os.path.basename(f))]
    return max(files, key=os.path.getmtime) if files else None


def argmax(xs) -> int:
    best = 0
    for i, x in enumerate(xs):  # first maximum wins, as numpy.argmax
        if x > xs[best]:
            best = i
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", default=os.environ.get("LMSCORE_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--output-path", required=True, help="the --output_path given to lm-eval")
    ap.add_argument("--tasks", default="lmscore_mc")
    ap.add_argument("--max-length", type=int, default=2048, help="the max_length model_arg given to lm-eval")
    ap.add_argument("--prefix-token-id", type=int, default=EOT_ID,
                    help="lm-eval's prefix_token_id (HF tokenizer's bos_token_id, here <|endoftext|>)")
    ap.add_argument("--ranks", default=str(DEFAULT_RANKS))
    ap.add_argument("--tol", type=float, default=2e-4)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    base = args.base_url.rstrip("/")
    tok = LmEvalTokenization(tiktoken_gpt2(args.ranks), args.prefix_token_id, args.max_length)
    results_file = newest(os.path.join(args.output_path, "**", "results_*.json"))
    if results_file is None:
        print(f"check_lm_eval: FAIL no results_*.json under {args.output_path}")
        return 2
    reported = json.load(open(results_file))["results"]

    n_req = n_docs = 0
    max_dll = 0.0
    problems: list[str] = []
    summaries = []
    for task in [t for t in args.tasks.split(",") if t]:
        samples_file = newest(os.path.join(args.output_path, "**", f"samples_{task}_*.jsonl"),
                              rf"samples_{re.escape(task)}_\d{{4}}-\d\d-\d\dT.*\.jsonl")
        if samples_file is None:
            problems.append(f"{task}: no samples_{task}_*.jsonl (was --log_samples given?)")
            continue
        samples = [json.loads(line) for line in open(samples_file) if line.strip()]
        acc_sum = accn_sum = 0.0
        for s in samples:
            doc = s["doc"]
            choices = doc["choices"]
            gold = int(doc["label"])
            args_list = [s["arguments"][f"gen_args_{i}"] for i in range(len(s["arguments"]))]
            if len(args_list) != len(choices) or len(s["resps"]) != len(choices):
                problems.append(f"{task} doc {s['doc_id']}: {len(args_list)} requests / {len(s['resps'])} "
                                f"responses for {len(choices)} choices")
                continue
            seqs, ctxlens = [], []
            for a in args_list:
                inp, ctxlen = tok.request(a["arg_0"], a["arg_1"])
                if ctxlen <= 0 or ctxlen >= len(inp):
                    problems.append(f"{task} doc {s['doc_id']}: degenerate request ctxlen={ctxlen} len={len(inp)}")
                seqs.append(inp)
                ctxlens.append(ctxlen)
            out = post_json(base + "/score", {"sequences": seqs})
            rows = out.get("results")
            if not isinstance(rows, list) or len(rows) != len(seqs):
                problems.append(f"{task} doc {s['doc_id']}: /score returned {out!r:.300}")
                continue
            ours = []
            for i, (row, inp, ctxlen) in enumerate(zip(rows, seqs, ctxlens)):
                lps, greedy = row["logprobs"], row["greedy"]
                if len(lps) != len(inp) or lps[0] is not None:
                    problems.append(f"{task} doc {s['doc_id']} choice {i}: /score logprobs has {len(lps)} "
                                    f"entries for {len(inp)} tokens (first {lps[0]!r})")
                    continue
                ll = math.fsum(lps[ctxlen:])
                g = all(greedy[ctxlen:])
                ours.append(ll)
                resp = s["resps"][i][0]
                their_ll, their_g = float(resp[0]), parse_bool(resp[1])
                d = abs(their_ll - ll)
                max_dll = max(max_dll, d)
                n_req += 1
                if not d <= args.tol:
                    problems.append(f"{task} doc {s['doc_id']} choice {i} ({a_repr(args_list[i])}): lm-eval "
                                    f"loglikelihood {their_ll!r} vs /score {ll!r} (|d|={d:.3g}; "
                                    f"context {ctxlen} + continuation {len(inp) - ctxlen} tokens)")
                if their_g != g:
                    problems.append(f"{task} doc {s['doc_id']} choice {i}: lm-eval is_greedy {their_g} vs "
                                    f"/score greedy {greedy[ctxlen:]}")
                if args.verbose:
                    print(f"{task} doc {s['doc_id']} choice {i}: ids {inp} ctxlen {ctxlen} lm-eval "
                          f"{their_ll:.6f}/{their_g} /score {ll:.6f}/{g}")
            if len(ours) != len(choices):
                continue
            n_docs += 1
            acc = 1.0 if argmax(ours) == gold else 0.0
            accn = 1.0 if argmax([ll / len(c) for ll, c in zip(ours, choices)]) == gold else 0.0
            acc_sum += acc
            accn_sum += accn
            for name, mine in (("acc", acc), ("acc_norm", accn)):
                if name in s and float(s[name]) != mine:
                    lm = [float(r[0][0]) for r in s["resps"]]
                    problems.append(f"{task} doc {s['doc_id']}: lm-eval {name} {s[name]} but /score sums give "
                                    f"{mine} (lm-eval lls {lm}, /score {ours}; a near-tie within --tol?)")
        if samples:
            acc_m, accn_m = acc_sum / len(samples), accn_sum / len(samples)
            rep = reported.get(task, {})
            for name, mine in (("acc,none", acc_m), ("acc_norm,none", accn_m)):
                if name not in rep:
                    problems.append(f"{task}: results file has no {name!r}")
                elif abs(float(rep[name]) - mine) > 1e-12:
                    problems.append(f"{task}: lm-eval reports {name} {rep[name]} but /score sums give {mine}")
            summaries.append(f"{task} acc {acc_m:.4f} acc_norm {accn_m:.4f} ({len(samples)} docs)")

    status = "OK" if not problems and n_req else "FAIL"
    for p in problems[:40]:
        print("  " + p)
    if len(problems) > 40:
        print(f"  ... and {len(problems) - 40} more")
    print(f"check_lm_eval: {status} {n_req} requests in {n_docs} docs re-scored with {base}/score; "
          f"max |dLL| {max_dll:.2e} (tol {args.tol:g}); {'; '.join(summaries) or 'no tasks'}; "
          f"{len(problems)} problems")
    return 0 if status == "OK" else 1


def a_repr(a) -> str:
    return f"{a['arg_0'][-30:]!r} + {a['arg_1']!r}"


if __name__ == "__main__":
    sys.exit(main())
