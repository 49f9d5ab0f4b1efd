#!/usr/bin/env python3
"""CTranslate2 side of lmscore's benchmark: the same checkpoint, the same shapes, the same scoring work.

CTranslate2 (`pip install ctranslate2`) scores with `Generator.score_batch`: per-token log-probabilities of
each sequence (token t+1 from tokens 0..t, a log-softmax over the whole vocabulary) — the work
`lmscore bench` times. The checkpoint is converted once with CTranslate2's Transformers converter
(`--quantization float32` by default, `int8_float32` to compare 8-bit) into a cache folder outside the
repository. A random checkpoint has no tokenizer, and the converter needs a vocabulary: a word-level
tokenizer whose token i is spelled "<i>" is written beside symlinks to the checkpoint's files, so the
token ids given to `score_batch` are the ids lmscore scores.

Per shape (rows x tokens): random ids (seed 0), 1 warm-up call, then calls until --seconds have passed (at
least 3); the median is reported, like bench_pytorch.py.

  python Scripts/bench_ctranslate2.py --model DIR [--threads 2] [--seconds 3] [--shapes 1x16,8x128]
                                      [--quantization float32] [--cache /tmp/lmscore-bench/ct2]
Needs ctranslate2, transformers, torch (the converter reads the checkpoint with transformers), safetensors.
"""

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import sys
import time

import ctranslate2


def parse_shapes(text):
    return [tuple(int(x) for x in item.strip().lower().split("x")) for item in text.split(",")]


def staged_checkpoint(model_dir, stage):
    """`model_dir`'s files as symlinks, plus a word-level tokenizer of its vocabulary size."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    for name in os.listdir(model_dir):
        if name.endswith((".json", ".safetensors")) and not name.startswith("tokenizer"):
            os.symlink(os.path.abspath(os.path.join(model_dir, name)), os.path.join(stage, name))
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    vocab_size = config["vocab_size"]
    vocab = {f"<{i}>": i for i in range(vocab_size)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<0>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # The converter writes the special tokens into the model's config; they do not change scores.
    eos = config.get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos if eos is not None else vocab_size - 1
    bos = config.get("bos_token_id")
    bos = bos if isinstance(bos, int) else eos
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=f"<{bos}>", eos_token=f"<{eos}>",
                            unk_token="<0>").save_pretrained(stage)
    return vocab_size


def converted(model_dir, quantization, cache):
    name = os.path.basename(os.path.normpath(model_dir))
    out = os.path.join(cache, f"{name}-{quantization}")
    stamp = os.path.join(out, "lmscore-source")
    source = f"{os.path.abspath(model_dir)} {os.path.getmtime(os.path.join(model_dir, 'config.json'))}"
    if os.path.exists(stamp) and open(stamp).read() == source:
        return out
    stage = out + ".stage"
    staged_checkpoint(model_dir, stage)
    ctranslate2.converters.TransformersConverter(stage).convert(out, quantization=quantization, force=True)
    shutil.rmtree(stage, ignore_errors=True)
    with open(stamp, "w") as f:
        f.write(source)
    return out


def time_shape(generator, vocab_size, rows, tokens, seconds):
    rng = random.Random(0)
    batch = [[f"<{rng.randrange(vocab_size)}>" for _ in range(tokens)] for _ in range(rows)]
    scored = generator.score_batch(batch, max_input_length=0)  # warm-up; also checks the work was done
    assert all(len(r.log_probs) == tokens - 1 for r in scored), "score_batch did not score every token"
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        generator.score_batch(batch, max_input_length=0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--shapes", default="1x16,32x16,8x128,1x1024")
    ap.add_argument("--quantization", default="float32")
    ap.add_argument("--cache", default="/tmp/lmscore-bench/ct2")
    args = ap.parse_args()

    path = converted(args.model, args.quantization, args.cache)
    with open(os.path.join(args.model, "config.json")) as f:
        vocab_size = json.load(f)["vocab_size"]
    generator = ctranslate2.Generator(path, device="cpu", compute_type=args.quantization,
                                      intra_threads=args.threads, inter_threads=1)
    print(f"CTranslate2 {ctranslate2.__version__}, {args.quantization}, {args.threads} threads, model {args.model} "
          f"(converted: {path})")
    print(f"{'shape':>8} {'tokens':>7} {'ms/call':>9} {'tokens/s':>9} {'calls':>6} {'peak RSS MB':>11}")
    for rows, tokens in parse_shapes(args.shapes):
        median, calls = time_shape(generator, vocab_size, rows, tokens, args.seconds)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{rows}x{tokens:<6} {rows * tokens:>7} {median * 1000:>9.1f} {rows * tokens / median:>9.0f} {calls:>6} {rss:>11.0f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
