#!/usr/bin/env python3
"""Validate real lmscore HTTP exchanges against openapi.yaml.

1. The spec itself is checked with openapi-spec-validator.
2. Real requests are sent to a running `lmscore serve` (raw sockets, so Content-Length, chunked and
   partial bodies are exactly what we say), and every response — status, headers, body — is validated
   with openapi-core against the operation it belongs to. Requests are validated too: a request the
   server accepts must satisfy the spec, and a request the server rejects with 422 for a reason the
   schema can express must be rejected by the spec as well.
3. Each case also checks what the spec's descriptions promise (status, error code and param, array
   alignment, loss = -sum/N, perplexity = exp(loss), sliding-window counts, …).

404 (unknown path) and 405 (known path, wrong method) are, by their nature, not operations of the spec;
they are validated with openapi-core against the spec's own `#/components/responses/NotFound` and
`MethodNotAllowed`, through a copy of the spec that adds the requested method/path pointing at them.

Optional phases:
  --loading-url URL   a second server whose model is still loading (check_openapi.sh blocks its load on
                      a FIFO): 503 `loading` answers.
  --drain-pid PID     the PID of the server at --base-url: the checker sends it SIGTERM at the end,
                      with a request in flight, and validates the `draining` answers. The caller checks
                      that the process then exits 0.
429 and 504 need --request-timeout and --max-queued-tokens (the server's settings) and a server slow
enough to keep one batch running for a few seconds; otherwise they are reported as skipped
(validated by schema only). 500 and the 503 `failed` health body cannot be provoked from outside and
are validated by schema only.

Prints one line per case and ends with `openapi: N passed, M failed`. Exit status 0 only when nothing
failed.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

try:
    import yaml
    from openapi_core import Config, OpenAPI
    from openapi_core.datatypes import RequestParameters
    from openapi_spec_validator import validate as validate_spec
    from werkzeug.datastructures import Headers, ImmutableMultiDict
except ImportError as error:  # pragma: no cover
    sys.exit(f"check_openapi.py: missing Python package ({error}); run Scripts/check_openapi.sh, "
             "or pip install openapi-core openapi-spec-validator")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = os.path.join(os.path.dirname(HERE), "openapi.yaml")


# --------------------------------------------------------------------------------------------------
# HTTP over raw sockets


@dataclass
class Exchange:
    method: str
    path: str                      # path + query as sent
    req_headers: dict[str, str]
    req_body: Optional[bytes]
    status: int = 0
    headers: Optional[Headers] = None
    body: bytes = b""
    seconds: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name) if self.headers is not None else None


class Client:
    def __init__(self, base_url: str, timeout: float = 60.0):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise SystemExit(f"--base-url must be http://HOST:PORT, got {base_url!r}")
        self.host, self.port = url.hostname, url.port or 80
        self.host_url = f"http://{self.host}:{self.port}"
        self.timeout = timeout

    def connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def head_bytes(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    @staticmethod
    def read_response(sock: socket.socket, ex: Exchange) -> Exchange:
        response = http.client.HTTPResponse(sock, method=ex.method)
        response.begin()
        ex.status = response.status
        ex.headers = Headers(response.getheaders())
        ex.body = response.read()
        return ex

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict[str, str]] = None, *, send_body: bool = True,
                chunked: bool = False) -> Exchange:
        """One request on a fresh connection. `send_body=False` sends only the headers (with the
        Content-Length the body would have, or the one given in `headers`)."""
        headers = dict(headers or {})
        if body is not None and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        elif body is not None:
            headers.setdefault("Content-Length", str(len(body)))
        ex = Exchange(method, path, headers, body)
        start = time.monotonic()
        with self.connect() as sock:
            data = self.head_bytes(method, path, headers)
            if body is not None and send_body:
                if chunked:
                    for i in range(0, len(body), 1000):
                        piece = body[i:i + 1000]
                        data += b"%x\r\n" % len(piece) + piece + b"\r\n"
                    data += b"0\r\n\r\n"
                else:
                    data += body
            sock.sendall(data)
            self.read_response(sock, ex)
        ex.seconds = time.monotonic() - start
        return ex

    def post_json(self, path: str, payload: Any) -> Exchange:
        return self.request("POST", path, json.dumps(payload, separators=(",", ":")).encode())


# --------------------------------------------------------------------------------------------------
# openapi-core adapters (the Request/Response protocols of openapi_core.protocols)


class OARequest:
    def __init__(self, host_url: str, ex: Exchange):
        split = urllib.parse.urlsplit(ex.path)
        self.host_url = host_url
        self.path = split.path
        self.method = ex.method.lower()
        self.body = ex.req_body
        self.content_type = ex.req_headers.get("Content-Type", "").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(urllib.parse.parse_qsl(split.query)),
            header=Headers(ex.req_headers), cookie=ImmutableMultiDict(), path={})


class OAResponse:
    def __init__(self, ex: Exchange):
        self.status_code = ex.status
        self.headers = ex.headers
        self.content_type = (ex.header("Content-Type") or "").lower()
        self.data = ex.body


def describe(error: BaseException) -> str:
    """openapi-core wraps schema errors in a chain of exceptions whose text repeats the whole value:
    name the chain, then list each JSON Schema error with its place in the body."""
    chain, seen, details = [], set(), []
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(type(current).__name__)
        for e in getattr(current, "schema_errors", None) or []:
            where = "/".join(str(p) for p in getattr(e, "absolute_path", []))
            message = str(getattr(e, "message", e))
            details.append(f"  at {where or '(root)'}: {message[:300]}")
        current = current.__cause__ or current.__context__
    if not details:
        details.append(f"  {str(error)[:500]}")
    return " <- ".join(chain) + "\n" + "\n".join(details[:8])


# --------------------------------------------------------------------------------------------------
# The checker


class CaseFailure(Exception):
    pass


class KnownMismatch(Exception):
    """A behaviour that contradicts README/spec and is already reported: XFAIL, not a failure."""


@dataclass
class Outcome:
    name: str
    status: str        # PASS, FAIL, SKIP, XFAIL, XPASS
    detail: str = ""


@dataclass
class Checker:
    spec_path: str
    client: Client
    strict_known: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    vocab: int = 0
    npos: int = 0
    model_name: str = ""
    per_token: Optional[float] = None     # seconds per token of a stride-1 sequence (calibrated once)
    max_tokens: int = 0                   # most tokens of such a sequence within max_body_bytes

    def __post_init__(self) -> None:
        with open(self.spec_path, encoding="utf-8") as f:
            self.spec = yaml.safe_load(f)
        self._apps: dict[str, OpenAPI] = {}

    # ---- bookkeeping

    def record(self, name: str, status: str, detail: str = "") -> None:
        self.outcomes.append(Outcome(name, status, detail))
        line = f"{status:5} {name}"
        if detail:
            line += "\n" + "\n".join("        " + l for l in detail.splitlines())
        print(line, flush=True)

    def run_case(self, name: str, body: Callable[[], None]) -> None:
        try:
            body()
        except KnownMismatch as known:
            self.record(name, "FAIL" if self.strict_known else "XFAIL", f"known mismatch: {known}")
        except CaseFailure as failure:
            self.record(name, "FAIL", str(failure))
        except (OSError, http.client.HTTPException) as error:
            self.record(name, "FAIL", f"HTTP error: {type(error).__name__}: {error}")
        except Exception as error:  # e.g. a body that is not the JSON its Content-Type says
            self.record(name, "FAIL", f"{type(error).__name__}: {error}")
        else:
            self.record(name, "PASS")

    # ---- spec handling

    def app(self, extra: Optional[tuple[str, str, str]] = None) -> OpenAPI:
        """openapi-core for the spec; `extra` = (path, method, response component) adds an operation
        that answers with that component (for 404/405, which no listed operation can return)."""
        key = repr(extra)
        if key not in self._apps:
            spec = self.spec
            if extra is not None:
                path, method, component = extra
                spec = copy.deepcopy(self.spec)
                status = {"NotFound": "404", "MethodNotAllowed": "405"}[component]
                spec["paths"].setdefault(path, {})[method.lower()] = {
                    "responses": {status: {"$ref": f"#/components/responses/{component}"}}}
            # The spec was validated once on its own (the first case); skip re-validating copies.
            self._apps[key] = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
        return self._apps[key]

    def validate(self, ex: Exchange, *, request_valid: Optional[bool],
                 extra: Optional[tuple[str, str, str]] = None) -> None:
        app = self.app(extra)
        request = OARequest(self.client.host_url, ex)
        errors = []
        if request_valid is not None:
            try:
                app.validate_request(request)
                accepted = True
                why = ""
            except Exception as error:  # openapi-core raises several unrelated exception types
                accepted = False
                why = describe(error)
            if accepted != request_valid:
                if request_valid:
                    errors.append(f"the spec rejects a request the server handled:\n{why}")
                else:
                    errors.append("the spec accepts a request the server rejected "
                                  f"({ex.status}): the request schema is too loose")
        try:
            app.validate_response(request, OAResponse(ex))
        except Exception as error:
            errors.append(f"response does not match the spec:\n{describe(error)}")
        if errors:
            raise CaseFailure(self.context(ex) + "\n" + "\n".join(errors))

    @staticmethod
    def context(ex: Exchange) -> str:
        sent = (ex.req_body or b"")[:160]
        got = ex.body[:400]
        headers = dict(ex.headers.items()) if ex.headers is not None else {}
        return (f"{ex.method} {ex.path} body={sent!r}\n-> {ex.status} {headers}\n   {got!r}")

    # ---- common expectations

    def expect(self, ex: Exchange, status: int, code: Optional[str] = None, param: Any = ...,
               known: Optional[str] = None) -> None:
        if ex.status != status:
            raise CaseFailure(f"expected status {status}\n{self.context(ex)}")
        if code is not None:
            error = ex.json().get("error", {})
            problems = []
            if error.get("code") != code:
                problems.append(f"expected code {code!r}, got {error.get('code')!r}")
            if param is not ... and error.get("param") != param:
                problems.append(f"expected param {param!r}, got {error.get('param')!r}")
            if problems:
                message = "; ".join(problems) + "\n" + self.context(ex)
                if known:
                    raise KnownMismatch(f"{known}: " + message)
                raise CaseFailure(message)
        if known:
            # The expectation held: the known mismatch is gone (fixed); drop the `known` mark.
            self.record("(note)", "XPASS", f"known mismatch no longer seen, remove its mark: {known}")

    # ---------------------------------------------------------------------------------------------
    # Phases

    def check_spec(self) -> None:
        def body() -> None:
            if str(self.spec.get("openapi", "")) != "3.1.0":
                raise CaseFailure(f"openapi version is {self.spec.get('openapi')!r}, expected 3.1.0")
            try:
                validate_spec(self.spec)
            except Exception as error:
                raise CaseFailure(describe(error))
        self.run_case("spec: openapi.yaml is a valid OpenAPI 3.1 document (openapi-spec-validator)", body)

    def phase_basics(self, vocab: Optional[int], npos: Optional[int]) -> bool:
        c = self.client

        def health() -> None:
            ex = c.request("GET", "/healthz")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            self.model_name = ex.json()["model"]
        self.run_case("GET /healthz -> 200 ok", health)

        def head() -> None:
            ex = c.request("HEAD", "/healthz")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            if ex.body:
                raise CaseFailure(f"HEAD answered with a body: {ex.body[:80]!r}")
        self.run_case("HEAD /healthz -> 200, no body", head)

        def model() -> None:
            ex = c.request("GET", "/v1/model")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            info = ex.json()
            self.vocab = vocab or info["vocab_size"]
            self.npos = npos or info["n_positions"]
            if self.model_name and info["name"] != self.model_name:
                raise CaseFailure(f"/v1/model name {info['name']!r} != /healthz model {self.model_name!r}")
        self.run_case("GET /v1/model -> 200", model)
        if not self.vocab or not self.npos:
            if vocab and npos:
                self.vocab, self.npos = vocab, npos
            else:
                self.record("vocab_size and n_positions known", "FAIL",
                            "GET /v1/model failed and --vocab-size/--n-positions were not given: stopping")
                return False

        def metrics() -> None:
            ex = c.request("GET", "/metrics")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            text = ex.body.decode()
            for series in ("lmscore_requests_total", "lmscore_request_duration_seconds",
                           "lmscore_queue_depth"):
                if series not in text:
                    raise CaseFailure(f"/metrics lacks {series}\n{text[:300]}")
        self.run_case("GET /metrics -> 200 text/plain", metrics)
        return True

    # ---- /score 200s

    def score_ok(self, name: str, payload: dict, *, request_valid: Optional[bool] = True) -> None:
        def body() -> None:
            ex = self.client.post_json("/score", payload)
            self.validate(ex, request_valid=request_valid)
            self.expect(ex, 200)
            self.check_semantics(payload, ex.json())
        self.run_case(name, body)

    def check_semantics(self, payload: dict, response: dict) -> None:
        """What the descriptions promise about a 200 body."""
        problems: list[str] = []
        def close(a: float, b: float, tol: float = 1e-9) -> bool:
            return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
        top_k = payload.get("top_k") or 0
        probabilities = bool(payload.get("probabilities"))
        if "sequences" in payload and payload["sequences"] is not None:
            rows = payload["sequences"]
            targets = [[None] + r[1:] for r in rows]
            window = payload.get("window") or {}
            stride = window.get("stride") or self.npos // 2
        else:
            rows = payload["inputs"]
            targets = [[None if t == -100 else t for t in r] for r in payload["targets"]]
            stride = None
        if response.get("model") != self.model_name:
            problems.append(f"model {response.get('model')!r} != {self.model_name!r}")
        results = response["results"]
        if len(results) != len(rows):
            problems.append(f"{len(results)} results for {len(rows)} rows")
        total_sum, total_n, perplexities = 0.0, 0, []
        for r, (row, tgt, res) in enumerate(zip(rows, targets, results)):
            where = f"results[{r}]"
            n = len(row)
            for key in ["logprobs", "greedy"] + (["top"] if top_k else []) + (["probs"] if probabilities else []):
                if len(res.get(key, [])) != n:
                    problems.append(f"{where}.{key} has {len(res.get(key, []))} entries for {n} tokens")
            for key, wanted in (("top", top_k > 0), ("probs", probabilities)):
                if (key in res) != wanted:
                    problems.append(f"{where}.{key} {'missing' if wanted else 'present though not asked for'}")
            scored = [i for i, t in enumerate(tgt) if t is not None]
            nulls = [i for i, lp in enumerate(res["logprobs"]) if lp is None]
            if sorted(set(range(n)) - set(scored)) != nulls:
                problems.append(f"{where}.logprobs nulls at {nulls}, expected at unscored positions "
                                f"{sorted(set(range(n)) - set(scored))}")
            if [g is None for g in res["greedy"]] != [lp is None for lp in res["logprobs"]]:
                problems.append(f"{where}.greedy nulls do not line up with logprobs nulls")
            if res["scored_tokens"] != len(scored):
                problems.append(f"{where}.scored_tokens {res['scored_tokens']} != {len(scored)}")
            s = sum(lp for lp in res["logprobs"] if lp is not None)
            if not close(s, res["sum_logprob"], 1e-9):
                problems.append(f"{where}.sum_logprob {res['sum_logprob']} != Σ logprobs {s}")
            if scored:
                loss = -res["sum_logprob"] / len(scored)
                if res["loss"] is None or not close(res["loss"], loss):
                    problems.append(f"{where}.loss {res['loss']} != -sum/N {loss}")
                elif res["perplexity"] is None or not close(res["perplexity"], math.exp(res["loss"])):
                    problems.append(f"{where}.perplexity {res['perplexity']} != exp(loss)")
                perplexities.append(res["perplexity"])
            elif res["loss"] is not None or res["perplexity"] is not None:
                problems.append(f"{where}: loss/perplexity should be null with nothing scored")
            greedy_all = all(g for g in res["greedy"] if g is not None)
            if res["is_greedy"] != greedy_all:
                problems.append(f"{where}.is_greedy {res['is_greedy']} but greedy flags say {greedy_all}")
            if probabilities:
                for i, (p, lp) in enumerate(zip(res["probs"], res["logprobs"])):
                    if (p is None) != (lp is None) or (p is not None and not close(p, math.exp(lp), 1e-9)):
                        problems.append(f"{where}.probs[{i}] {p} != exp(logprobs[{i}])")
                        break
            if top_k:
                for i, (top, lp) in enumerate(zip(res["top"], res["logprobs"])):
                    if (top is None) != (lp is None):
                        problems.append(f"{where}.top[{i}] null-ness differs from logprobs[{i}]")
                        break
                    if top is None:
                        continue
                    values = [v for _, v in top]
                    if len(top) != min(top_k, self.vocab) or values != sorted(values, reverse=True):
                        problems.append(f"{where}.top[{i}] is not {top_k} entries best first: {top}")
                        break
                    if lp > values[0] + 1e-6:
                        problems.append(f"{where}: logprob {lp} above the best alternative {values[0]}")
                        break
                    if res["greedy"][i] and tgt[i] != top[0][0] and not close(lp, values[0], 1e-6):
                        problems.append(f"{where}.greedy[{i}] true but target {tgt[i]} is not top[0] {top[0]}")
                        break
            if stride is not None and n > self.npos:
                step = max(1, min(stride, self.npos - 1))
                expected_windows = 1 + math.ceil((n - self.npos) / step)
            else:
                expected_windows = 1
            if res["windows"] != expected_windows:
                problems.append(f"{where}.windows {res['windows']}, expected {expected_windows}")
            total_sum += res["sum_logprob"]
            total_n += res["scored_tokens"]
        batch = response["batch"]
        if batch["scored_tokens"] != total_n:
            problems.append(f"batch.scored_tokens {batch['scored_tokens']} != {total_n}")
        if total_n:
            if batch["loss"] is None or not close(batch["loss"], -total_sum / total_n):
                problems.append(f"batch.loss {batch['loss']} != token-weighted {-total_sum / total_n}")
            elif not close(batch["perplexity"], math.exp(batch["loss"])):
                problems.append("batch.perplexity != exp(batch.loss)")
            mean = sum(perplexities) / len(perplexities)
            if batch["mean_perplexity"] is None or not close(batch["mean_perplexity"], mean):
                problems.append(f"batch.mean_perplexity {batch['mean_perplexity']} != mean of rows {mean}")
        elif any(batch[k] is not None for k in ("loss", "perplexity", "mean_perplexity")):
            problems.append("batch loss/perplexity/mean_perplexity should be null with nothing scored")
        if problems:
            raise CaseFailure("response contradicts the documented semantics:\n" + "\n".join(problems[:10]))

    def phase_score(self) -> None:
        V, N = self.vocab, self.npos
        tok = lambda i: (i * 37 + 11) % V
        seq = lambda n, off=0: [tok(i + off) for i in range(n)]
        self.score_ok("POST /score sequences -> 200", {"sequences": [seq(5)]})
        self.score_ok("POST /score sequences, rows of 1..N tokens (1 token: nothing scored, nulls) -> 200",
                      {"sequences": [seq(1), seq(2, 3), seq(N, 7)]})
        self.score_ok("POST /score sequences + top_k=3 + probabilities -> 200",
                      {"sequences": [seq(6), seq(3, 1)], "top_k": 3, "probabilities": True})
        self.score_ok("POST /score sequences + top_k=0 + probabilities=false (neither field) -> 200",
                      {"sequences": [seq(4)], "top_k": 0, "probabilities": False})
        self.score_ok("POST /score inputs+targets with -100 -> 200",
                      {"inputs": [seq(4), seq(3, 5)], "targets": [seq(4, 1)[:2] + [-100, tok(9)],
                                                                  [-100, tok(1), tok(2)]]})
        self.score_ok("POST /score inputs+targets, all targets -100 (loss null) -> 200",
                      {"inputs": [seq(3)], "targets": [[-100, -100, -100]]})
        self.score_ok("POST /score inputs+targets + top_k=20 + probabilities, row of n_positions -> 200",
                      {"inputs": [seq(N)], "targets": [seq(N, 1)], "top_k": 20, "probabilities": True})
        long_len = 2 * N + N // 2 + 3
        self.score_ok(f"POST /score sequence of {long_len} > n_positions={N}, default stride -> 200",
                      {"sequences": [seq(long_len)]})
        self.score_ok(f"POST /score sequence of {long_len} + window.stride={N} (used as {N - 1}) + top_k=2 "
                      "+ probabilities -> 200",
                      {"sequences": [seq(long_len), seq(3)], "window": {"stride": N}, "top_k": 2,
                       "probabilities": True})
        self.score_ok(f"POST /score sequence of {N + 5} + window.stride=1 -> 200",
                      {"sequences": [seq(N + 5)], "window": {"stride": 1}})
        self.score_ok("POST /score short sequence + window {} -> 200 (1 window)",
                      {"sequences": [seq(3)], "window": {}})
        # The server treats null as absent; the spec does not advertise null, so only the response counts.
        self.score_ok("POST /score with \"top_k\": null (server: same as absent) -> 200",
                      {"sequences": [seq(3)], "top_k": None}, request_valid=None)

    # ---- /score errors

    def error_case(self, name: str, status: int, code: str, *, method: str = "POST", path: str = "/score",
                   body: Optional[bytes] = None, payload: Any = ..., param: Any = ...,
                   request_valid: Optional[bool] = False, extra: Optional[tuple[str, str, str]] = None,
                   allow: Optional[str] = None, known: Optional[str] = None, **request_options: Any) -> None:
        def run() -> None:
            data = body
            if payload is not ...:
                data = json.dumps(payload, separators=(",", ":")).encode()
            ex = self.client.request(method, path, data, **request_options)
            self.validate(ex, request_valid=request_valid, extra=extra)
            self.expect(ex, status, code, param, known=known)
            if allow is not None and ex.header("Allow") != allow:
                raise CaseFailure(f"Allow: {ex.header('Allow')!r}, expected {allow!r}\n{self.context(ex)}")
        self.run_case(name, run)

    def phase_errors(self, max_body_bytes: Optional[int]) -> None:
        V, N = self.vocab, self.npos
        e = self.error_case
        # 400
        e("POST /score truncated JSON -> 400 malformed_json", 400, "malformed_json", body=b'{"sequences": [[1, 2]')
        e("POST /score empty body -> 400 malformed_json", 400, "malformed_json", body=b"")
        e("POST /score not JSON at all -> 400 malformed_json", 400, "malformed_json", body=b"sequences=1,2")
        # 404 / 405: validated against the spec's NotFound / MethodNotAllowed components
        for method, path in (("GET", "/nope"), ("GET", "/score/"), ("POST", "/v2/score"), ("GET", "/")):
            e(f"{method} {path} -> 404 not_found", 404, "not_found", method=method, path=path,
              body=b"{}" if method == "POST" else None, request_valid=None,
              extra=(path, method, "NotFound"))
        for method, path, allow in (("DELETE", "/score", "POST"), ("GET", "/score", "POST"),
                                    ("PUT", "/score", "POST"), ("POST", "/healthz", "GET, HEAD"),
                                    ("POST", "/metrics", "GET"), ("DELETE", "/v1/model", "GET")):
            e(f"{method} {path} -> 405 method_not_allowed, Allow: {allow}", 405, "method_not_allowed",
              method=method, path=path, body=b"{}" if method in ("POST", "PUT") else None,
              request_valid=None, extra=(path, method, "MethodNotAllowed"), allow=allow)
        # 413
        e("POST /score, Content-Length 1 GiB + 1, headers only -> 413 body_too_large (before reading)", 413,
          "body_too_large", body=b"{}", headers={"Content-Length": str((1 << 30) + 1)}, send_body=False,
          request_valid=None)
        if max_body_bytes:
            big = json.dumps({"sequences": [[1] * ((max_body_bytes + 200) // 2)]}).encode()
            e(f"POST /score chunked body of {len(big)} bytes > max_body_bytes={max_body_bytes} -> 413", 413,
              "body_too_large", body=big, chunked=True, request_valid=None)
            e(f"GET /v1/model with a {len(big)}-byte body -> 413", 413, "body_too_large", method="GET",
              path="/v1/model", body=big, request_valid=None)
        else:
            self.record("POST /score chunked body over max_body_bytes -> 413", "SKIP",
                        "needs --max-body-bytes")
        # 422: request_valid=False where the schema itself can tell (the spec must reject it too);
        # None where only the model knows (vocab_size, n_positions) or the rule spans fields.
        cases: list[tuple[str, Any, str, Any, Optional[bool]]] = [
            ("unknown top-level field", {"sequences": [[1, 2]], "temperature": 1}, "unknown_field", "temperature", False),
            ("unknown field in window", {"sequences": [[1, 2]], "window": {"size": 4}}, "unknown_field", "window.size", False),
            ("neither sequences nor inputs", {"top_k": 1}, "missing_field", "sequences", False),
            ("inputs without targets", {"inputs": [[1, 2]]}, "missing_field", "targets", False),
            ("targets without inputs", {"targets": [[1, 2]]}, "missing_field", "inputs", False),
            ("both forms", {"sequences": [[1]], "inputs": [[1]], "targets": [[2]]}, "invalid_value", "sequences", False),
            ("body is an array", [[1, 2]], "invalid_type", None, False),
            ("sequences is a string", {"sequences": "1 2 3"}, "invalid_type", "sequences", False),
            ("token id 2.5", {"sequences": [[1, 2.5]]}, "invalid_type", "sequences[0][1]", False),
            ("token id as a string", {"sequences": [[1, "2"]]}, "invalid_type", "sequences[0][1]", False),
            ("top_k as a string", {"sequences": [[1, 2]], "top_k": "3"}, "invalid_type", "top_k", False),
            ("top_k 21", {"sequences": [[1, 2]], "top_k": 21}, "invalid_value", "top_k", False),
            ("top_k -1", {"sequences": [[1, 2]], "top_k": -1}, "invalid_value", "top_k", False),
            ("probabilities 1", {"sequences": [[1, 2]], "probabilities": 1}, "invalid_type", "probabilities", False),
            ("window is a number", {"sequences": [[1, 2]], "window": 5}, "invalid_type", "window", False),
            ("window.stride 0", {"sequences": [[1, 2]], "window": {"stride": 0}}, "invalid_value", "window.stride", False),
            (f"window.stride n_positions+1={N + 1}", {"sequences": [[1, 2]], "window": {"stride": N + 1}},
             "invalid_value", "window.stride", None),
            ("window with inputs", {"inputs": [[1]], "targets": [[2]], "window": {"stride": 2}}, "invalid_value", "window", False),
            ("empty sequences", {"sequences": []}, "invalid_value", "sequences", False),
            ("empty row", {"sequences": [[1], []]}, "invalid_value", "sequences[1]", False),
            (f"token id vocab_size={V}", {"sequences": [[1, 2, V]]}, "invalid_value", "sequences[0][2]", None),
            ("token id -1", {"sequences": [[1, -1]]}, "invalid_value", "sequences[0][1]", False),
            ("-100 in sequences", {"sequences": [[1, -100]]}, "invalid_value", "sequences[0][1]", False),
            ("token id 2^40", {"sequences": [[1, 1 << 40]]}, "invalid_value", "sequences[0][1]", None),
            ("target -5", {"inputs": [[1, 2]], "targets": [[2, -5]]}, "invalid_value", "targets[0][1]", False),
            ("2 target rows for 1 input row", {"inputs": [[1, 2]], "targets": [[2, 3], [4, 5]]}, "invalid_value", "targets", None),
            ("target row shorter than its input row", {"inputs": [[1, 2, 3]], "targets": [[2, 3]]}, "invalid_value", "targets[0]", None),
            (f"inputs row of n_positions+1={N + 1}", {"inputs": [[1] * (N + 1)], "targets": [[2] * (N + 1)]},
             "invalid_value", "inputs[0]", None),
        ]
        for what, payload, code, param, valid in cases:
            e(f"POST /score {what} -> 422 {code} param={param}", 422, code, payload=payload, param=param,
              request_valid=valid)

    # ---- 429 and 504

    @staticmethod
    def slow_payload(tokens: int) -> dict:
        """A sequence scored with stride 1: one forward window of n_positions tokens per scored token,
        the most work per request byte."""
        return {"sequences": [[i % 10 for i in range(tokens)]], "window": {"stride": 1}}

    def calibrate(self, max_body_bytes: Optional[int]) -> Optional[tuple[float, int]]:
        """(seconds per token of a stride-1 sequence on this server, most tokens a body may hold)."""
        if self.per_token is None:
            cap = int(0.9 * (max_body_bytes or (8 << 20))) // 2 - 50
            tokens = min(2000, cap)
            probe = self.client.post_json("/score", self.slow_payload(tokens))
            if probe.status != 200:
                self.record("calibration: a stride-1 sequence of 2000 tokens -> 200", "FAIL", self.context(probe))
                return None
            self.per_token, self.max_tokens = probe.seconds / tokens, cap
        return self.per_token, self.max_tokens

    def phase_queue(self, request_timeout: Optional[float], max_queued: Optional[int],
                    max_body_bytes: Optional[int]) -> None:
        names = ("POST /score while the queue holds more than max_queued_tokens -> 429 queue_full + Retry-After",
                 "POST /score queued longer than request_timeout -> 504 request_timeout",
                 "POST /score, the long request in flight during 429/504 -> 200")
        def skip(why: str) -> None:
            for n in names:
                self.record(n, "SKIP", why + " (validated by schema only)")
        if not request_timeout or not max_queued:
            return skip("needs --request-timeout and --max-queued-tokens")
        # A (long) runs; B waits in the queue behind it and times out; C would put more than
        # max_queued_tokens in the queue. (A request reaching an empty queue is always admitted.)
        b_tokens = max(1, max_queued // 2)
        c_tokens = max_queued - b_tokens + 1
        payload_b = {"sequences": [[(i % 9) + 1 for i in range(b_tokens)]]}
        payload_c = {"sequences": [[(i % 9) + 1 for i in range(c_tokens)]]}
        calibration = self.calibrate(max_body_bytes)
        if calibration is None:
            return
        per_token, max_tokens = calibration
        if c_tokens > max_tokens:
            return skip(f"max_queued_tokens={max_queued} cannot be exceeded within max_body_bytes")
        for attempt in (1, 2):
            # A must outlast B's arrival (0.4 s) plus request_timeout by far.
            a_tokens = min(int(attempt * (request_timeout + 2.5) / per_token) + 1, max_tokens)
            if a_tokens * per_token < request_timeout + 1.0:
                return skip(f"server too fast for max_body_bytes: a {a_tokens}-token request takes "
                            f"~{a_tokens * per_token:.2f} s, request_timeout is {request_timeout} s")
            results: dict[str, Exchange] = {}
            def send(key: str, payload: dict) -> None:
                try:
                    results[key] = self.client.post_json("/score", payload)
                except Exception as error:  # reported below
                    results[key] = Exchange("POST", "/score", {}, None, status=-1, body=repr(error).encode())
            start = time.monotonic()
            thread_a = threading.Thread(target=send, args=("A", self.slow_payload(a_tokens)))
            thread_a.start()
            time.sleep(0.4)                       # A decoded and running (its decode takes milliseconds)
            thread_b = threading.Thread(target=send, args=("B", payload_b))
            thread_b.start()
            time.sleep(0.3)                       # B queued behind A
            c_sent = time.monotonic() - start
            send("C", payload_c)
            thread_b.join(120)
            thread_a.join(120)
            a, b, cc = results.get("A"), results.get("B"), results.get("C")
            timing = (f"A: {a_tokens} tokens, stride 1, estimated {a_tokens * per_token:.2f} s, took "
                      f"{a.seconds if a else float('nan'):.2f} s; B sent at 0.4 s, C at {c_sent:.2f} s")
            pattern = tuple(x.status if x else None for x in (a, b, cc))
            if pattern == (200, 504, 429) or attempt == 2:
                break
            # The harness lost the race (A finished before B/C came, or B overtook A): once more, slower.
            print(f"note: queue scenario statuses A/B/C = {pattern}, expected (200, 504, 429); {timing}; "
                  "retrying with a request twice as long", flush=True)

        def check_c() -> None:
            assert cc is not None
            self.validate(cc, request_valid=True)
            self.expect(cc, 429, "queue_full", None)
            retry = cc.header("Retry-After")
            if retry is None or not retry.isdigit() or int(retry) < 1:
                raise CaseFailure(f"Retry-After {retry!r} is not a positive integer")
        def check_b() -> None:
            assert b is not None
            self.validate(b, request_valid=True)
            self.expect(b, 504, "request_timeout", None)
        def check_a() -> None:
            assert a is not None
            self.validate(a, request_valid=True)
            self.expect(a, 200)
            self.check_semantics(self.slow_payload(a_tokens), a.json())
        for name, check in zip(names, (check_c, check_b, check_a)):
            def wrapped(check: Callable[[], None] = check) -> None:
                try:
                    check()
                except CaseFailure as failure:
                    raise CaseFailure(f"{failure}\n{timing}")
            self.run_case(name, wrapped)

    # ---- loading server

    def phase_loading(self, url: str) -> None:
        loading = Client(url, timeout=10)
        saved = self.client
        self.client = loading
        try:
            def health() -> None:
                ex = loading.request("GET", "/healthz")
                self.validate(ex, request_valid=True)
                self.expect(ex, 503)
                if ex.json() != {"status": "loading"}:
                    raise CaseFailure(f"expected {{\"status\":\"loading\"}}\n{self.context(ex)}")
            self.run_case("[loading] GET /healthz -> 503 {\"status\":\"loading\"}", health)

            def head() -> None:
                ex = loading.request("HEAD", "/healthz")
                self.validate(ex, request_valid=True)
                self.expect(ex, 503)
            self.run_case("[loading] HEAD /healthz -> 503", head)
            self.error_case("[loading] GET /v1/model -> 503 loading", 503, "loading", method="GET",
                            path="/v1/model", param=None, request_valid=True)
            self.error_case("[loading] POST /score -> 503 loading", 503, "loading", payload={"sequences": [[1, 2]]},
                            param=None, request_valid=True)
            self.error_case("[loading] DELETE /score -> 405", 405, "method_not_allowed", method="DELETE",
                            request_valid=None, extra=("/score", "DELETE", "MethodNotAllowed"), allow="POST")

            def metrics() -> None:
                ex = loading.request("GET", "/metrics")
                self.validate(ex, request_valid=True)
                self.expect(ex, 200)
            self.run_case("[loading] GET /metrics -> 200", metrics)
        finally:
            self.client = saved

    # ---- drain (last: the server goes away)

    def phase_drain(self, pid: int, max_body_bytes: Optional[int]) -> None:
        c = self.client
        # Two requests in flight at SIGTERM:
        # 1. one being scored (a stride-1 sequence lasting ~2 s): it must be answered 200;
        calibration = self.calibrate(max_body_bytes)
        scoring: dict[str, Exchange] = {}
        slow = self.slow_payload(min(int(2.0 / calibration[0]) + 1, calibration[1])) if calibration else None
        def send_slow() -> None:
            try:
                scoring["A"] = c.post_json("/score", slow)
            except Exception as error:
                scoring["A"] = Exchange("POST", "/score", {}, None, status=-1, body=repr(error).encode())
        thread = threading.Thread(target=send_slow)
        if slow:
            thread.start()
        # 2. one whose body is still arriving: headers and part of the body sent, the rest held back.
        body = json.dumps({"sequences": [[1, 2, 3, 4]]}).encode()
        held = c.connect()
        held.sendall(c.head_bytes("POST", "/score", {"Content-Type": "application/json",
                                                     "Content-Length": str(len(body))}) + body[:7])
        time.sleep(0.4)
        os.kill(pid, signal.SIGTERM)

        def health() -> None:
            deadline = time.monotonic() + 10
            while True:
                ex = c.request("GET", "/healthz")
                if ex.status != 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            self.validate(ex, request_valid=True)
            self.expect(ex, 503)
            if ex.json() != {"status": "draining"}:
                raise CaseFailure(f"expected {{\"status\":\"draining\"}}\n{self.context(ex)}")
        self.run_case("[draining] GET /healthz -> 503 {\"status\":\"draining\"}", health)

        def score() -> None:
            ex = c.post_json("/score", {"sequences": [[1, 2]]})
            self.validate(ex, request_valid=True)
            self.expect(ex, 503, "draining", None)
            if (ex.header("Connection") or "").lower() != "close":
                raise CaseFailure(f"draining answer without Connection: close\n{self.context(ex)}")
        self.run_case("[draining] POST /score -> 503 draining + Connection: close", score)
        self.error_case("[draining] GET /v1/model -> 503 draining", 503, "draining", method="GET",
                        path="/v1/model", param=None, request_valid=True)

        def metrics() -> None:
            ex = c.request("GET", "/metrics")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
        self.run_case("[draining] GET /metrics -> 200", metrics)

        def in_flight() -> None:
            ex = Exchange("POST", "/score", {"Content-Type": "application/json"}, body)
            held.sendall(body[7:])
            held.settimeout(30)
            Client.read_response(held, ex)
            held.close()
            self.validate(ex, request_valid=True)
            # Its body was still arriving when SIGTERM came: it is answered (503 draining), not dropped.
            self.expect(ex, 503, "draining", None)
        self.run_case("[draining] a request whose body was still arriving at SIGTERM is answered (503 draining)",
                      in_flight)

        def scored() -> None:
            thread.join(120)
            ex = scoring.get("A")
            if ex is None:
                raise CaseFailure("the request being scored at SIGTERM got no answer")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            self.check_semantics(slow, ex.json())
        if slow:
            self.run_case("[draining] the request being scored at SIGTERM is answered 200", scored)

    # ---- summary

    def summary(self) -> int:
        counts = {s: sum(1 for o in self.outcomes if o.status == s) for s in ("PASS", "FAIL", "SKIP", "XFAIL", "XPASS")}
        failed = [o for o in self.outcomes if o.status == "FAIL"]
        if failed:
            print("\nFAILED:")
            for o in failed:
                print(f"  {o.name}")
        if counts["SKIP"]:
            print("\nskipped (validated by schema only): "
                  + "; ".join(o.name for o in self.outcomes if o.status == "SKIP"))
        if counts["XFAIL"]:
            print("\nknown mismatches between the server and README/spec (not counted as failures; "
                  "--strict-known to fail on them):")
            for o in self.outcomes:
                if o.status == "XFAIL":
                    print(f"  {o.name}: {o.detail.splitlines()[0]}")
        print("\nnot provoked from outside, validated by schema only: 500 internal, /healthz 503 "
              "{\"status\":\"failed\"}, non-finite numbers as strings")
        extra = []
        if counts["SKIP"]:
            extra.append(f"{counts['SKIP']} skipped")
        if counts["XFAIL"]:
            extra.append(f"{counts['XFAIL']} known mismatches")
        if extra:
            print("openapi: " + ", ".join(extra))
        print(f"openapi: {counts['PASS']} passed, {counts['FAIL']} failed")
        return 1 if counts["FAIL"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="the running server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--spec", default=DEFAULT_SPEC, help="default: openapi.yaml at the repository root")
    parser.add_argument("--vocab-size", type=int, help="default: from GET /v1/model")
    parser.add_argument("--n-positions", type=int, help="default: from GET /v1/model")
    parser.add_argument("--max-body-bytes", type=int, help="the server's max_body_bytes (enables the chunked 413 cases)")
    parser.add_argument("--request-timeout", type=float, help="the server's request_timeout (enables 504)")
    parser.add_argument("--max-queued-tokens", type=int, help="the server's max_queued_tokens (enables 429)")
    parser.add_argument("--loading-url", help="a server still loading its model (enables the 503 loading cases)")
    parser.add_argument("--drain-pid", type=int,
                        help="PID of the --base-url server: SIGTERM it at the end and check the draining answers")
    parser.add_argument("--strict-known", action="store_true", help="count known mismatches as failures")
    args = parser.parse_args()

    for url in filter(None, (args.base_url, args.loading_url)):
        host = urllib.parse.urlsplit(url).hostname or ""
        if not (host == "localhost" or host.startswith("127.") or host == "::1"):
            print(f"note: {url} is not a loopback address", file=sys.stderr)

    started = time.monotonic()
    checker = Checker(args.spec, Client(args.base_url), strict_known=args.strict_known)
    checker.check_spec()
    if args.loading_url:
        checker.phase_loading(args.loading_url)
    if checker.phase_basics(args.vocab_size, args.n_positions):
        checker.phase_score()
        checker.phase_errors(args.max_body_bytes)
        checker.phase_queue(args.request_timeout, args.max_queued_tokens, args.max_body_bytes)
        if args.drain_pid:
            checker.phase_drain(args.drain_pid, args.max_body_bytes)
    print(f"\n{len(checker.outcomes)} cases in {time.monotonic() - started:.1f} s against {args.base_url}")
    return checker.summary()


if __name__ == "__main__":
    sys.exit(main())
