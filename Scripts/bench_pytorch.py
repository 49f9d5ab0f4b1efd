#!/usr/bin/env python3
"""PyTorch side of lmscore's benchmark, for a side-by-side comparison with `lmscore bench`.

Per shape (rows x tokens) it times the full scoring work lmscore does for a batch:
forward pass -> logits, log_softmax in float32, gather of the shifted targets
(ids[:, 1:]) -> per-token log-probabilities, and the mean loss. Random token ids (seed 0).
Each shape gets 1 warm-up call, then calls until --seconds have passed (at least 3);
the median is reported.

Columns: shape, tokens per call (rows*len), ms per call (median), tokens/s
(rows*len / median seconds), peak RSS MB (getrusage maxrss: the process peak so far,
so it never goes down from one row to the next).

Usage:
  python Scripts/bench_pytorch.py [--model DIR] [--threads 2] [--seconds 3]
                                  [--shapes 1x16,32x16,8x128,1x1024,4x512]
--model: any checkpoint transformers' AutoModelForCausalLM loads (GPT-2, Llama/SmolLM, Mistral,
Qwen2/2.5, Qwen3, GPT-NeoX/Pythia; e.g. one written by `lmscore make-checkpoint --preset
smollm2-135m`), run in float32 whatever its stored dtype. Without --model: GPT2Config() defaults
(124M GPT-2 shape), random init with seed 0.
"""

import argparse
import resource
import shlex
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging


def parse_shapes(text: str) -> list:
    shapes = []
    for item in text.split(","):
        rows, _, tokens = item.strip().lower().partition("x")
        shapes.append((int(rows), int(tokens)))
    return shapes


def load_model(model_dir):
    if model_dir:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        source = model_dir
    else:
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config())
        source = "GPT2Config() default, random init (seed 0)"
    return model.float().eval(), source


def score(model, ids):
    """Full scoring work: forward + log_softmax + gather of shifted targets + loss."""
    logits = model(ids, use_cache=False).logits
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    targets = ids[:, 1:]
    token_logprobs = logprobs[:, :-1].gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    loss = -token_logprobs.mean()
    return token_logprobs, float(loss)


def time_shape(model, rows, tokens, seconds):
    """Median seconds per call, after one warm-up, over >= 3 calls lasting >= `seconds`."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (rows, tokens), generator=gen)
    with torch.inference_mode():
        score(model, ids)  # warm-up
        times = []
        start = time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            score(model, ids)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def matmul_gflops(m, k, n, seconds):
    """torch.matmul of [m, k] x [k, n] FP32 alone: GFLOP/s of the median call (as `lmscore bench --product`)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(m, k, generator=gen) - 0.5
    b = torch.rand(k, n, generator=gen) - 0.5
    out = torch.empty(m, n)
    torch.matmul(a, b, out=out)
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return 2.0 * m * k * n / statistics.median(times) / 1e9


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="HF model directory (config.json + model.safetensors)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="time budget per shape")
    parser.add_argument("--shapes", default="1x16,32x16,8x128,1x1024,4x512",
                        help="comma-separated ROWSxTOKENS")
    parser.add_argument("--product", default="1024x768x3072",
                        help="MxKxN of a matmul timed alone first (empty: none)")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)

    model, source = load_model(args.model)
    shapes = parse_shapes(args.shapes)
    context = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    for rows, tokens in shapes:
        if not 2 <= tokens <= context:
            sys.exit(f"shape {rows}x{tokens}: tokens must be in 2...{context}")

    print(f"command: {shlex.join([sys.executable] + sys.argv)}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"threads {torch.get_num_threads()}")
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {source}; {model.config.model_type}, {params / 1e6:.1f}M parameters, fp32, "
          f"attention {model.config._attn_implementation}")
    print(f"per shape: 1 warm-up, then >= 3 calls and >= {args.seconds:g} s; median reported")
    if args.product:
        m, k, n = (int(x) for x in args.product.lower().split("x"))
        print(f"product {m}x{k}x{n} alone (torch.matmul, FP32): {matmul_gflops(m, k, n, args.seconds):.1f} GFLOP/s")
    print()
    header = f"{'shape':>8} {'tokens/call':>11} {'ms/call':>10} {'tokens/s':>10} {'peak RSS MB':>11} {'calls':>6}"
    print(header)
    print("-" * len(header))
    for rows, tokens in shapes:
        median, calls = time_shape(model, rows, tokens, args.seconds)
        n = rows * tokens
        print(f"{f'{rows}x{tokens}':>8} {n:>11} {median * 1e3:>10.2f} {n / median:>10.0f} "
              f"{peak_rss_mb():>11.0f} {calls:>6}", flush=True)


if __name__ == "__main__":
    main()
