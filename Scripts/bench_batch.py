#!/usr/bin/env python3
"""Throughput of `lmscore batch` against its two peers, measured in one run on the same machine:

  1. `lmscore bench` — the offline scorer alone, on two shapes: rows of the input's mean text length,
     as many as fit max_batch_tokens; and the run's average call (as many rows as batch's calls had on
     average, their lengths spread as the input's are: a `+` shape);
  2. `lmscore batch` over an OpenAI batch file of LINES lines, each 1-5 texts of 50-300 tokens of the
     public-domain corpus (../shared/corpus), `/score`;
  3. `lmscore serve` driven by a client posting the same bodies to /score: a concurrency sweep on the
     first SWEEP lines, then every line at the best concurrency.

Reports tokens/s (tokens of the scored rows, as `bench` counts them), the ratios batch/bench and
batch/serve, and batch's peak RSS. Then the same-shape check: `bench` on the typical packed shape and
`lmscore batch` over a file whose calls have exactly that shape (one row of corpus token ids per line,
`sequences`), alternating --same-shape-rounds times, so batch's own cost is seen apart from the
input's mix of lengths and its tokenization. Needs a release build (.build/release/lmscore) and only the
Python standard library. The machine should be quiet: the ratios are only meaningful then.

  Scripts/bench_batch.py [--lines 10000] [--model DIR] [--concurrency 1,2,4,8,16] [--sweep 200]
                         [--same-shape-rounds 2]
"""
import argparse, base64, concurrent.futures, glob, http.client, json, os, random, re, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/lmscore")


def corpus_ids(model_dir):
    """The corpus as GPT-2 token ids (via `lmscore tokenize`) and the id → bytes table."""
    text = "\n\n".join(open(p, encoding="utf-8", errors="ignore").read() for p in sorted(glob.glob(os.path.join(ROOT, "../shared/corpus/*.txt"))))
    ids = json.loads(subprocess.run([BIN, "tokenize"], input=text.encode(), capture_output=True, check=True).stdout)
    ranks = {}
    for line in open(os.path.join(model_dir, "gpt2.tiktoken"), "rb"):
        token, rank = line.split()
        ranks[int(rank)] = base64.b64decode(token)
    return ids, ranks


def write_input(path, lines, ids, ranks, seed=0):
    rng = random.Random(seed)
    with open(path, "w") as out:
        for i in range(lines):
            texts = []
            for _ in range(rng.randint(1, 5)):
                n = rng.randint(50, 300)
                start = rng.randrange(0, len(ids) - n)
                texts.append(b"".join(ranks[t] for t in ids[start:start + n]).decode("utf-8", errors="ignore"))
            out.write(json.dumps({"custom_id": f"doc-{i}", "method": "POST", "url": "/score", "body": {"texts": texts}}) + "\n")


def bench_rate(model, shape, seconds, threads):
    out = subprocess.run([BIN, "bench", "--model", model, "--threads", str(threads), "--shapes", shape, "--seconds", str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    row = [l for l in out.splitlines() if l.startswith(f"| {shape} |")][0]
    return float(row.split("|")[4])


def row_lengths(output):
    """Every scored row's length in tokens, from a batch output file (scored tokens + the first)."""
    lengths = []
    for line in open(output):
        body = json.loads(line)["response"]["body"]
        lengths += [row["scored_tokens"] + 1 for row in body.get("results", [])]
    return lengths


def mixed_shape(lengths, calls):
    """The average scorer call of a batch run as a `bench` shape: as many rows as the run's calls had
    on average, their lengths the matching quantiles of all its rows' lengths (`3x61+1x75+...`)."""
    rows = max(1, round(len(lengths) / calls))
    ordered = sorted(lengths)
    picked = [ordered[min(len(ordered) - 1, int((i + 0.5) * len(ordered) / rows))] for i in range(rows)]
    terms = []
    for length in picked:
        if terms and terms[-1][1] == length:
            terms[-1][0] += 1
        else:
            terms.append([1, length])
    return "+".join(f"{n}x{length}" for n, length in terms)


def batch_run(model, path, out, threads):
    summary = out + ".summary.json"
    for leftover in (out, out + ".parts"):
        subprocess.run(["rm", "-rf", leftover], check=True)
    timed = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "batch", "--model", model, "--threads", str(threads), "-i", path, "-o", out,
                            "--summary", summary, "--quiet"], capture_output=True, text=True, check=True)
    peak_kb = int(timed.stderr.strip().splitlines()[-1])
    return json.load(open(summary)), peak_kb / 1024


