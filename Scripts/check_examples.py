#!/usr/bin/env python3
"""Runs the examples marked in README.md and docs/api.md and compares their output with the text shown.

    Scripts/check_examples.py --bin .build/debug/lmscore [--update] [FILE...]

The marking convention (docs/development.md, "Checked examples"):
  <!-- example -->                 before a fenced block marks it;
  <!-- example fresh-server -->    the same, against a server started for that block alone.
  <!-- example two-models -->      the same, against a server of two models started for that block:
                                   the bundled model (the default) and its BF16 copy "bf16" (BF16_COPY,
                                   written by Scripts/make_bf16_copy.py when missing; CLI examples may
                                   name that path too).
  In a marked block, a line starting with "$ " is a command and the lines up to the next "$ " line are
  its expected standard output. A block without "$ " lines is one command as a user would copy it; its
  expected output is the next fenced block, which follows a line "<!-- output -->".

Commands run in bash from the repository root: "localhost:8080" is rewritten to the checker's server,
".build/release/lmscore" and "lmscore" run the binary under test. Numbers compare within 1e-9 relative;
JSON lines compare as JSON with "created", "kernel" and "cmpl-…" ids masked. --update rewrites the expected output
of every example that differs (after a kernel change moves the last digits). It also checks that the
README's set-up command installs what .ci/run installs, and that every relative link of README.md and
docs/*.md leads to an existing file and heading. Standard library only.
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FILES = ["README.md", "docs/api.md"]
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12
MARK = re.compile(r"^<!-- example( fresh-server| two-models)? -->\s*$")
BUNDLED = os.path.join(REPO, "Models", "lmscore-gpt2-small-en")
BF16_COPY = "/tmp/lmscore-gpt2-small-en-bf16"
OUTPUT_MARK = "<!-- output -->"
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
COMPLETION_ID = re.compile(r"^cmpl-[0-9a-f]+$")
# "created" is a clock reading; "kernel" names the CPU's matrix-kernel path (avx512, avx2 or portable)
# and "prefix_cache_bytes" defaults to 1/8 of the memory: both depend on the machine the check runs on.
MASKED_KEYS = {"created", "kernel", "prefix_cache_bytes"}


@dataclass
class Command:
    text: str
    expected: list          # the lines shown
    first: int              # index in the file's lines of the first expected line
    end: int                # index one past the last expected line


@dataclass
class Example:
    path: str
    line: int               # 1-based line of the mark
    fresh_server: bool
    commands: list = field(default_factory=list)
    two_models: bool = False


def fence_end(lines, start, path):
    """Index of the closing fence of the block opened at lines[start]."""
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("```"):
            return i
    sys.exit(f"check_examples: {path}:{start + 1}: unclosed fenced block")


def parse(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    examples = []
    i = 0
    while i < len(lines):
        mark = MARK.match(lines[i])
        if not mark:
            i += 1
            continue
        where = f"{path}:{i + 1}"
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            sys.exit(f"check_examples: {where}: a mark must be followed by a fenced block")
        example = Example(path, i + 1, bool(mark.group(1)), two_models=mark.group(1) == " two-models")
        open_line = i + 1
        close_line = fence_end(lines, open_line, path)
        body = list(range(open_line + 1, close_line))
        if any(lines[j].startswith("$ ") for j in body):
            if not lines[body[0]].startswith("$ "):
                sys.exit(f"check_examples: {where}: the block must start with a \"$ \" command")
            starts = [j for j in body if lines[j].startswith("$ ")] + [close_line]
            for a, b in zip(starts, starts[1:]):
                example.commands.append(Command(lines[a][2:], lines[a + 1:b], a + 1, b))
            i = close_line + 1
        else:
            j = close_line + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j >= len(lines) or lines[j].strip() != OUTPUT_MARK or not lines[j + 1].startswith("```"):
                sys.exit(f"check_examples: {where}: a block without \"$ \" lines needs {OUTPUT_MARK} "
                         "and a fenced output block after it")
            out_open = j + 1
            out_close = fence_end(lines, out_open, path)
            example.commands.append(Command("\n".join(lines[k] for k in body),
                                            lines[out_open + 1:out_close], out_open + 1, out_close))
            i = out_close + 1
        examples.append(example)
    return lines, examples


# ---- comparing

def numbers_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)


def json_equal(shown, actual, key=None):
    if key in MASKED_KEYS:
        return type(shown) is type(actual)
    if isinstance(shown, list) and isinstance(actual, list):
        return len(shown) == len(actual) and all(json_equal(s, a) for s, a in zip(shown, actual))
    if isinstance(shown, tuple) and isinstance(actual, tuple):   # an object: (key, value) pairs in order
        return (len(shown) == len(actual)
                and all(sk == ak and json_equal(sv, av, sk) for (sk, sv), (ak, av) in zip(shown, actual)))
    if isinstance(shown, (int, float)) and isinstance(actual, (int, float)):
        return numbers_equal(shown, actual)
    if isinstance(shown, str) and isinstance(actual, str) and COMPLETION_ID.match(shown):
        return COMPLETION_ID.match(actual) is not None
    return type(shown) is type(actual) and shown == actual


def as_json(line):
    if not line.startswith(("{", "[")):
        return None
    try:
        return json.loads(line, object_pairs_hook=tuple)
    except ValueError:
        return None


def text_equal(shown, actual):
    """Equal outside numbers; numbers within tolerance."""
    if NUMBER.sub("#", shown) != NUMBER.sub("#", actual):
        return False
    pairs = zip(NUMBER.findall(shown), NUMBER.findall(actual))
    return all(s == a or numbers_equal(float(s), float(a)) for s, a in pairs)


def line_equal(shown, actual):
    shown_json, actual_json = as_json(shown), as_json(actual)
    if shown_json is not None and actual_json is not None:
        return json_equal(shown_json, actual_json)
    return text_equal(shown, actual)


def output_equal(shown, actual):
    return len(shown) == len(actual) and all(line_equal(s, a) for s, a in zip(shown, actual))


# ---- running

def ensure_bf16_copy():
    """BF16_COPY from the bundled model, unless it was written already."""
    if os.path.exists(os.path.join(BF16_COPY, "model.safetensors")) and os.path.exists(os.path.join(BF16_COPY, "config.json")):
        return
    subprocess.run([sys.executable, os.path.join(REPO, "Scripts", "make_bf16_copy.py"), BUNDLED, BF16_COPY], check=True,
                   stdout=subprocess.DEVNULL)


class Server:
    """`lmscore serve` on the bundled model, on a port it picks, with no LMSCORE_* setting inherited."""

    def __init__(self, binary, workdir, models=None):
        """`models`: --model arguments (default: none, the bundled model)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LMSCORE_")}
        env["LMSCORE_THREADS"] = "2"   # the shown figures were made with 2 threads
        self.log_path = os.path.join(workdir, f"server-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        # From the work directory, so that the repository's Config/lmscore.json is not read.
        arguments = [a for m in (models or []) for a in ("--model", m)]
        self.process = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", "0"] + arguments, cwd=workdir,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        self.port = self._wait_port()
        self._wait_ready()

    def _log_text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _wait_port(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"listening on 127\.0\.0\.1:(\d+);", self._log_text())
            if found:
                return int(found.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        sys.exit(f"check_examples: the server did not start; its log:\n{self._log_text()}")

    def _wait_ready(self):
        """Waits for the log's "ready" line rather than polling /healthz: a poll would show in /metrics."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if re.search(r"model\(s\) loaded", self._log_text()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        sys.exit(f"check_examples: the server never became ready; its log:\n{self._log_text()}")

    def stop(self):
        """SIGTERM drains; the server must exit 0."""
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = "killed after 30 s"
        self.log.close()
        return status


def run(command, binary, port, bindir):
    text = command.replace(".build/release/lmscore", binary)
    if port is not None:
        text = text.replace("localhost:8080", f"127.0.0.1:{port}")
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(["bash", "-c", text], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=120)
    out = result.stdout.decode("utf-8", errors="replace")
    if out.endswith("\n"):
        out = out[:-1]
    return out.split("\n") if out else []


def check_packages():
    """The README's set-up command installs exactly what CI (.ci/run) installs."""
    def packages(path, pattern):
        with open(os.path.join(REPO, path), encoding="utf-8") as f:
            found = re.search(pattern, f.read(), re.MULTILINE)
        if not found:
            sys.exit(f"check_examples: no apt-get install line in {path}")
        return {word for word in found.group(1).split() if not word.startswith("-")}
    readme = packages("README.md", r"apt-get install (.*?)(?:&&|$)")
    ci = packages(".ci/run", r"apt-get install (.*?)(?:>|&&|$)")
    if readme != ci:
        return [f"README.md set-up installs {sorted(readme)}, .ci/run installs {sorted(ci)}"]
    return []


def heading_anchors(path):
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            heading = re.match(r"^#+\s+(.*)", line)
            if heading:
                anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def check_links():
    """Every relative link of README.md and docs/*.md names a file that exists and, with #, a heading in it."""
    failures = []
    pages = ["README.md"] + sorted(os.path.relpath(os.path.join(REPO, "docs", name), REPO)
                                   for name in os.listdir(os.path.join(REPO, "docs")) if name.endswith(".md"))
    for page in pages:
        with open(os.path.join(REPO, page), encoding="utf-8") as f:
            text = f.read()
        for link in re.finditer(r"\]\(([^)#\s]*)(#[^)\s]*)?\)", text):
            target, anchor = link.group(1), link.group(2)
            if re.match(r"^[a-z]+:", target):
                continue
            path = os.path.normpath(os.path.join(REPO, os.path.dirname(page), target)) if target else os.path.join(REPO, page)
            if not os.path.exists(path):
                failures.append(f"{page}: link to {target}: no such file")
            elif anchor and path.endswith(".md") and anchor[1:] not in heading_anchors(path):
                failures.append(f"{page}: link to {target}{anchor}: no such heading")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="the lmscore binary under test")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the shown output of every example that differs")
    parser.add_argument("files", nargs="*", default=DEFAULT_FILES, help="Markdown files, relative to the repo")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    started = time.monotonic()

    workdir = tempfile.mkdtemp(prefix="lmscore-examples.")
    bindir = os.path.join(workdir, "bin")
    os.mkdir(bindir)
    os.symlink(binary, os.path.join(bindir, "lmscore"))
    failures = check_packages()
    passed = 0 if failures else 1
    link_failures = check_links()
    passed += 0 if link_failures else 1
    failures += link_failures
    shared = None
    try:
        for path in args.files:
            lines, examples = parse(path)
            replacements = []
            for example in examples:
                server = None
                if example.two_models or any(BF16_COPY in c.text for c in example.commands):
                    ensure_bf16_copy()
                if example.two_models:
                    server = Server(binary, workdir, [f"lmscore-gpt2-small-en={BUNDLED}", f"bf16={BF16_COPY}"])
                elif example.fresh_server:
                    server = Server(binary, workdir)
                elif any("localhost:8080" in c.text for c in example.commands):
                    shared = shared or Server(binary, workdir)
                    server = shared
                for command in example.commands:
                    actual = run(command.text, binary, server.port if server else None, bindir)
                    where = f"{path}:{command.first}"
                    if output_equal(command.expected, actual):
                        passed += 1
                    elif args.update:
                        replacements.append((command.first, command.end, actual))
                        print(f"UPDATED {where}: {command.text[:100]}")
                        passed += 1
                    else:
                        failures.append(f"{where}: {command.text[:100]}\n  shown:  "
                                        + "\n          ".join(command.expected)
                                        + "\n  actual: " + "\n          ".join(actual))
                if server is not None and server is not shared:
                    status = server.stop()
                    if status != 0:
                        failures.append(f"{path}:{example.line}: the fresh server exited {status} after SIGTERM")
            if replacements:
                for first, end, actual in sorted(replacements, reverse=True):
                    lines[first:end] = actual
                with open(os.path.join(REPO, path), "w", encoding="utf-8") as f:
                    f.write("\n".join(lines))
        if shared is not None:
            status = shared.stop()
            shared = None
            if status != 0:
                failures.append(f"the server exited {status} after SIGTERM")
    finally:
        if shared is not None:
            shared.process.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    for failure in failures:
        print(f"FAIL {failure}")
    print(f"check_examples: {passed} passed, {len(failures)} failed ({time.monotonic() - started:.1f} s)")
    if failures and not args.update:
        print("check_examples: if the change is intended (e.g. new kernels moved the last digits), "
              "run Scripts/check_examples.sh --update and review the diff")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
