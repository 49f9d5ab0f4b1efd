#!/usr/bin/env python3
"""The prefix cache's benchmark (issue 23): an MMLU-shaped evaluation sent as lm-eval sends it, against
a release `lmscore serve` with the cache off and on, alternating; then random sequences sharing nothing.

Workload (no downloads, random token ids, seeded): SUBJECTS subjects x QUESTIONS questions x 4 choices;
per subject a 5-shot prefix of ~450 tokens (440-460), per question ~60 tokens (50-70), choices of 1-5
tokens. lm-eval's `local-completions` sends each (context, continuation) as one prompt of token ids
(context + continuation), requests sorted as its Collator sorts them (longest first, then by the tokens),
BATCH prompts per POST /v1/completions with echo, logprobs 1, max_tokens 1, temperature 0.
The no-sharing check: RANDOM requests of 8 random 128-token prompts, the same flags.

For each configuration (a fresh server each time): wall time, prompt tokens per second, the server's
lmscore_prefix_cache_* metrics, its peak RSS (VmHWM of /proc/PID/status) and the model file's size.
Every response body, with `id` and `created` blanked, must be byte-identical between the cache on and
off (exit status 1 otherwise).

  Scripts/bench_prefix_cache.py --model DIR [--model DIR ...] [--bin .build/release/lmscore]
        [--budget BYTES] [--subjects 20] [--questions 10] [--random 20] [--rounds 1]
(--subjects 0: the random sequences only, e.g. with --rounds 4 for the no-regression check.) Each server
first answers one untimed request of 8 other random prompts (weights and workspace paged in).

A model directory without a tokenizer (echo needs token strings) gets one: GPT-2's (from the bundled
ranks) when its vocabulary is GPT-2's, else GPT-2's cut to the model's vocabulary size, written with
symlinks to the checkpoint into a temporary directory (the scores do not depend on the tokenizer); that
needs transformers: run the script with the lmscore venv's python (~/.cache/lmscore-venv/bin/python).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Scripts" / "openai_compat"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_tokenizer(model: Path, scratch: Path) -> Path:
    """The model directory, or a copy (symlinks) with a tokenizer.json when it has none."""
    if (model / "tokenizer.json").exists() or (model / "gpt2.tiktoken").exists():
        return model
    vocab = json.loads((model / "config.json").read_text())["vocab_size"]
    out = scratch / model.name
    out.mkdir(parents=True)
    for entry in model.iterdir():
        (out / entry.name).symlink_to(entry.resolve())
    if vocab == 50257:
        return out   # lmscore serve's default tokenizer (the bundled GPT-2 ranks) applies
    import gpt2_tokenizer  # noqa: E402  (Scripts/openai_compat)
    hf = scratch / f"{model.name}-gpt2-tokenizer"
    gpt2_tokenizer.write_hf_tokenizer(gpt2_tokenizer.DEFAULT_RANKS, hf)
    spec = json.loads((hf / "tokenizer.json").read_text())
    spec["model"]["vocab"] = {t: i for t, i in spec["model"]["vocab"].items() if i < vocab}
    spec["model"]["merges"] = spec["model"]["merges"][: vocab - 256]   # merge i makes token 256 + i
    spec["added_tokens"] = []
    (out / "tokenizer.json").write_text(json.dumps(spec))
    return out


class Server:
    def __init__(self, binary: str, model: Path, budget: int, log: Path):
        self.port = free_port()
        env = dict(os.environ, LMSCORE_LOG_LEVEL="warning")
        self.log = open(log, "ab")
        self.process = subprocess.Popen(
            [binary, "serve", "--model", str(model), "--port", str(self.port), "--host", "127.0.0.1",
             "--prefix-cache-bytes", str(budget)], cwd=REPO, env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if self.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None:
                raise SystemExit(f"lmscore serve exited with {self.process.returncode}; see {log}")
            time.sleep(0.2)
        else:
            raise SystemExit("lmscore serve did not become ready in 120 s")
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def get(self, path: str) -> tuple[int, bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def post(self, path: str, body: bytes) -> bytes:
        self.connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = self.connection.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"POST {path}: HTTP {r.status}: {data[:300]!r}")
        return data

    def metrics(self) -> dict[str, float]:
        out = {}
        for line in self.get("/metrics")[1].decode().splitlines():
            if line.startswith("lmscore_prefix_cache"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def peak_rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time of all the server's threads so far: less sensitive than wall time to
        other processes on a shared machine."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def mmlu_prompts(vocab: int, subjects: int, questions: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    tokens = lambda n: [rng.randrange(vocab) for _ in range(n)]  # noqa: E731
    prompts = []
    for _ in range(subjects):
        shots = tokens(rng.randint(440, 460))
        for _ in range(questions):
            context = shots + tokens(rng.randint(50, 70))
            for _ in range(4):
                prompts.append(context + tokens(rng.randint(1, 5)))
    # lm-eval's Collator for loglikelihood requests: key (-len(context + continuation), tuple(tokens))
    return sorted(prompts, key=lambda p: (-len(p), tuple(p)))


def random_prompts(vocab: int, count: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(vocab) for _ in range(128)] for _ in range(count)]


def bodies(name: str, prompts: list[list[int]], batch: int) -> list[bytes]:
    return [json.dumps({"model": name, "prompt": prompts[i:i + batch], "echo": True, "logprobs": 1, "max_tokens": 1,
                        "temperature": 0, "seed": 1234}).encode() for i in range(0, len(prompts), batch)]


BLANK = [(re.compile(rb'"id":"cmpl-[^"]*"'), b'"id":""'), (re.compile(rb'"created":[0-9]+'), b'"created":0')]


def comparable(body: bytes) -> bytes:
    for pattern, replacement in BLANK:
        body = pattern.sub(replacement, body)
    return body


def run(server: Server, requests: list[bytes]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    digests = [hashlib.sha256(comparable(server.post("/v1/completions", body))).hexdigest() for body in requests]
    return time.perf_counter() - start, digests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, type=Path)
    ap.add_argument("--bin", default=str(REPO / ".build" / "release" / "lmscore"))
    ap.add_argument("--budget", type=int, default=None, help="cache bytes when on (default: the server's default)")
    ap.add_argument("--subjects", type=int, default=20)
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--random", type=int, default=20, help="random-sequence requests (8 x 128 tokens each)")
    ap.add_argument("--rounds", type=int, default=1, help="off/on pairs per model, alternating which goes first")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="lmscore-prefix-bench-"))
    log = scratch / "server.log"
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}; binary: {args.bin}; rounds {args.rounds}; server log {log}", flush=True)
    figures = []
    failed = False
    for model in args.model:
        served = with_tokenizer(model, scratch)
        config = json.loads((model / "config.json").read_text())
        vocab = config["vocab_size"]
        weights = sum(f.stat().st_size for f in model.glob("*.safetensors"))
        mmlu = mmlu_prompts(vocab, args.subjects, args.questions, seed=23)
        noise = random_prompts(vocab, 8 * args.random, seed=24)
        mmlu_tokens = sum(map(len, mmlu))
        noise_tokens = sum(map(len, noise))
        mmlu_bodies, noise_bodies = bodies(served.name, mmlu, args.batch), bodies(served.name, noise, 8)
        warmup_bodies = bodies(served.name, random_prompts(vocab, 8, seed=25), 8)
        print(f"\n{model.name}: {len(mmlu)} prompts, {mmlu_tokens} prompt tokens in {len(mmlu_bodies)} requests; "
              f"random: {noise_tokens} tokens in {len(noise_bodies)} requests; weights {weights / 2**20:.0f} MiB", flush=True)
        results: dict[str, list[dict]] = {"off": [], "on": []}
        digests: dict[str, list[list[str]]] = {"off": [], "on": []}
        for r in range(args.rounds):
            for setting in (["off", "on"] if r % 2 == 0 else ["on", "off"]):
                budget = 0 if setting == "off" else (args.budget if args.budget is not None else -1)
                server = Server(args.bin, served, budget if budget >= 0 else default_budget(args.bin, served, scratch), log)
                try:
                    kernel_path = json.loads(server.get("/v1/model")[1])["kernel"]
                    setting_bytes = json.loads(server.get("/v1/model")[1])["prefix_cache_bytes"]
                    run(server, warmup_bodies)   # page in the weights and the workspace, untimed
                    cpu0 = server.cpu_seconds()
                    noise_seconds, noise_digests = run(server, noise_bodies)
                    cpu1 = server.cpu_seconds()
                    before = server.metrics()
                    mmlu_seconds, mmlu_digests = run(server, mmlu_bodies) if mmlu_bodies else (float("nan"), [])
                    cpu2 = server.cpu_seconds()
                    after = server.metrics()
                    figure = {
                        "model": model.name, "cache": setting, "round": r, "kernel": kernel_path, "prefix_cache_bytes": setting_bytes,
                        "mmlu_seconds": mmlu_seconds, "mmlu_tok_s": mmlu_tokens / mmlu_seconds if mmlu_tokens else float("nan"),
                        "random_seconds": noise_seconds, "random_tok_s": noise_tokens / noise_seconds,
                        "random_cpu_seconds": cpu1 - cpu0, "mmlu_cpu_seconds": cpu2 - cpu1,
                        "hit_tokens": after.get("lmscore_prefix_cache_hit_tokens_total", 0) - before.get("lmscore_prefix_cache_hit_tokens_total", 0),
                        "miss_tokens": after.get("lmscore_prefix_cache_miss_tokens_total", 0) - before.get("lmscore_prefix_cache_miss_tokens_total", 0),
                        "cache_bytes": after.get("lmscore_prefix_cache_bytes", 0),
                        "evictions": after.get("lmscore_prefix_cache_evictions_total", 0),
                        "peak_rss": server.peak_rss(), "weights": weights,
                    }
                finally:
                    server.stop()
                results[setting].append(figure)
                digests[setting].append(mmlu_digests + noise_digests)
                print(f"  {setting:3} round {r}: MMLU {mmlu_seconds:7.1f} s {figure['mmlu_tok_s']:8.0f} tok/s, server CPU {cpu2 - cpu1:.1f} s "
                      f"(hit {figure['hit_tokens']:.0f}, miss {figure['miss_tokens']:.0f} tokens); random {figure['random_tok_s']:6.0f} tok/s, "
                      f"server CPU {cpu1 - cpu0:.1f} s; "
                      f"cache {figure['cache_bytes'] / 2**20:.0f} MiB held of {setting_bytes / 2**20:.0f}, evictions {figure['evictions']:.0f}; "
                      f"peak RSS {figure['peak_rss'] / 2**20:.0f} MiB; kernel {kernel_path}", flush=True)
                figures.append(figure)
        identical = all(d == digests["off"][0] for d in digests["off"] + digests["on"])
        failed |= not identical
        median = lambda s, key: statistics.median(f[key] for f in results[s])  # noqa: E731
        print(f"  => MMLU: {median('on', 'mmlu_tok_s') / median('off', 'mmlu_tok_s'):.2f}x tokens/s with the cache (target >= 4x); "
              f"random: {median('on', 'random_tok_s') / median('off', 'random_tok_s'):.3f}x (target >= 0.97x), "
              f"server CPU seconds on / off {median('on', 'random_cpu_seconds') / median('off', 'random_cpu_seconds'):.3f}; "
              f"responses byte-identical: {'yes' if identical else 'NO'} ({len(digests['off'][0])} per run); "
              f"peak RSS on - off: {(median('on', 'peak_rss') - median('off', 'peak_rss')) / 2**20:.0f} MiB "
              f"vs cache held {median('on', 'cache_bytes') / 2**20:.0f} MiB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    if not failed:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


def default_budget(binary: str, model: Path, scratch: Path) -> int:
    """The server's default budget: start it without the flag and read /v1/model."""
    port = free_port()
    process = subprocess.Popen([binary, "serve", "--model", str(model), "--port", str(port), "--host", "127.0.0.1"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v1/model")
                r = c.getresponse()
                if r.status == 200:
                    return json.loads(r.read())["prefix_cache_bytes"]
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("could not read the default prefix_cache_bytes")
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    sys.exit(main())
