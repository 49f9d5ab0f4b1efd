#!/usr/bin/env python3
"""Hardening checks for `lmscore serve` against real servers on 127.0.0.1 (stdlib only).

Sections (each starts its own server with the settings it needs, from a config file it writes):

  overload  measure the sustainable rate (closed loop), then wrk at ~4x it with a small
            max_queued_tokens: every request answered exactly once (200 or 429 + Retry-After, no
            socket errors, client counts = server counts), admitted latency within the queue bound,
            latency back to the baseline right after
  hostile   2,000 idle connections; connection_limit refusal; slowloris headers and bodies;
            a client leaving mid-batch; pipelining; chunked bodies; Expect: 100-continue; bodies over
            max_body_bytes with and without Content-Length; Content-Type handling
  soak      mixed traffic (wrk + validating and disconnecting Python clients): RSS flat, no leaked
            fds, zero 5xx
  shutdown  SIGTERM during an overload run: in-flight requests answered, new connections refused,
            exit 0 within drain_timeout

Every check prints PASS or FAIL with its numbers; the last line is a summary; the exit status is
non-zero when any check failed. Timing checks compare against baselines measured in the same run
(the VM is shared and noisy) with generous margins.

  harden.py --bin .build-hard/release/lmscore --model Models/lmscore-gpt2-small-en --mode ci|full
            [--only overload,hostile,soak,shutdown] [--workdir DIR]
"""

import argparse
import json
import multiprocessing
import math
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_DIR = os.path.join(HERE, "wrk")

# ----------------------------------------------------------------------------------------------------
# Results

RESULTS = []  # (section, name, ok, detail)
FIGURES = []  # extra report lines


def check(section, name, ok, detail):
    RESULTS.append((section, name, bool(ok), detail))
    print(f"{'PASS' if ok else 'FAIL'} {section}/{name}: {detail}", flush=True)
    return ok


def note(text):
    FIGURES.append(text)
    print(f"     {text}", flush=True)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(math.ceil(p / 100.0 * len(s))) - 1))
    return s[k]


def ms(x):
    return f"{1000 * x:.1f} ms"


# ----------------------------------------------------------------------------------------------------
# A small blocking HTTP/1.1 client


class PeerClosed(Exception):
    """The server closed the connection before a whole response arrived."""

    def __init__(self, received):
        super().__init__(f"connection closed by the server after {received} bytes")
        self.received = received


class Response:
    def __init__(self, status, reason, headers, body, interim, received_at):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.interim = interim  # statuses of 1xx responses before this one
        self.received_at = received_at

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def closes(self):
        return "close" in (self.header("connection") or "").lower()

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"HTTP {self.status} {self.headers} {self.body[:200]!r}"


def request_bytes(method, path, body=None, headers=(), content_length=True):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None and content_length:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return data + (body or b"")


def chunked(body, size, extension=False):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += f"{len(piece):x}{';ext=1' if extension else ''}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


class Conn:
    def __init__(self, port, timeout=15.0, connect_timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=connect_timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self, reset=False):
        try:
            if reset:  # RST instead of FIN
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise PeerClosed(len(self.buf))
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head=False):
        interim = []
        while True:
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            blob, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = blob.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            status = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200:
                interim.append(status)
                continue
            break
        if head or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line() != b"":
                        pass
                    break
                body += self._exactly(size)
                self._line()
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        else:
            body = self.buf
            try:
                while True:
                    self._fill()
            except PeerClosed:
                pass
            body, self.buf = self.buf, b""
        return Response(status, reason, headers, body, interim, time.monotonic())

    def request(self, method, path, body=None, headers=()):
        self.send(request_bytes(method, path, body, headers))
        return self.read_response(head=(method == "HEAD"))

    def wait_for_close(self, timeout):
        """True when the server closes (EOF or reset) within `timeout`; unread data is discarded."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def one_request(port, method, path, body=None, headers=(), timeout=15.0):
    c = Conn(port, timeout=timeout)
    try:
        return c.request(method, path, body, headers)
    finally:
        c.close()


def seq_body(rows, **extra):
    obj = {"sequences": rows}
    obj.update(extra)
    return json.dumps(obj).encode()


def logprobs_of(response_json):
    return [row["logprobs"] for row in response_json["results"]]


def close_enough(d):
    return d is not None and d <= 1e-4


def max_diff(a, b):
    """Largest |a - b| over aligned positions; None when shapes or null positions differ."""
    if len(a) != len(b):
        return None
    worst = 0.0
    for x, y in zip(a, b):
        if len(x) != len(y):
            return None
        for p, q in zip(x, y):
            if (p is None) != (q is None):
                return None
            if p is not None:
                worst = max(worst, abs(p - q))
    return worst


# ----------------------------------------------------------------------------------------------------
# Servers


class Server:
    def __init__(self, ctx, name, **settings):
        self.ctx = ctx
        self.name = name
        config = {
            "threads": 2, "log_level": "info", "max_batch_tokens": 4096, "max_queued_tokens": 65536,
            "max_body_bytes": 8388608, "request_timeout": 30, "connection_limit": 8192,
            "connection_timeout": 30, "body_timeout": 10, "drain_timeout": 30,
        }
        config.update(settings)
        self.settings = config
        self.config_path = os.path.join(ctx.workdir, f"{name}.json")
        self.log_path = os.path.join(ctx.workdir, f"{name}.log")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ctx.bin, "serve", "--config", self.config_path, "--model", ctx.model, "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.DEVNULL, stderr=self.log_file, cwd=ctx.workdir)
        self.pid = self.proc.pid
        self.port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.port is None:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError(f"server {name} exited: {self.log()[-2000:]}")
            else:
                time.sleep(0.02)
        if self.port is None:
            raise RuntimeError(f"server {name} did not report its port")
        while time.monotonic() < deadline:
            try:
                if one_request(self.port, "GET", "/healthz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"server {name} not ready: {self.log()[-2000:]}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def status_kb(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def rss_mb(self):
        return self.status_kb("VmRSS") / 1024.0

    def hwm_mb(self):
        return self.status_kb("VmHWM") / 1024.0

    def threads(self):
        return self.status_kb("Threads")

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def sockets(self):
        n = 0
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                if os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:"):
                    n += 1
            except OSError:
                pass
        return n

    def metrics(self):
        text = one_request(self.port, "GET", "/metrics").body.decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            key, value = line.rsplit(" ", 1)
            try:
                out[key] = float(value)
            except ValueError:
                pass
        return out

    def status_counts(self):
        counts = {}
        for key, value in self.metrics().items():
            m = re.match(r'lmscore_requests_total\{status="(\d+)"\}', key)
            if m:
                counts[int(m.group(1))] = int(value)
        return counts

    def settled_fds(self, quiet=0.5, timeout=10):
        """The fd count once it has not changed for `quiet` seconds (closed connections are freed)."""
        deadline = time.monotonic() + timeout
        last, since = self.fds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fds()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def wait_fds(self, target, timeout):
        """Waits until the server holds at most `target` fds; returns the last count."""
        deadline = time.monotonic() + timeout
        n = self.fds()
        while n > target and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.fds()
        return n

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode

    def access_lines(self, since_offset=0):
        """(method, path, status, total_ms) of the access-log lines after byte `since_offset`."""
        out = []
        with open(self.log_path, errors="replace") as f:
            f.seek(since_offset)
            for line in f:
                m = re.search(r"\] (\w+) (\S+) (\d{3}) rows=\d+ tokens=\d+ queue_ms=\S+ total_ms=([\d.]+)", line)
                if m:
                    out.append((m.group(1), m.group(2), int(m.group(3)), float(m.group(4))))
        return out

    def log_size(self):
        return os.path.getsize(self.log_path)

    def problems_in_log(self):
        return [l for l in self.log().splitlines()
                if (" error " in l or " critical " in l or "Fatal" in l or "fatal" in l or "panic" in l.lower())]


# ----------------------------------------------------------------------------------------------------
# wrk


def run_wrk(ctx, url, script, seconds, connections, args=(), threads=1, timeout_s=30):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout", f"{timeout_s}s",
           "-s", os.path.join(WRK_DIR, script), url]
    if args:
        cmd += ["--"] + [str(a) for a in args]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    return parse_wrk(out, cmd)


def start_wrk(ctx, url, script, seconds, connections, args=(), threads=1, timeout_s=30):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout", f"{timeout_s}s",
           "-s", os.path.join(WRK_DIR, script), url]
    if args:
        cmd += ["--"] + [str(a) for a in args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), cmd


def parse_wrk(out, cmd):
    line = next((l for l in out.splitlines() if l.startswith("HARDEN ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no HARDEN line: {' '.join(cmd)}\n{out}")
    result = {"statuses": {}}
    for key, value in re.findall(r"(\w+)=([\d.]+)", line):
        if re.fullmatch(r"s\d{3}", key):
            result["statuses"][int(key[1:])] = int(value)
        else:
            result[key] = float(value)
    result["socket_errors"] = int(result["connect"] + result["read"] + result["write"] + result["timeout"])
    return result


def wrk_summary(r):
    st = " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
    return (f"{int(r['requests'])} answered in {r['duration_s']:.1f} s [{st}], socket errors {r['socket_errors']} "
            f"(connect {int(r['connect'])} read {int(r['read'])} write {int(r['write'])} timeout {int(r['timeout'])}), "
            f"p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms max {r['max_ms']:.1f} ms")


# ----------------------------------------------------------------------------------------------------
# References: the same rows scored offline by `lmscore score`


def make_rows(seed, count, lo, hi, vocab=1000):
    rng = random.Random(seed)
    return [[rng.randrange(vocab) for _ in range(rng.randint(lo, hi))] for _ in range(count)]


def reference_logprobs(ctx, rows):
    """Each row scored by the CLI, one request per row (so each is scored as alone)."""
    out = []
    for row in rows:
        p = subprocess.run([ctx.bin, "score", "--model", ctx.model], input=json.dumps({"sequences": [row]}),
                           capture_output=True, text=True, check=True)
        out.append(json.loads(p.stdout)["results"][0]["logprobs"])
    return out


class Sampler(threading.Thread):
    """Samples a server's RSS, fds and threads every `interval` seconds."""

    def __init__(self, server, interval):
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.samples = []  # (t, rss_mb, fds, threads)
        self.stop_event = threading.Event()
        self.t0 = time.monotonic()

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.samples.append((time.monotonic() - self.t0, self.server.rss_mb(), self.server.fds(), self.server.threads()))
            except OSError:
                return
            self.stop_event.wait(self.interval)

    def stop(self):
        self.stop_event.set()
        self.join()


