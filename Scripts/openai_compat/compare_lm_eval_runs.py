#!/usr/bin/env python3
"""Compare lm-eval runs of the same tasks: lmscore's (local-completions, one per tokenized_requests /
tokenizer backend) against a reference run of the same model in transformers (`lm-eval --model hf`).

For every task, each run must report the reference's acc and acc_norm exactly (the same items right),
and for every logged request (matched by doc_id and its (context, continuation) arguments) the
log-likelihood must agree within --tol and is_greedy must be equal. Numbers are compared, not exit codes:
a server that answered every request with a wrong number fails here even when lm-eval itself succeeded.

  python Scripts/openai_compat/compare_lm_eval_runs.py --tasks lmscore_mc,lmscore_mc_noctx \
      --reference hf=OUT/hf --run tokenized=OUT/lmscore-tokenized --run strings=OUT/lmscore-strings

Prints one table row per task and run and a last line `compare_lm_eval_runs: OK|FAIL …`; exits 1 on any
difference, 2 on a missing file.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

sys.dont_write_bytecode = True


def newest(pattern: str, name_re: str | None = None) -> str | None:
    files = glob.glob(pattern, recursive=True)
    if name_re is not None:  # samples_lmscore_mc_*.jsonl would also match samples_lmscore_mc_noctx_*.jsonl
        files = [f for f in files if re.fullmatch(name_re, os.path.basename(f))]
    return max(files, key=os.path.getmtime) if files else None


class Run:
    def __init__(self, spec: str):
        if "=" not in spec:
            raise SystemExit(f"compare_lm_eval_runs: expected NAME=DIR, got {spec!r}")
        self.name, self.path = spec.split("=", 1)
        results = newest(os.path.join(self.path, "**", "results_*.json"))
        if results is None:
            print(f"compare_lm_eval_runs: FAIL no results_*.json under {self.path} ({self.name})")
            sys.exit(2)
        self.results = json.load(open(results))["results"]

    def requests(self, task: str) -> dict[tuple, tuple[float, bool]] | None:
        """(doc_id, context, continuation) -> (loglikelihood, is_greedy) of every logged request."""
        samples = newest(os.path.join(self.path, "**", f"samples_{task}_*.jsonl"),
                         rf"samples_{re.escape(task)}_\d{{4}}-\d\d-\d\dT.*\.jsonl")
        if samples is None:
            return None
        out = {}
        for line in open(samples):
            if not line.strip():
                continue
            s = json.loads(line)
            for i, resp in enumerate(s["resps"]):
                a = s["arguments"][f"gen_args_{i}"]
                ll, greedy = resp[0]
                out[(s["doc_id"], a["arg_0"], a["arg_1"])] = (float(ll), str(greedy) == "True")
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--reference", required=True, help="NAME=DIR: the transformers run (lm-eval --model hf)")
    ap.add_argument("--run", action="append", required=True, help="NAME=DIR: an lmscore run (repeatable)")
    ap.add_argument("--tol", type=float, default=2e-4, help="largest |loglikelihood difference| per request")
    args = ap.parse_args()

    reference = Run(args.reference)
    runs = [Run(spec) for spec in args.run]
    problems: list[str] = []
    rows: list[str] = []
    max_dll, compared = 0.0, 0
    for task in [t for t in args.tasks.split(",") if t]:
        ref_metrics = reference.results.get(task, {})
        ref_requests = reference.requests(task)
        if ref_requests is None or "acc,none" not in ref_metrics:
            problems.append(f"{task}: the reference {reference.name} has no results or samples for it")
            continue
        rows.append(f"{task:<18} {reference.name:<12} acc {ref_metrics['acc,none']:.4f} "
                    f"acc_norm {ref_metrics['acc_norm,none']:.4f}")
        for run in runs:
            metrics = run.results.get(task, {})
            requests = run.requests(task)
            if requests is None or "acc,none" not in metrics:
                problems.append(f"{task}: {run.name} has no results or samples for it")
                continue
            rows.append(f"{task:<18} {run.name:<12} acc {metrics['acc,none']:.4f} "
                        f"acc_norm {metrics['acc_norm,none']:.4f}")
            for name in ("acc,none", "acc_norm,none"):
                if metrics[name] != ref_metrics[name]:
                    problems.append(f"{task}: {run.name} {name} {metrics[name]} != {reference.name} {ref_metrics[name]}")
            if set(requests) != set(ref_requests):
                problems.append(f"{task}: {run.name} logged {len(requests)} requests, {reference.name} "
                                f"{len(ref_requests)}; {len(set(requests) ^ set(ref_requests))} differ")
            for key in sorted(set(requests) & set(ref_requests)):
                (ll, greedy), (ref_ll, ref_greedy) = requests[key], ref_requests[key]
                d = abs(ll - ref_ll)
                max_dll = max(max_dll, d)
                compared += 1
                if not d <= args.tol:
                    problems.append(f"{task} doc {key[0]} {key[2]!r}: {run.name} {ll!r} vs {reference.name} "
                                    f"{ref_ll!r} (|d| {d:.3g})")
                if greedy != ref_greedy:
                    problems.append(f"{task} doc {key[0]} {key[2]!r}: {run.name} is_greedy {greedy} vs "
                                    f"{reference.name} {ref_greedy}")
    for row in rows:
        print("  " + row)
    for p in problems[:40]:
        print("  " + p)
    status = "OK" if not problems and compared else "FAIL"
    print(f"compare_lm_eval_runs: {status} {len(runs)} run(s) against {reference.name}: {compared} requests, "
          f"max |dLL| {max_dll:.2e} (tol {args.tol:g}), acc and acc_norm compared per task; {len(problems)} problems")
    return 0 if status == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