def serve_rate(port, bodies, concurrency):
    """Posts every body to /score with `concurrency` keep-alive connections; tokens/s over the wall time."""
    def worker(chunk):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        tokens = 0
        for body in chunk:
            connection.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"/score answered {response.status}: {answer}")
            tokens += sum(row["scored_tokens"] + 1 for row in answer["results"])
        return tokens
    chunks = [bodies[i::concurrency] for i in range(concurrency)]
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        tokens = sum(pool.map(worker, chunks))
    return tokens / (time.monotonic() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument("--model", default=os.path.join(ROOT, "Models/lmscore-gpt2-small-en"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--max-batch-tokens", type=int, default=4096)
    parser.add_argument("--concurrency", default="1,2,4,8,16")
    parser.add_argument("--sweep", type=int, default=200, help="lines per concurrency in the serve sweep")
    parser.add_argument("--bench-seconds", type=float, default=10)
    parser.add_argument("--port", type=int, default=18191)
    parser.add_argument("--same-shape-rounds", type=int, default=2, help="alternating bench/batch pairs on one shape")
    args = parser.parse_args()
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} missing: swift build -c release --product lmscore")

    work = tempfile.mkdtemp(prefix="lmscore-bench-batch-")
    path = os.path.join(work, "input.jsonl")
    ids, ranks = corpus_ids(args.model)
    write_input(path, args.lines, ids, ranks)
    bodies = [json.dumps(json.loads(line)["body"]).encode() for line in open(path)]

    load = open("/proc/loadavg").read().split()[:3]
    summary, peak_mb = batch_run(args.model, path, os.path.join(work, "output.jsonl"), args.threads)
    lengths = row_lengths(os.path.join(work, "output.jsonl"))
    mean_row = summary["tokens"] / len(lengths)
    rows, length = max(1, args.max_batch_tokens // round(mean_row)), round(mean_row)
    shape = f"{rows}x{length}"
    mixed = mixed_shape(lengths, summary["forward_batches"])
    bench = bench_rate(args.model, shape, args.bench_seconds, args.threads)
    bench_mixed = bench_rate(args.model, mixed, args.bench_seconds, args.threads)

    server = subprocess.Popen([BIN, "serve", "--model", args.model, "--host", "127.0.0.1", "--port", str(args.port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "LMSCORE_LOG_LEVEL": "warning", "LMSCORE_THREADS": str(args.threads),
                                   "LMSCORE_MAX_BATCH_TOKENS": str(args.max_batch_tokens)})
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2); c.request("GET", "/healthz")
                if c.getresponse().status == 200: break
            except OSError:
                pass
            time.sleep(0.1)
        sweep = {c: serve_rate(args.port, bodies[:args.sweep], c) for c in map(int, args.concurrency.split(","))}
        best = max(sweep, key=sweep.get)
        serve = serve_rate(args.port, bodies, best)
    finally:
        server.terminate(); server.wait()

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average before the runs: {load}")
    print(f"input: {args.lines} lines, {summary['tokens']} tokens (mean row {mean_row:.0f} tokens); threads {args.threads}; "
          f"max_batch_tokens {args.max_batch_tokens}")
    print(f"serve sweep over {args.sweep} lines (tokens/s by concurrency): " + ", ".join(f"{c}: {r:.0f}" for c, r in sweep.items()))
    print("| run | tokens/s | lmscore batch ÷ it |")
    print("|---|---|---|")
    batch = summary["tokens_per_second"]
    print(f"| lmscore batch ({summary['forward_batches']} scorer calls, peak RSS {peak_mb:.0f} MB) | {batch:.0f} | 1.00 |")
    print(f"| lmscore bench --shapes {shape} (rows of the mean length, the whole budget) | {bench:.0f} | {batch / bench:.2f} |")
    print(f"| lmscore bench, the run's average call (below) | {bench_mixed:.0f} | {batch / bench_mixed:.2f} |")
    print(f"| lmscore serve, client at concurrency {best} | {serve:.0f} | {batch / serve:.2f} |")
    print(f"the run's average call: {len(lengths) / summary['forward_batches']:.1f} rows, "
          f"{summary['tokens'] / summary['forward_batches']:.0f} tokens; as a bench shape: {mixed}")

    if args.same_shape_rounds > 0:
        same = os.path.join(work, "same-shape.jsonl")
        rng = random.Random(1)
        with open(same, "w") as out:
            for i in range(rows * 20):   # 20 scorer calls of exactly `shape`
                start = rng.randrange(0, len(ids) - length)
                out.write(json.dumps({"custom_id": f"row-{i}", "method": "POST", "url": "/score",
                                      "body": {"sequences": [ids[start:start + length]]}}) + "\n")
        print(f"\nsame shape ({shape}: {rows * 20} lines of one {length}-token row, 20 scorer calls), alternating:")
        print("| round | lmscore bench tokens/s | lmscore batch tokens/s | batch ÷ bench |")
        print("|---|---|---|---|")
        ratios = []
        for r in range(1, args.same_shape_rounds + 1):
            bench_same = bench_rate(args.model, shape, args.bench_seconds, args.threads)
            summary_same, _ = batch_run(args.model, same, os.path.join(work, "same-shape-output.jsonl"), args.threads)
            rate = summary_same["tokens_per_second"]
            ratios.append(rate / bench_same)
            print(f"| {r} | {bench_same:.0f} | {rate:.0f} | {rate / bench_same:.2f} |")
        # bench reports the median call, batch the whole run's rate: a burst of load on a shared machine
        # lowers batch's figure and not bench's, so the median round is the figure to read.
        print(f"median batch ÷ bench on the same shape: {sorted(ratios)[len(ratios) // 2]:.2f}")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