# ----------------------------------------------------------------------------------------------------
# Section: bodies (max_body_bytes_in_flight)


def upload_expecting_continue(port, path, body, timeout=120):
    """POST `body` as curl does for a large upload: headers with `Expect: 100-continue` first, the body
    only after `100 Continue`. A server that refuses from the headers answers at once and the body is
    never sent. Returns the final response."""
    c = Conn(port, timeout=timeout)
    try:
        c.send(request_bytes("POST", path, None, headers=[("Content-Type", "application/json"),
                                                          ("Content-Length", str(len(body))), ("Expect", "100-continue")]))
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        if int(c.buf.split(b" ", 2)[1]) == 100:
            c.buf = c.buf.split(b"\r\n\r\n", 1)[1]
            c.send(body)
        return c.read_response()
    finally:
        c.close()


def upload_clients(port, body, clients, results):
    """`clients` threads upload `body` at once (after a barrier), at nice 19; puts (statuses, failures, seconds)."""
    os.nice(19)
    statuses, failures, lock = {}, [], threading.Lock()
    barrier = threading.Barrier(clients)

    def client():
        try:
            barrier.wait(30)
            r = upload_expecting_continue(port, "/score", body)
            ok = r.status == 200 and "results" in r.json() or r.status == 429 and r.header("retry-after")
            with lock:
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if not ok:
                    failures.append(repr(r)[:200])
        except Exception as e:  # noqa: BLE001
            with lock:
                failures.append(repr(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((statuses, failures, time.monotonic() - t0))


def section_bodies(ctx):
    """256 clients upload an 8 MiB body each at once (2 GiB offered): the server holds at most
    max_body_bytes_in_flight of them, refuses the rest with 429 before reading them, stays within
    model + budget + 200 MB of memory, and keeps answering /healthz quickly."""
    S = "bodies"
    budget_mb, clients, size = 512, 256, 8 << 20
    server = Server(ctx, "bodies", max_body_bytes=size, max_body_bytes_in_flight=budget_mb << 20)
    port = server.port
    try:
        body = b'{"sequences": [[464, 3797, 3332, 319]]}'.ljust(size, b" ")  # tiny once parsed
        for _ in range(3):
            one_request(port, "POST", "/score", body)   # warm-up: the model's pages and the decoder's buffers
        base_rss = server.rss_mb()
        # The /healthz probe runs in a process of its own: in this one, 256 uploading threads would make
        # it wait for the GIL, and it would time Python rather than the server.
        stop_file = os.path.join(ctx.workdir, "bodies-probe.stop")
        probe_code = (
            "import json, os, socket, sys, time\n"
            "port, stop = int(sys.argv[1]), sys.argv[2]\n"
            "out = []\n"
            "while not os.path.exists(stop):\n"
            "    t = time.monotonic()\n"
            "    try:\n"
            "        s = socket.create_connection(('127.0.0.1', port), timeout=5)\n"
            "        s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
            "        data = b''\n"
            "        while True:\n"
            "            chunk = s.recv(4096)\n"
            "            if not chunk: break\n"
            "            data += chunk\n"
            "        s.close()\n"
            "        status = int(data.split(b' ', 2)[1])\n"
            "    except Exception as e:\n"
            "        status = repr(e)\n"
            "    out.append((time.monotonic() - t, status))\n"
            "    time.sleep(0.02)\n"
            "json.dump(out, sys.stdout)\n")
        prober = subprocess.Popen([sys.executable, "-c", probe_code, str(port), stop_file], stdout=subprocess.PIPE)
        time.sleep(0.3)  # the probe's first answers come before the uploads

        # The uploading clients stand for other machines: they run in a child process at the lowest priority,
        # so that 256 threads pushing 2 GiB through loopback on the same 2 cores do not take the server's
        # (or the probe's) CPU time and make the server look slow for the clients' own work.
        results = multiprocessing.get_context("fork").Queue()
        uploader = multiprocessing.get_context("fork").Process(target=upload_clients, args=(port, body, clients, results))
        uploader.start()
        statuses, failures, elapsed = results.get(timeout=300)
        uploader.join(30)
        time.sleep(0.2)
        open(stop_file, "w").close()
        health = [tuple(x) for x in json.loads(prober.communicate(timeout=30)[0])]
        peak = server.hwm_mb()
        metrics = server.metrics()
        held = metrics.get("lmscore_http_body_bytes_in_flight")
        refused = metrics.get("lmscore_http_bodies_refused_total", 0)
        check(S, "every-client-200-or-429",
              not failures and sum(statuses.values()) == clients and statuses.get(429, 0) > 0 and refused == statuses.get(429, 0),
              f"{clients} clients x {size >> 20} MiB at once in {elapsed:.1f} s: statuses {statuses}, failures {failures[:3]}; "
              f"server counted {refused:.0f} refused bodies; bytes held afterwards {held}")
        limit = base_rss + budget_mb + 200
        check(S, "peak-rss-within-budget", peak <= limit,
              f"peak RSS {peak:.0f} MB <= model and runtime {base_rss:.0f} MB + budget {budget_mb} MB + 200 MB = {limit:.0f} MB")
        lat = [x for x, st in health if st == 200]
        bad = [st for _, st in health if st != 200]
        check(S, "healthz-under-100ms", lat and max(lat) < 0.1 and not bad,
              f"{len(health)} /healthz probes during the uploads: max {ms(max(lat) if lat else float('nan'))}, "
              f"p50 {ms(pct(lat, 50) if lat else float('nan'))}, failures {bad[:3]}")
    finally:
        server.stop()


# ----------------------------------------------------------------------------------------------------
# Section: overload


def section_overload(ctx):
    S = "overload"
    d = ctx.durations
    queue_tokens = 1024  # 64 requests of 16 tokens
    # The prefix cache off: wrk sends one body again and again, which the cache would answer without
    # scoring it; this check is about a server whose scoring is the bottleneck.
    server = Server(ctx, "overload", max_queued_tokens=queue_tokens, max_batch_tokens=4096, request_timeout=30,
                    prefix_cache_bytes=0)
    url = f"http://127.0.0.1:{server.port}/score"
    try:
        run_wrk(ctx, url, "paced.lua", 2, 8, ["none", 0, 8, 1])  # warm-up
        base = run_wrk(ctx, url, "paced.lua", d["baseline"], 1, ["delay", 20, 1, 1])
        note(f"baseline (1 connection, 20 ms between requests): {wrk_summary(base)}")
        sustained = run_wrk(ctx, url, "paced.lua", d["sustain"], 32, ["none", 0, 32, 1])
        ok200 = sustained["statuses"].get(200, 0)
        rate = ok200 / sustained["duration_s"]
        tokens_per_s = 16 * rate
        note(f"sustainable rate (32 connections, closed loop): {rate:.0f} req/s = {tokens_per_s:.0f} tokens read/s; {wrk_summary(sustained)}")
        check(S, "sustainable-rate", rate > 0 and sustained["socket_errors"] == 0,
              f"{rate:.0f} req/s, {sustained['socket_errors']} socket errors, statuses {sustained['statuses']}")

        target = 4 * rate
        conns = 256
        before_counts = server.status_counts()
        log_offset = server.log_size()
        probe_latencies, probe_statuses, probe_errors = [], {}, []
        stop_probe = threading.Event()

        def probe():
            body = seq_body([[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]])
            c = None
            while not stop_probe.is_set():
                try:
                    if c is None:
                        c = Conn(server.port, timeout=30)
                    t = time.monotonic()
                    r = c.request("POST", "/score", body)
                    probe_statuses[r.status] = probe_statuses.get(r.status, 0) + 1
                    if r.status == 200:
                        probe_latencies.append(time.monotonic() - t)
                    if r.closes:
                        c.close()
                        c = None
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    probe_errors.append(repr(e))
                    if c:
                        c.close()
                    c = None
                stop_probe.wait(0.1)
            if c:
                c.close()

        sampler = Sampler(server, 1.0)
        sampler.start()
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        over = run_wrk(ctx, url, "paced.lua", d["overload"], conns, ["rate", f"{target:.0f}", conns, 1])
        stop_probe.set()
        prober.join()
        sampler.stop()
        time.sleep(1.0)  # let abandoned in-flight requests finish on the server
        after_counts = server.status_counts()
        offered = over["requests"] / over["duration_s"]
        st = over["statuses"]
        note(f"overload: target {target:.0f} req/s (4x), offered {offered:.0f} req/s = {offered / rate:.1f}x, "
             f"{conns} connections, final per-connection delay {over['delay_ms']:.0f} ms; {wrk_summary(over)}")
        counted = sum(st.values())
        only_expected = set(st) <= {200, 429}
        check(S, "every-request-one-answer",
              over["socket_errors"] == 0 and counted == over["requests"] and only_expected and st.get(429, 0) > 0 and st.get(200, 0) > 0,
              f"{int(over['requests'])} requests answered = {st.get(200, 0)} x 200 + {st.get(429, 0)} x 429 "
              f"(Lua counted {counted}, other statuses: {[s for s in st if s not in (200, 429)]}), "
              f"socket errors {over['socket_errors']}")
        check(S, "429-has-retry-after", over["missing_retry_after"] == 0 and over["bad_body"] == 0,
              f"{int(over['missing_retry_after'])} of {st.get(429, 0)} 429s without a Retry-After >= 1; "
              f"{int(over['bad_body'])} 200s without results")
        check(S, "offered-rate", offered >= 3.0 * rate,
              f"offered {offered:.0f} req/s = {offered / rate:.1f}x the sustainable {rate:.0f} req/s (target 4x, need >= 3x)")
        # Server-side counts: every client answer was counted by the server; the server may count up to one
        # more per connection (requests wrk abandoned when its duration ended).
        server_delta = {s: after_counts.get(s, 0) - before_counts.get(s, 0) for s in set(after_counts) | set(before_counts)}
        server_delta = {s: n for s, n in server_delta.items() if n}
        client = {s: st.get(s, 0) + probe_statuses.get(s, 0) for s in set(st) | set(probe_statuses)}
        client_total = sum(client.values())
        # /metrics requests made by status_counts itself are counted as 200s on the server.
        extra = sum(server_delta.values()) - client_total - 1
        check(S, "server-counts-match",
              all(server_delta.get(s, 0) >= client.get(s, 0) for s in client) and 0 <= extra <= conns + 1
              and set(server_delta) <= {200, 429},
              f"server counted {server_delta} vs clients {client} (server extra {extra}: requests in flight when wrk stopped, <= {conns + 1})")
        # An admitted request waits at most for the batch running when it arrived plus the queue ahead of it:
        # ~2 x max_queued_tokens of work, at the slower of the two service rates measured (the shared VM's
        # speed changes between runs), with a 3x margin.
        service_tokens_per_s = min(tokens_per_s, 16 * st.get(200, 0) / over["duration_s"])
        bound_s = 3 * (2 * queue_tokens + 16) / service_tokens_per_s + 0.5
        admitted = [t / 1000 for (m, p, s, t) in server.access_lines(log_offset) if p == "/score" and s == 200]
        worst = max(admitted) if admitted else float("nan")
        check(S, "admitted-latency-bounded",
              admitted and worst <= bound_s and (not probe_latencies or max(probe_latencies) <= bound_s) and not probe_errors,
              f"server-side 200s: n={len(admitted)} p50 {ms(pct(admitted, 50))} p99 {ms(pct(admitted, 99))} max {ms(worst)}; "
              f"probe client 200s: n={len(probe_latencies)} p50 {ms(pct(probe_latencies, 50))} max {ms(max(probe_latencies) if probe_latencies else float('nan'))}, "
              f"probe statuses {probe_statuses}, errors {probe_errors[:3]}; "
              f"bound 3 x (2 x {queue_tokens} queued tokens / {service_tokens_per_s:.0f} tokens/s) + 0.5 s = {ms(bound_s)} "
              f"(service rate: the lower of the sustainable {tokens_per_s:.0f} and the overload's {16 * st.get(200, 0) / over['duration_s']:.0f} tokens/s)")
        if sampler.samples:
            note(f"server during overload: RSS max {max(s[1] for s in sampler.samples):.1f} MB, "
                 f"fds max {max(s[2] for s in sampler.samples)}, threads max {max(s[3] for s in sampler.samples)}")

        time.sleep(1.0)
        after = run_wrk(ctx, url, "paced.lua", d["baseline"], 1, ["delay", 20, 1, 1])
        p50_limit = 2 * base["p50_ms"] + 5
        p99_limit = 3 * base["p99_ms"] + 25
        check(S, "latency-recovers",
              after["socket_errors"] == 0 and set(after["statuses"]) == {200}
              and after["p50_ms"] <= p50_limit and after["p99_ms"] <= p99_limit,
              f"after: p50 {after['p50_ms']:.1f} ms p99 {after['p99_ms']:.1f} ms ({int(after['requests'])} requests, {after['statuses']}); "
              f"before: p50 {base['p50_ms']:.1f} ms p99 {base['p99_ms']:.1f} ms; limits p50 <= 2x+5 = {p50_limit:.1f}, p99 <= 3x+25 = {p99_limit:.1f}")
        queue_depth = server.metrics().get("lmscore_queue_depth", -1)
        check(S, "server-healthy", server.alive() and queue_depth == 0 and not server.problems_in_log(),
              f"alive {server.alive()}, queue depth {queue_depth:.0f}, error lines in log {len(server.problems_in_log())} {server.problems_in_log()[:2]}")
    finally:
        rc = server.stop()
        check(S, "clean-exit", rc == 0, f"exit status {rc} after SIGTERM")


# ----------------------------------------------------------------------------------------------------
# Section: hostile clients


def normal_requests(port, rows, refs, n, pause=0.0):
    """n sequential requests on fresh connections; (latencies, failures)."""
    latencies, failures = [], []
    for i in range(n):
        k = i % len(rows)
        t = time.monotonic()
        try:
            r = one_request(port, "POST", "/score", seq_body([rows[k]]), timeout=15)
            latencies.append(time.monotonic() - t)
            if r.status != 200:
                failures.append(f"status {r.status}")
                continue
            diff = max_diff(logprobs_of(r.json()), [refs[k]])
            if diff is None or diff > 1e-4:
                failures.append(f"wrong scores (diff {diff})")
        except Exception as e:  # noqa: BLE001
            failures.append(repr(e))
        if pause:
            time.sleep(pause)
    return latencies, failures


def open_idle(port, count, send_one=False):
    conns = []
    for i in range(count):
        c = Conn(port, timeout=20)
        conns.append(c)
    if send_one:
        for c in conns:
            c.send(request_bytes("GET", "/healthz"))
        for c in conns:
            r = c.read_response()
            if r.status != 200:
                raise RuntimeError(f"idle setup: {r}")
    return conns


def section_hostile(ctx):
    S = "hostile"
    conn_timeout, body_timeout, max_body = 5, 2, 65536
    rows = make_rows(101, 6, 8, 40)
    refs = reference_logprobs(ctx, rows)
    server = Server(ctx, "hostile", connection_timeout=conn_timeout, body_timeout=body_timeout, max_body_bytes=max_body,
                    max_queued_tokens=65536)
    port = server.port
    try:
        normal_requests(port, rows, refs, 10)  # warm-up
        base_fds = server.settled_fds()
        base_lat, base_fail = normal_requests(port, rows, refs, 30)
        base_p50 = pct(base_lat, 50)
        note(f"baseline normal client (fresh connection per request): p50 {ms(base_p50)} p90 {ms(pct(base_lat, 90))} "
             f"max {ms(max(base_lat))}; server fds {base_fds}, RSS {server.rss_mb():.1f} MB")
        lat_limit = 3 * base_p50 + 0.05

        # --- 2,000 idle connections (half never send anything, half after one keep-alive request)
        t0 = time.monotonic()
        idle = open_idle(port, 1000) + open_idle(port, 1000, send_one=True)
        opened_in = time.monotonic() - t0
        time.sleep(0.3)
        held = server.fds() - base_fds
        lat, fail = normal_requests(port, rows, refs, 30)
        p50 = pct(lat, 50)
        check(S, "2000-idle-connections",
              held >= 1990 and not fail and p50 <= lat_limit,
              f"2,000 idle opened in {opened_in:.1f} s, server holds +{held} fds; normal client 30 requests: "
              f"p50 {ms(p50)} max {ms(max(lat) if lat else float('nan'))}, failures {fail[:3]} "
              f"(limit p50 <= 3 x baseline + 50 ms = {ms(lat_limit)})")
        # connection_timeout frees them (no client action).
        t0 = time.monotonic()
        left = server.wait_fds(base_fds, conn_timeout + 8)
        freed_after = time.monotonic() - t0
        closed = sum(1 for c in idle[:50] if c.wait_for_close(0.01))
        for c in idle:
            c.close()
        check(S, "idle-freed-by-connection_timeout", left <= base_fds,
              f"server fds {base_fds + held} -> {left} (baseline {base_fds}) {freed_after:.1f} s after the normal requests "
              f"(connection_timeout {conn_timeout} s); {closed}/50 sampled client sockets saw the close")

        # --- slowloris headers: a byte a second
        def trickle(data, per_second, outcome, idx, until):
            c = Conn(port, timeout=2)
            start = time.monotonic()
            try:
                for i, b in enumerate(data):
                    c.send(bytes([b]))
                    if c.wait_for_close(1.0 / per_second):
                        outcome[idx] = ("closed", time.monotonic() - start, i + 1)
                        return
                    if time.monotonic() - start > until:
                        outcome[idx] = ("still-open", time.monotonic() - start, i + 1)
                        return
                # Everything sent: did it get an answer?
                c.settimeout(5)
                try:
                    r = c.read_response()
                    outcome[idx] = (f"answered {r.status}", time.monotonic() - start, len(data))
                except Exception:  # noqa: BLE001
                    outcome[idx] = ("closed", time.monotonic() - start, len(data))
            except (BrokenPipeError, ConnectionResetError):
                outcome[idx] = ("closed", time.monotonic() - start, -1)
            finally:
                c.close()

        def beside_normal_client(client, count, settle):
            """Runs client(i, outcome) on `count` threads while a normal client sends 20 requests;
            returns the clients' outcomes and the normal client's latencies and failures."""
            outcome = [None] * count
            threads = [threading.Thread(target=client, args=(i, outcome), daemon=True) for i in range(count)]
            for t in threads:
                t.start()
            time.sleep(settle)
            lat, fail = normal_requests(port, rows, refs, 20, pause=0.1)
            for t in threads:
                t.join()
            return outcome, lat, fail

        def slow_clients(kind, count, data_for, limit, expect_close_by):
            outcome, lat, fail = beside_normal_client(
                lambda i, outcome: trickle(data_for(i), 1.0, outcome, i, limit), count, 0.5)
            closed = [o for o in outcome if o and o[0] == "closed"]
            times = [o[1] for o in closed]
            ok = (len(closed) == count and max(times) <= expect_close_by and not fail and pct(lat, 50) <= lat_limit)
            return ok, (f"{len(closed)}/{count} closed by the server after {min(times) if times else float('nan'):.1f}-"
                        f"{max(times) if times else float('nan'):.1f} s (must be <= {expect_close_by:.1f} s); other outcomes "
                        f"{[o for o in outcome if not o or o[0] != 'closed'][:3]}; normal client meanwhile: p50 {ms(pct(lat, 50))} "
                        f"max {ms(max(lat) if lat else float('nan'))}, failures {fail[:3]}")

        body = seq_body([rows[0]])
        hdr = lambda i: request_bytes("POST", "/score", body, [("X-Padding", "p" * 60), ("X-Client", str(i))])
        ok, detail = slow_clients("headers", 20, hdr, conn_timeout + 12, conn_timeout + 3)
        check(S, "slowloris-headers", ok, f"headers at 1 byte/s, connection_timeout {conn_timeout} s: {detail}")
        left = server.wait_fds(base_fds, 5)
        big = seq_body([rows[1]] * 4)

        def body_client(i, outcome):
            # The headers first, then the body a byte a second.
            c = Conn(port, timeout=2)
            start = time.monotonic()
            try:
                c.send(request_bytes("POST", "/score", None, [("Content-Length", str(len(big)))]))
                for k, b in enumerate(big):
                    c.send(bytes([b]))
                    if c.wait_for_close(1.0):
                        outcome[i] = ("closed", time.monotonic() - start, k + 1)
                        return
                outcome[i] = ("whole body sent", time.monotonic() - start, len(big))
            except (BrokenPipeError, ConnectionResetError):
                outcome[i] = ("closed", time.monotonic() - start, -1)
            finally:
                c.close()

        outcome, lat, fail = beside_normal_client(body_client, 20, 0.3)
        closed = [o for o in outcome if o and o[0] == "closed"]
        times = [o[1] for o in closed]
        check(S, "slowloris-body",
              len(closed) == 20 and max(times) <= body_timeout + 2.5 and not fail and pct(lat, 50) <= lat_limit,
              f"body at 1 byte/s, body_timeout {body_timeout} s: {len(closed)}/20 closed after "
              f"{min(times) if times else float('nan'):.1f}-{max(times) if times else float('nan'):.1f} s "
              f"(<= {body_timeout + 2.5} s), bytes sent {sorted(set(o[2] for o in closed))}; normal client meanwhile "
              f"p50 {ms(pct(lat, 50))}, failures {fail[:3]}")
        # A body that stops altogether: connection_timeout.
        stalled = []
        for i in range(10):
            c = Conn(port, timeout=2)
            c.send(request_bytes("POST", "/score", None, [("Content-Length", str(len(big)))]) + big[:10])
            stalled.append((c, time.monotonic()))
        waits = []
        for c, start in stalled:
            closed_now = c.wait_for_close(conn_timeout + 5 - (time.monotonic() - start))
            waits.append(time.monotonic() - start if closed_now else None)
            c.close()
        check(S, "stalled-body",
              all(w is not None and w <= conn_timeout + 3 for w in waits),
              f"10 bodies that stop after 10 bytes: closed after "
              f"{[round(w, 1) if w else None for w in waits]} s (connection_timeout {conn_timeout} s)")
        left = server.wait_fds(base_fds, 5)
        check(S, "slow-clients-fds-freed", left <= base_fds, f"server fds {left} (baseline {base_fds})")

        # --- a client leaving mid-batch
        section_disconnect(ctx, S, server, rows, refs)

        # --- protocol corners
        section_protocol(ctx, S, server, rows, refs, max_body)

        left = server.wait_fds(base_fds, conn_timeout + 3)
        check(S, "no-leaked-fds", left <= base_fds, f"server fds after everything {left} (baseline {base_fds})")
        problems = server.problems_in_log()
        check(S, "server-healthy",
              server.alive() and one_request(port, "GET", "/healthz").status == 200 and not problems,
              f"alive, /healthz 200, RSS {server.rss_mb():.1f} MB (peak {server.hwm_mb():.1f} MB), error lines {problems[:2]}")
    finally:
        rc = server.stop()
        check(S, "clean-exit", rc == 0, f"exit status {rc} after SIGTERM")

    section_connection_limit(ctx, S, rows, refs)


def section_disconnect(ctx, S, server, rows, refs):
    """A big request keeps the model busy; clients who leave mid-queue or mid-batch are mixed with
    clients who stay; every one who stays must get exactly their own scores."""
    port = server.port
    long_rows = make_rows(202, 4, 250, 256, vocab=50257)  # ~1,000 tokens per request
    long_refs = reference_logprobs(ctx, long_rows[:2])
    stayers_ok, stayers_fail, leavers = 0, [], 0
    rounds = 4
    t_all = time.monotonic()
    for rnd in range(rounds):
        results = {}
        lock = threading.Lock()

        def stayer(k, body, ref, label):
            try:
                r = one_request(port, "POST", "/score", body, timeout=60)
                diff = max_diff(logprobs_of(r.json()), ref) if r.status == 200 else None
                with lock:
                    results[label] = (r.status, diff)
            except Exception as e:  # noqa: BLE001
                with lock:
                    results[label] = (repr(e), None)

        def leaver(delay, reset):
            c = Conn(port, timeout=5)
            c.send(request_bytes("POST", "/score", seq_body(long_rows)))
            time.sleep(delay)
            c.close(reset=reset)

        threads = []
        # A blocker first, so the rest queue behind it and form the next batch together.
        threads.append(threading.Thread(target=leaver, args=(0.05 + 0.1 * rnd, rnd % 2 == 1)))
        threads[-1].start()
        time.sleep(0.02)
        for k in range(8):
            label = f"small{k}"
            threads.append(threading.Thread(target=stayer, args=(k, seq_body([rows[k % len(rows)]]), [refs[k % len(rows)]], label)))
        threads.append(threading.Thread(target=stayer, args=(0, seq_body(long_rows[:2]), long_refs, "long")))
        for delay in (0.0, 0.1, 0.3, 0.6):
            threads.append(threading.Thread(target=leaver, args=(delay, delay > 0.2)))
        for t in threads[1:]:
            t.start()
        for t in threads:
            t.join()
        leavers += 5
        for label, (status, diff) in results.items():
            if status == 200 and diff is not None and diff <= 1e-4:
                stayers_ok += 1
            else:
                stayers_fail.append((label, status, diff))
    elapsed = time.monotonic() - t_all
    time.sleep(0.5)
    health = one_request(port, "GET", "/healthz")
    after_lat, after_fail = normal_requests(port, rows, refs, 5)
    went_away = server.log().count("client went away")
    check(S, "client-leaves-mid-batch",
          not stayers_fail and stayers_ok == rounds * 9 and health.status == 200 and not after_fail,
          f"{rounds} rounds in {elapsed:.1f} s: {leavers} clients sent ~1,000-token requests and left (FIN or RST) "
          f"0-0.65 s later, beside {stayers_ok}/{rounds * 9} clients who stayed and got exactly their own scores "
          f"(|diff| <= 1e-4 vs the CLI); failures {stayers_fail[:3]}; afterwards /healthz {health.status}, "
          f"normal requests failures {after_fail}; server logged {went_away} 'client went away'")


def section_protocol(ctx, S, server, rows, refs, max_body):
    port = server.port
    a, b = seq_body([rows[0]]), seq_body([rows[1]])

    # Pipelining: seven requests in one send, answered in order, the connection kept.
    c = Conn(port)
    batch = (request_bytes("POST", "/score", a, [("Content-Type", "application/json")])
             + request_bytes("GET", "/healthz")
             + request_bytes("POST", "/score", b'{"sequences": [[1, 2')
             + request_bytes("POST", "/score", b'{"sequences": [[1, 2, 50257]]}')
             + request_bytes("POST", "/score", b, [("Transfer-Encoding", "chunked")], content_length=False)[:-len(b)] + chunked(b, 9)
             + request_bytes("POST", "/tokenize", b'{"text": "Hello world"}')
             + request_bytes("GET", "/v1/model"))
    c.send(batch)
    got = [c.read_response() for _ in range(7)]
    statuses = [r.status for r in got]
    d0 = max_diff(logprobs_of(got[0].json()), [refs[0]])
    d4 = max_diff(logprobs_of(got[4].json()), [refs[1]]) if got[4].status == 200 else None
    again = c.request("GET", "/healthz")
    c.close()
    check(S, "pipelining",
          statuses == [200, 200, 400, 422, 200, 200, 200] and d0 is not None and d0 <= 1e-4 and d4 is not None
          and d4 <= 1e-4 and again.status == 200 and not any(r.closes for r in got),
          f"7 requests in one write (score, healthz, bad JSON, bad id, chunked score, tokenize, model) -> {statuses}, "
          f"scores diff {d0} / {d4}, connection still usable ({again.status})")
    # 50 pipelined scoring requests.
    c = Conn(port, timeout=30)
    c.send(b"".join(request_bytes("POST", "/score", seq_body([rows[i % len(rows)]])) for i in range(50)))
    got = [c.read_response() for _ in range(50)]
    wrong = [i for i, r in enumerate(got)
             if r.status != 200 or not close_enough(max_diff(logprobs_of(r.json()), [refs[i % len(rows)]]))]
    c.close()
    check(S, "pipelining-50", not wrong, f"50 pipelined /score requests: {50 - len(wrong)} answered in order with their own scores")

    # Chunked bodies: small chunks, chunk extensions, one-byte chunks; over the limit; far over it.
    outcomes = []
    for size, ext in ((1, False), (7, True), (4096, False)):
        c = Conn(port)
        c.send(request_bytes("POST", "/score", None, [("Transfer-Encoding", "chunked")]) + chunked(a, size, ext))
        r = c.read_response()
        diff = max_diff(logprobs_of(r.json()), [refs[0]]) if r.status == 200 else None
        outcomes.append((size, r.status, diff))
        c.close()
    over = b'{"sequences": [[' + b",".join([b"1"] * (max_body // 2 + 10)) + b']]}'  # ~1.0x-1.1x the limit
    c = Conn(port)
    c.send(request_bytes("POST", "/score", None, [("Transfer-Encoding", "chunked")]) + chunked(over, 8192))
    r_over = c.read_response()
    c.close()
    far = b"[" * (3 * max_body)
    c = Conn(port)
    far_outcome = None
    try:
        c.send(request_bytes("POST", "/score", None, [("Transfer-Encoding", "chunked")]) + chunked(far, 8192))
        try:
            far_outcome = f"HTTP {c.read_response().status}"
        except (PeerClosed, ConnectionResetError):
            far_outcome = "closed"
    except (BrokenPipeError, ConnectionResetError):
        far_outcome = "closed"
    c.close()
    check(S, "chunked-bodies",
          all(s == 200 and d is not None and d <= 1e-4 for _, s, d in outcomes)
          and r_over.status == 413 and far_outcome in ("closed", "HTTP 413"),
          f"chunk sizes 1/7(+extensions)/4096 -> {[(s, st) for s, st, _ in outcomes]} with correct scores; "
          f"chunked {len(over)} bytes (limit {max_body}) -> {r_over.status} "
          f"{(r_over.json().get('error') or {}).get('code') if r_over.status == 413 else ''}; chunked {len(far)} bytes -> {far_outcome}")

    # Expect: 100-continue.
    c = Conn(port)
    c.send(request_bytes("POST", "/score", None, [("Expect", "100-continue"), ("Content-Length", str(len(a)))]))
    c.settimeout(5)
    interim = c._line()
    c._line()
    c.send(a)
    r = c.read_response()
    diff = max_diff(logprobs_of(r.json()), [refs[0]]) if r.status == 200 else None
    c.close()
    c = Conn(port)
    c.send(request_bytes("POST", "/score", None, [("Expect", "100-continue"), ("Content-Length", str(max_body + 1))]))
    r_big = c.read_response()
    closed_big = c.wait_for_close(2)
    c.close()
    check(S, "expect-100-continue",
          interim.startswith(b"HTTP/1.1 100") and r.status == 200 and diff is not None and diff <= 1e-4
          and r_big.status == 413 and not r_big.interim and closed_big,
          f"small body: {interim.decode().strip()!r} then {r.status} (diff {diff}); Content-Length {max_body + 1} "
          f"(limit {max_body}): {r_big.status} with {'no' if not r_big.interim else r_big.interim} 100 Continue, "
          f"connection closed {closed_big}")

    # Over max_body_bytes with Content-Length, body sent anyway.
    big = b'{"sequences": [[' + b",".join([b"7"] * (max_body // 2 + 100)) + b']]}'
    c = Conn(port)
    sent_all = True
    try:
        c.send(request_bytes("POST", "/score", big))
    except (BrokenPipeError, ConnectionResetError):
        sent_all = False
    try:
        r_cl = c.read_response()
        cl_outcome = f"{r_cl.status} {r_cl.json()['error']['code']}"
    except (PeerClosed, ConnectionResetError) as e:
        cl_outcome = f"no answer: {e!r}"
    c.close()
    # Without Content-Length and not chunked (HTTP/1.1 then says the body is empty): 400, the rest is junk.
    c = Conn(port)
    c.send(b"POST /score HTTP/1.1\r\nHost: x\r\n\r\n" + big[:200])
    r_nocl = c.read_response()
    c.close()
    # HTTP/1.0, no Content-Length, body until close: also an empty body.
    c = Conn(port)
    c.send(b"POST /score HTTP/1.0\r\n\r\n" + a)
    c.sock.shutdown(socket.SHUT_WR)
    r_10 = c.read_response()
    c.close()
    check(S, "body-over-limit",
          cl_outcome.startswith("413 body_too_large") and r_nocl.status == 400 and r_10.status == 400,
          f"Content-Length {len(big)} > {max_body}: {cl_outcome} (client {'sent the whole body' if sent_all else 'was cut off while sending'}); "
          f"no Content-Length/no chunking (HTTP/1.1): {r_nocl.status} {r_nocl.json()['error']['code']} (body length 0 per RFC 9112); "
          f"HTTP/1.0 body-until-close: {r_10.status}")

    # Content-Type: JSON is accepted whatever the Content-Type says (curl -d sends form-urlencoded).
    types = [None, "application/json", "application/json; charset=utf-8", "text/plain",
             "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]
    got = []
    for t in types:
        r = one_request(port, "POST", "/score", a, [("Content-Type", t)] if t else [])
        ok = r.status == 200 and close_enough(max_diff(logprobs_of(r.json()), [refs[0]]))
        got.append((t or "(none)", r.status, ok))
    bad = one_request(port, "POST", "/score", b"sequences=1,2,3", [("Content-Type", "application/x-www-form-urlencoded")])
    check(S, "content-type",
          all(ok for _, _, ok in got) and bad.status == 400,
          "JSON accepted whatever the Content-Type (decision: no 415; curl -d sends x-www-form-urlencoded): "
          + ", ".join(f"{t} -> {s}" for t, s, _ in got) + f"; a form body -> {bad.status} malformed_json")

    # Headers over connection_memory: 431 (MHD), server unharmed.
    r = one_request(port, "GET", "/healthz", None, [("X-Big", "x" * 40000)])
    check(S, "huge-headers", r.status == 431 and one_request(port, "GET", "/healthz").status == 200,
          f"a 40 KB header -> {r.status}; /healthz afterwards 200")


def section_connection_limit(ctx, S, rows, refs):
    limit = 100
    server = Server(ctx, "connlimit", connection_limit=limit, connection_timeout=20)
    port = server.port
    try:
        held = open_idle(port, limit)
        time.sleep(0.3)
        # Over the limit: each new connection must be refused at once (not left waiting in the backlog).
        outcomes = []
        for i in range(10):
            t = time.monotonic()
            try:
                c = Conn(port, timeout=3)
                try:
                    c.send(request_bytes("GET", "/healthz"))
                    r = c.read_response()
                    outcomes.append((f"HTTP {r.status}", time.monotonic() - t))
                except (PeerClosed, ConnectionResetError, BrokenPipeError):
                    outcomes.append(("refused", time.monotonic() - t))
                except socket.timeout:
                    outcomes.append(("hung", time.monotonic() - t))
                finally:
                    c.close()
            except ConnectionRefusedError:
                outcomes.append(("refused", time.monotonic() - t))
        refused_fast = all(o in ("refused", "HTTP 503") and dt < 1.0 for o, dt in outcomes)
        # Free some slots: normal clients work again at once.
        for c in held[:20]:
            c.close()
        time.sleep(0.3)
        lat, fail = normal_requests(port, rows, refs, 10)
        check(S, "connection-limit-refusal",
              refused_fast and not fail,
              f"connection_limit {limit}, {limit} idle held: 10 more -> {sorted(set(o for o, _ in outcomes))} after "
              f"{max(dt for _, dt in outcomes):.2f} s at most (must be refused in < 1 s, not left in the backlog); "
              f"after 20 idle closed: {10 - len(fail)}/10 normal requests 200, p50 {ms(pct(lat, 50))}")
        for c in held[20:]:
            c.close()
        # 2,000 idle against a limit of 100: the normal client is refused cleanly, never hangs; once the idle
        # ones leave it is served.
        flood = []
        refused_flood = 0
        for i in range(2000):
            try:
                flood.append(Conn(port, timeout=5, connect_timeout=2))
            except OSError:
                refused_flood += 1
        time.sleep(0.5)
        alive = sum(1 for c in flood if not c.wait_for_close(0.001))
        t = time.monotonic()
        try:
            r = one_request(port, "GET", "/healthz", timeout=3)
            probe = f"HTTP {r.status}"
        except (PeerClosed, ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
            probe = "refused"
        except socket.timeout:
            probe = "hung"
        probe_s = time.monotonic() - t
        for c in flood:
            c.close()
        time.sleep(0.5)
        lat, fail = normal_requests(port, rows, refs, 10)
        check(S, "2000-idle-over-limit",
              probe in ("refused", "HTTP 503", "HTTP 200") and probe_s < 1.0 and alive <= limit and not fail,
              f"2,000 connects against connection_limit {limit}: {alive} kept open by the server, {len(flood) - alive} closed at once, "
              f"{refused_flood} refused at connect; a normal request meanwhile -> {probe} in {probe_s:.2f} s; "
              f"after they left: {10 - len(fail)}/10 normal requests 200")
    finally:
        rc = server.stop()
        check(S, "connlimit-clean-exit", rc == 0, f"exit status {rc}")


# ----------------------------------------------------------------------------------------------------
# Section: soak


def section_soak(ctx):
    S = "soak"
    seconds = ctx.durations["soak"]
    max_body = 262144
    conn_timeout = 8
    server = Server(ctx, "soak", max_queued_tokens=16384, max_body_bytes=max_body, connection_timeout=conn_timeout,
                    body_timeout=3, request_timeout=30)
    port = server.port
    rows = make_rows(303, 6, 10, 60, vocab=50257)
    refs = reference_logprobs(ctx, rows)
    stats = {"validator": {}, "disruptor": {}, "unexpected": [], "fivexx": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def record(who, what):
        with lock:
            stats[who][what] = stats[who].get(what, 0) + 1

    def unexpected(text):
        with lock:
            if len(stats["unexpected"]) < 50:
                stats["unexpected"].append(text)

    def validator(seed):
        rng = random.Random(seed)
        c = None
        while not stop.is_set():
            k = rng.randrange(len(rows))
            try:
                if c is None:
                    c = Conn(port, timeout=60)
                r = c.request("POST", "/score", seq_body([rows[k]]))
                record("validator", r.status)
                if r.status >= 500:
                    with lock:
                        stats["fivexx"] += 1
                if r.status == 200:
                    d = max_diff(logprobs_of(r.json()), [refs[k]])
                    if d is None or d > 1e-4:
                        unexpected(f"validator: wrong scores diff {d}")
                elif r.status != 429:
                    unexpected(f"validator: {r}")
                if r.closes:
                    c.close()
                    c = None
            except Exception as e:  # noqa: BLE001
                unexpected(f"validator: {e!r}")
                if c:
                    c.close()
                c = None
            stop.wait(rng.uniform(0.0, 0.05))
        if c:
            c.close()

    big_rows = make_rows(304, 4, 200, 256, vocab=50257)

    def disruptor(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            kind = rng.choice(["connect-close", "partial-headers", "partial-body", "leave-mid-batch", "leave-rst",
                               "over-limit-cl", "over-limit-chunked", "expect", "pipelined", "idle", "slow-body"])
            record("disruptor", kind)
            try:
                if kind == "connect-close":
                    Conn(port).close(reset=rng.random() < 0.5)
                elif kind == "partial-headers":
                    c = Conn(port)
                    c.send(request_bytes("POST", "/score", seq_body([rows[0]]))[:rng.randint(1, 40)])
                    time.sleep(rng.uniform(0, 0.2))
                    c.close(reset=rng.random() < 0.5)
                elif kind == "partial-body":
                    c = Conn(port)
                    data = request_bytes("POST", "/score", seq_body(big_rows))
                    c.send(data[:rng.randint(len(data) - 3000, len(data) - 1)])
                    time.sleep(rng.uniform(0, 0.2))
                    c.close(reset=rng.random() < 0.5)
                elif kind in ("leave-mid-batch", "leave-rst"):
                    c = Conn(port)
                    c.send(request_bytes("POST", "/score", seq_body(big_rows)))
                    time.sleep(rng.uniform(0, 0.5))
                    c.close(reset=(kind == "leave-rst"))
                elif kind == "over-limit-cl":
                    c = Conn(port)
                    c.send(request_bytes("POST", "/score", None, [("Content-Length", str(max_body + rng.randint(1, 10 ** 6)))]))
                    r = c.read_response()
                    record("disruptor", f"status {r.status}")
                    if r.status != 413:
                        unexpected(f"over-limit-cl: {r}")
                    c.close()
                elif kind == "over-limit-chunked":
                    c = Conn(port)
                    payload = b"[" * (max_body + rng.randint(1, max_body))
                    try:
                        c.send(request_bytes("POST", "/score", None, [("Transfer-Encoding", "chunked")]) + chunked(payload, 16384))
                        r = c.read_response()
                        record("disruptor", f"status {r.status}")
                        if r.status != 413:
                            unexpected(f"over-limit-chunked: {r}")
                    except (PeerClosed, ConnectionResetError, BrokenPipeError):
                        record("disruptor", "closed")
                    c.close()
                elif kind == "expect":
                    c = Conn(port)
                    body = seq_body([rows[1]])
                    c.send(request_bytes("POST", "/score", None, [("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
                    line = c._line()
                    c._line()
                    if not line.startswith(b"HTTP/1.1 100"):
                        unexpected(f"expect: {line!r}")
                    c.send(body)
                    r = c.read_response()
                    record("disruptor", f"status {r.status}")
                    if r.status not in (200, 429):
                        unexpected(f"expect: {r}")
                    c.close()
                elif kind == "pipelined":
                    c = Conn(port, timeout=60)
                    c.send(request_bytes("POST", "/score", seq_body([rows[2]])) + request_bytes("GET", "/healthz")
                           + request_bytes("POST", "/score", b"{oops") + request_bytes("POST", "/detokenize", b'{"tokens": [15496]}'))
                    got = [c.read_response().status for _ in range(4)]
                    record("disruptor", f"status {got[0]}")
                    if got[1:] != [200, 400, 200] or got[0] not in (200, 429):
                        unexpected(f"pipelined: {got}")
                    c.close()
                elif kind == "idle":
                    c = Conn(port)
                    time.sleep(rng.uniform(0.2, 1.5))
                    c.close()
                elif kind == "slow-body":
                    c = Conn(port)
                    body = seq_body([rows[3]])
                    c.send(request_bytes("POST", "/score", None, [("Content-Length", str(len(body)))]))
                    for i in range(0, len(body), max(1, len(body) // 8)):
                        c.send(body[i:i + max(1, len(body) // 8)])
                        time.sleep(0.05)
                    r = c.read_response()
                    record("disruptor", f"status {r.status}")
                    if r.status not in (200, 429):
                        unexpected(f"slow-body: {r}")
                    c.close()
            except (PeerClosed, ConnectionResetError, BrokenPipeError) as e:
                if kind not in ("partial-headers", "partial-body", "leave-mid-batch", "leave-rst", "connect-close", "over-limit-chunked"):
                    unexpected(f"{kind}: {e!r}")
            except Exception as e:  # noqa: BLE001
                unexpected(f"{kind}: {e!r}")
            stop.wait(rng.uniform(0.0, 0.05))

    try:
        idle_fds = server.settled_fds()
        # Warm up every route and buffer before the starting figures: the mixed traffic, a batch of
        # max_batch_tokens (the engine's workspace grows to the largest batch it has run, once) and a
        # large response (top-k over 2,048 positions, ~1 MB of JSON).
        run_wrk(ctx, f"http://127.0.0.1:{port}", "mixed.lua", 3, 16)
        one_request(port, "POST", "/score", seq_body(make_rows(305, 16, 256, 256, vocab=50257)), timeout=120)
        one_request(port, "POST", "/score", seq_body(make_rows(306, 8, 256, 256, vocab=50257), top_k=20, probabilities=True), timeout=120)
        fds0 = server.wait_fds(idle_fds, conn_timeout + 5)
        rss0, threads0 = server.rss_mb(), server.threads()
        counts0 = server.status_counts()
        note(f"soak start: RSS {rss0:.1f} MB, fds {fds0}, threads {threads0}")
        sampler = Sampler(server, 5.0 if seconds >= 300 else 1.0)
        sampler.start()
        workers = [threading.Thread(target=validator, args=(i,), daemon=True) for i in range(2)]
        workers += [threading.Thread(target=disruptor, args=(100 + i,), daemon=True) for i in range(3)]
        for w in workers:
            w.start()
        mixed = run_wrk(ctx, f"http://127.0.0.1:{port}", "mixed.lua", seconds, 16, timeout_s=60)
        stop.set()
        for w in workers:
            w.join()
        sampler.stop()
        fds_end = server.wait_fds(fds0, conn_timeout + 5)
        rss_end = server.rss_mb()
        time.sleep(0.5)
        counts1 = server.status_counts()
        delta = {s: counts1.get(s, 0) - counts0.get(s, 0) for s in counts1}
        delta = {s: n for s, n in sorted(delta.items()) if n}
        samples = sampler.samples
        rss_series = [s[1] for s in samples]
        warm_i = max(0, len(samples) // 5)
        rss_warm = rss_series[warm_i] if rss_series else rss0
        rss_max = max(rss_series + [rss_end])
        # Slope over the second half (least squares), MB per minute.
        half = samples[len(samples) // 2:]
        slope = 0.0
        if len(half) >= 3:
            mt = sum(s[0] for s in half) / len(half)
            mr = sum(s[1] for s in half) / len(half)
            num = sum((s[0] - mt) * (s[1] - mr) for s in half)
            den = sum((s[0] - mt) ** 2 for s in half) or 1
            slope = 60 * num / den
        note(f"soak traffic: wrk mixed 16 connections {wrk_summary(mixed)}")
        note(f"soak Python clients: validator {stats['validator']}, disruptor {stats['disruptor']}")
        note(f"soak server statuses (from /metrics): {delta}; total {sum(delta.values())} requests in {seconds} s")
        server5xx = sum(n for s, n in delta.items() if s >= 500)
        wrk5xx = sum(n for s, n in mixed["statuses"].items() if s >= 500)
        check(S, "zero-5xx",
              server5xx == 0 and wrk5xx == 0 and stats["fivexx"] == 0,
              f"server counted {server5xx} 5xx of {sum(delta.values())}; wrk saw {wrk5xx}; Python clients {stats['fivexx']}")
        check(S, "answers-as-expected",
              not stats["unexpected"] and mixed["socket_errors"] == 0 and mixed["bad_body"] == 0
              and {400, 404, 405, 422, 200} <= set(mixed["statuses"]) and 413 in delta,
              f"wrk socket errors {mixed['socket_errors']}, bad bodies {int(mixed['bad_body'])}, statuses seen by wrk "
              f"{sorted(mixed['statuses'])}; Python unexpected {stats['unexpected'][:3]}")
        growth_limit = max(16.0, 0.15 * rss_warm)
        check(S, "rss-flat",
              rss_end - rss_warm <= growth_limit and rss_max - rss_warm <= growth_limit + 16,
              f"RSS start {rss0:.1f} MB, after warm-up (t={samples[warm_i][0] if samples else 0:.0f} s) {rss_warm:.1f} MB, "
              f"end {rss_end:.1f} MB, max {rss_max:.1f} MB, VmHWM {server.hwm_mb():.1f} MB, second-half slope {slope:+.2f} MB/min "
              f"({len(samples)} samples; end - warm must be <= {growth_limit:.0f} MB)")
        threads_end = server.threads()
        check(S, "no-leaked-fds",
              fds_end == fds0,
              f"server fds start {fds0} end {fds_end} (max during {max(s[2] for s in samples) if samples else '-'}); "
              f"threads start {threads0} end {threads_end}")
        check(S, "server-healthy", server.alive() and not server.problems_in_log() and one_request(port, "GET", "/healthz").status == 200,
              f"alive, /healthz 200, error lines {server.problems_in_log()[:2]}")
        with open(os.path.join(ctx.workdir, "soak_samples.csv"), "w") as f:
            f.write("seconds,rss_mb,fds,threads\n")
            for t, r, n, th in samples:
                f.write(f"{t:.1f},{r:.2f},{n},{th}\n")
        if samples:
            step = max(1, len(samples) // 10)
            note("soak RSS MB / fds over time: " + ", ".join(
                f"{t:.0f}s {r:.1f}/{f}" for t, r, f, _ in samples[::step] + [samples[-1]]))
        ctx.soak_samples = samples
    finally:
        rc = server.stop()
        check(S, "clean-exit", rc == 0, f"exit status {rc}")


# ----------------------------------------------------------------------------------------------------
# Section: graceful shutdown under load


def section_shutdown(ctx):
    S = "shutdown"
    drain_timeout = 20
    queue_tokens = 1024  # 64 requests queued: the 256 connections overload it, ~1 s of work in flight at SIGTERM
    server = Server(ctx, "shutdown", max_queued_tokens=queue_tokens, drain_timeout=drain_timeout,
                    prefix_cache_bytes=0)   # as in overload: wrk's one repeated body must be scored
    port = server.port
    rows = make_rows(404, 4, 12, 30)
    refs = reference_logprobs(ctx, rows)
    url = f"http://127.0.0.1:{port}/score"
    # Sustainable rate on this server, to aim wrk at ~4x.
    run_wrk(ctx, url, "paced.lua", 2, 8, ["none", 0, 8, 1])
    sustained = run_wrk(ctx, url, "paced.lua", 4, 32, ["none", 0, 32, 1])
    rate = sustained["statuses"].get(200, 0) / sustained["duration_s"]
    wrk_proc, wrk_cmd = start_wrk(ctx, url, "paced.lua", 60, 256, ["rate", f"{4 * rate:.0f}", 256, 1])
    records = []  # (client, t_send, outcome, status, t_done, closes, correct)
    lock = threading.Lock()
    done = threading.Event()
    term = {"t": None}

    def observer(i):
        k = i % len(rows)
        body = seq_body([rows[k]])
        c = None
        refused = 0
        while not done.is_set():
            try:
                if c is None:
                    c = Conn(port, timeout=drain_timeout + 10, connect_timeout=2)
            except (ConnectionRefusedError, OSError):
                with lock:
                    records.append((i, time.monotonic(), "connect-refused", None, time.monotonic(), False, None))
                refused += 1
                if refused >= 3:
                    return
                time.sleep(0.05)
                continue
            t_send = time.monotonic()
            try:
                c.send(request_bytes("POST", "/score", body))
                r = c.read_response()
                correct = None
                if r.status == 200:
                    d = max_diff(logprobs_of(r.json()), [refs[k]])
                    correct = d is not None and d <= 1e-4
                elif r.status == 503:
                    correct = r.json()["error"]["code"] == "draining"
                with lock:
                    records.append((i, t_send, "answered", r.status, time.monotonic(), r.closes, correct))
                if r.closes:
                    c.close()
                    c = None
            except (PeerClosed, ConnectionResetError, BrokenPipeError) as e:
                with lock:
                    records.append((i, t_send, "reset", None, time.monotonic(), True, None))
                c.close()
                c = None
            except socket.timeout:
                with lock:
                    records.append((i, t_send, "hung", None, time.monotonic(), False, None))
                c.close()
                c = None
            time.sleep(0.01)
        if c:
            c.close()

    observers = [threading.Thread(target=observer, args=(i,), daemon=True) for i in range(24)]
    for t in observers:
        t.start()
    time.sleep(ctx.durations["shutdown_load"])
    queued_before = server.metrics().get("lmscore_queue_depth", -1)
    t_term = time.monotonic()
    term["t"] = t_term
    server.proc.send_signal(signal.SIGTERM)
    # A fresh connection right after SIGTERM: 503 draining with Connection: close, or refused.
    fresh = []
    for _ in range(5):
        time.sleep(0.05)
        try:
            r = one_request(port, "POST", "/score", seq_body([rows[0]]), timeout=drain_timeout + 5)
            fresh.append((round(time.monotonic() - t_term, 2), r.status, r.closes,
                          r.json().get("error", {}).get("code") if r.status != 200 else "ok"))
        except (ConnectionRefusedError, PeerClosed, ConnectionResetError, BrokenPipeError) as e:
            fresh.append((round(time.monotonic() - t_term, 2), "refused", True, type(e).__name__))
    try:
        rc = server.proc.wait(drain_timeout + 10)
    except subprocess.TimeoutExpired:
        rc = None
    t_exit = time.monotonic()
    exit_s = t_exit - t_term
    time.sleep(0.3)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        after_exit = "connected (!)"
    except ConnectionRefusedError:
        after_exit = "refused"
    except OSError as e:
        after_exit = repr(e)
    done.set()
    for t in observers:
        t.join(5)
    wrk_proc.send_signal(signal.SIGINT)
    try:
        wrk_out, _ = wrk_proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        wrk_proc.kill()
        wrk_out, _ = wrk_proc.communicate()
    server.log_file.close()
    log = server.log()
    m = re.search(r"draining: (\d+) requests in flight", log)
    in_flight = int(m.group(1)) if m else None

    # What the server itself logged between "draining:" and "stopped": every request it answered then.
    drain_log = log[log.find("draining:"):] if "draining:" in log else ""
    drain_statuses = {}
    for m2 in re.finditer(r"\] POST /score (\d{3}) ", drain_log):
        drain_statuses[int(m2.group(1))] = drain_statuses.get(int(m2.group(1)), 0) + 1
    drain_gone = drain_log.count("client went away")

    before = [r for r in records if r[1] < t_term]
    after = [r for r in records if r[1] >= t_term]
    before_unanswered = [r for r in before if r[2] != "answered"]
    before_statuses = {}
    for r in before:
        before_statuses[r[3] or r[2]] = before_statuses.get(r[3] or r[2], 0) + 1
    after_statuses = {}
    for r in after:
        after_statuses[r[3] or r[2]] = after_statuses.get(r[3] or r[2], 0) + 1
    answered_during_drain = [r for r in before if r[2] == "answered" and r[3] == 200 and r[4] >= t_term]
    wrong = [r for r in records if r[2] == "answered" and r[6] is False]
    bad_status = [r for r in records if r[2] == "answered" and r[3] not in (200, 429, 503)]
    bad_503 = [r for r in records if r[3] == 503 and not r[5]]
    hung = [r for r in records if r[2] == "hung"]
    note(f"shutdown: sustainable {rate:.0f} req/s, wrk at {4 * rate:.0f} req/s on 256 connections + 24 observer clients; "
         f"queue depth at SIGTERM {queued_before:.0f}; server log: {in_flight} requests in flight at SIGTERM")
    note(f"observer requests sent before SIGTERM: {before_statuses}; sent after: {after_statuses}")
    note(f"server access log from SIGTERM to exit: POST /score answers {dict(sorted(drain_statuses.items()))}, "
         f"'client went away' {drain_gone}")
    wrk_line = next((l for l in wrk_out.splitlines() if l.startswith("HARDEN ")), "")
    note(f"wrk (killed after the exit; its errors after SIGTERM are connections the stopped server closed): {wrk_line}")
    # Proof that requests in flight at SIGTERM are answered with their scores: an observer's request
    # answered 200 during the drain, checked against the reference. The observers share a full queue with
    # 256 wrk connections, so at the moment of SIGTERM none of theirs may be admitted (most of their
    # requests get 429 at once; CI saw that once: 757 of 1045). Then the server's own access log after
    # "draining:" stands in: the 200s it answered to wrk's in-flight requests.
    drained_200 = drain_statuses.get(200, 0)
    check(S, "in-flight-answered",
          not before_unanswered and not wrong and not bad_status and not hung and (in_flight or 0) > 0
          and (answered_during_drain or drained_200 > 0),
          f"{len(before)} observer requests sent before SIGTERM: {len(before) - len(before_unanswered)} answered "
          f"({len(answered_during_drain)} of them 200 during the drain; the server answered {drained_200} with 200 "
          f"during it), unanswered {before_unanswered[:3]}; "
          f"wrong scores {len(wrong)}, unexpected statuses {bad_status[:3]}, hung {len(hung)}; "
          f"server reported {in_flight} in flight at SIGTERM")
    fresh_ok = all((s == 503 and closes and code == "draining") or s == "refused" for _, s, closes, code in fresh)
    after_ok = all(r[2] in ("answered", "reset", "connect-refused") for r in after) and not [r for r in after if r[3] == 200 and r[1] > t_term + 0.5]
    check(S, "new-connections-refused",
          fresh_ok and after_ok and after_exit == "refused" and not bad_503,
          f"fresh requests after SIGTERM (s after, status, Connection: close, code): {fresh}; observer requests after "
          f"SIGTERM: {after_statuses}; every 503 carried Connection: close: {not bad_503}; connect after exit: {after_exit}")
    check(S, "exit-0-within-drain_timeout",
          rc == 0 and exit_s <= drain_timeout and "drain_timeout reached" not in log,
          f"exit status {rc} {exit_s:.2f} s after SIGTERM (drain_timeout {drain_timeout} s); "
          f"'drain_timeout reached' in log: {'drain_timeout reached' in log}")


# ----------------------------------------------------------------------------------------------------


class Context:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=["ci", "full"], default="ci")
    ap.add_argument("--only", default="overload,hostile,bodies,soak,shutdown")
    ap.add_argument("--workdir")
    ap.add_argument("--soak-seconds", type=int, help="override the soak's duration")
    args = ap.parse_args()
    ctx = Context()
    ctx.bin = os.path.abspath(args.bin)
    ctx.model = os.path.abspath(args.model)
    ctx.workdir = args.workdir or tempfile.mkdtemp(prefix="lmscore-hardening-")
    os.makedirs(ctx.workdir, exist_ok=True)
    ctx.durations = {
        "ci": {"baseline": 4, "sustain": 6, "overload": 15, "soak": 40, "shutdown_load": 4},
        "full": {"baseline": 10, "sustain": 15, "overload": 60, "soak": 600, "shutdown_load": 10},
    }[args.mode]
    if args.soak_seconds:
        ctx.durations["soak"] = args.soak_seconds
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
    print(f"lmscore hardening ({args.mode}): {ctx.bin}, model {ctx.model}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, logs in {ctx.workdir}", flush=True)
    started = time.monotonic()
    sections = {"overload": section_overload, "hostile": section_hostile, "bodies": section_bodies, "soak": section_soak,
                "shutdown": section_shutdown}
    for name in args.only.split(","):
        t = time.monotonic()
        print(f"--- {name}", flush=True)
        try:
            sections[name](ctx)
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            check(name, "completed", False, f"the section stopped: {e!r}")
        print(f"--- {name}: {time.monotonic() - t:.0f} s", flush=True)
    failed = [r for r in RESULTS if not r[2]]
    print(f"SUMMARY: {len(RESULTS) - len(failed)}/{len(RESULTS)} checks passed, {len(failed)} failed "
          f"({args.mode} mode, {time.monotonic() - started:.0f} s)"
          + (": " + ", ".join(f"{s}/{n}" for s, n, _, _ in failed) if failed else ""), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
