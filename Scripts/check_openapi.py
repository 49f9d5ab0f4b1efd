#!/usr/bin/env python3
"""Validate real lmscore HTTP exchanges against openapi.yaml.

1. The spec itself is checked with openapi-spec-validator, and every example in it against its schema.
2. Real requests are sent to a running `lmscore serve` (raw sockets, so Content-Length, chunked and
   partial bodies are exactly what we say), and every response — status, headers, body — is validated
   with openapi-core against the operation it belongs to. Requests are validated too: a request the
   server accepts must satisfy the spec, and a request the server rejects with 422 for a reason the
   schema can express must be rejected by the spec as well.
3. Each case also checks what the spec's descriptions promise (status, error code and param, array
   alignment, loss = -sum/N, perplexity = exp(loss), sliding-window counts, `best` of a choices group,
   token texts and code point offsets, completions' greedy token and usage, …), and a few cases compare
   forms that must agree: `texts` vs `sequences` of /tokenize's ids, `choices` vs context + continuation
   as one sequence, /v1/completions' `token_logprobs` vs /score.

404 (unknown path) and 405 (known path, wrong method) are, by their nature, not operations of the spec;
they are validated with openapi-core against the spec's own `#/components/responses/NotFound` and
`MethodNotAllowed`, through a copy of the spec that adds the requested method/path pointing at them.

Optional phases:
  --loading-url URL   a second server whose model is still loading (check_openapi.sh blocks its load on
                      a FIFO): 503 `loading` answers.
  --text-url URL      a server whose model has GPT-2's tokenizer (check_openapi.sh: the bundled model):
                      /tokenize, /detokenize, /v1/completions, `texts` and `return_tokens` in /score.
                      When the --base-url model has no tokenizer (`tokenizer: none`), text input to it is
                      checked to get 422 `tokenizer_unavailable`.
  --drain-pid PID     the PID of the server at --base-url: the checker sends it SIGTERM at the end,
                      with a request in flight, and validates the `draining` answers. The caller checks
                      that the process then exits 0.
429 and 504 need --request-timeout and --max-queued-tokens (the server's settings) and a server slow
enough to keep one batch running for a few seconds; otherwise they are reported as skipped
(validated by schema only). 500 and the 503 `failed` health body cannot be provoked from outside and
are validated by schema only, and so are 429/504 on /v1/completions (same queue as /score) and
`finish_reason: "stop"` (no prompt is known to make the bundled model's greedy token `<|endoftext|>`).

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
import random
import re
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
# Token texts (TokenString) and code point offsets, as the spec describes them


def token_bytes(text: str) -> bytes:
    """A `TokenString`'s bytes: `bytes:\\xNN…` for a token that is not UTF-8 on its own, else its UTF-8."""
    if text.startswith("bytes:"):
        hexes = text[len("bytes:"):].split("\\x")
        if hexes[0] == "" and all(len(h) == 2 for h in hexes[1:]):
            return bytes(int(h, 16) for h in hexes[1:])
    return text.encode("utf-8")


def code_point_offsets(pieces: list[bytes]) -> Optional[list[int]]:
    """Where each piece starts in their concatenation, in code points; a piece starting inside a character
    gets that character's index. None when the concatenation is not UTF-8."""
    whole = b"".join(pieces)
    try:
        whole.decode("utf-8")
    except UnicodeDecodeError:
        return None
    offsets, start = [], 0
    for piece in pieces:
        leads = sum(1 for byte in whole[:start + 1] if byte & 0xC0 != 0x80)
        offsets.append(max(0, leads - 1) if start < len(whole) else leads)
        start += len(piece)
    return offsets


def token_text_problems(where: str, tokens: Any, offsets: Any, n: int, text: Optional[str]) -> list[str]:
    """`tokens` / `text_offset` of a /score row (or `token_strings` / `offsets` of /tokenize) against the
    row's n tokens and, for a text, the text itself."""
    problems = []
    if len(tokens) != n or len(offsets) != n:
        return [f"{where}: {len(tokens)} tokens and {len(offsets)} offsets for {n} tokens"]
    pieces = [token_bytes(t) for t in tokens]
    for i, (t, piece) in enumerate(zip(tokens, pieces)):
        if t.startswith("bytes:"):
            try:
                piece.decode("utf-8")
                problems.append(f"{where}: token {i} {t!r} is UTF-8 on its own and should be written as text")
            except UnicodeDecodeError:
                pass
    if text is not None and b"".join(pieces) != text.encode("utf-8"):
        problems.append(f"{where}: the tokens' bytes do not spell the text {text[:60]!r}")
    expected = code_point_offsets(pieces)
    if expected is not None and list(offsets) != expected:
        problems.append(f"{where}: offsets {offsets} != code point starts {expected}")
    elif expected is None and (list(offsets) != sorted(offsets) or (offsets and offsets[0] != 0)):
        problems.append(f"{where}: offsets {offsets} do not start at 0 and grow")
    return problems


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
    slow_payloads: int = 0                # slow payloads made so far (each one's seed)
    max_tokens: int = 0                   # most tokens of such a sequence within max_body_bytes
    tokenizer: str = ""                   # `tokenizer` of GET /v1/model
    tag: str = ""                         # prefixed to case names ("[text] " for the --text-url server)

    def __post_init__(self) -> None:
        with open(self.spec_path, encoding="utf-8") as f:
            self.spec = yaml.safe_load(f)
        self._apps: dict[str, OpenAPI] = {}

    # ---- bookkeeping

    def record(self, name: str, status: str, detail: str = "") -> None:
        name = self.tag + name
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
        self.run_case("spec: every example validates against its schema (JSON Schema 2020-12)", self.check_examples)

    def check_examples(self) -> None:
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
        base = "urn:lmscore-openapi"
        registry = Registry().with_resource(base, Resource.from_contents(self.spec, default_specification=DRAFT202012))
        esc = lambda part: str(part).replace("~", "~0").replace("/", "~1")
        found: list[tuple[str, str, Any]] = []
        def media(pointer: str, content: Optional[dict]) -> None:
            for media_type, obj in (content or {}).items():
                if "schema" not in obj:
                    continue
                schema = f"{pointer}/content/{esc(media_type)}/schema"
                if "example" in obj:
                    found.append((f"{pointer}/content/{media_type}/example", schema, obj["example"]))
                for name, example in (obj.get("examples") or {}).items():
                    if "value" in example:
                        found.append((f"{pointer}/content/{media_type}/examples/{name}", schema, example["value"]))
        for path, item in self.spec["paths"].items():
            for method, operation in item.items():
                where = f"/paths/{esc(path)}/{method}"
                media(f"{where}/requestBody", (operation.get("requestBody") or {}).get("content"))
                for status, response in operation.get("responses", {}).items():
                    media(f"{where}/responses/{status}", response.get("content"))
        for name, response in self.spec.get("components", {}).get("responses", {}).items():
            media(f"/components/responses/{esc(name)}", response.get("content"))
        problems = []
        for where, schema, value in found:
            validator = Draft202012Validator({"$ref": f"{base}#{schema}"}, registry=registry)
            for error in validator.iter_errors(value):
                place = "/".join(str(p) for p in error.absolute_path) or "(root)"
                problems.append(f"{where} at {place}: {error.message[:200]}")
        if not found:
            raise CaseFailure("no examples found")
        if problems:
            raise CaseFailure("\n".join(problems[:10]))

    def phase_basics(self, vocab: Optional[int], npos: Optional[int], tokenizer: Optional[str] = None) -> bool:
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
            self.tokenizer = info.get("tokenizer", "")
            self.npos = npos or info["n_positions"]
            if self.model_name and info["name"] != self.model_name:
                raise CaseFailure(f"/v1/model name {info['name']!r} != /healthz model {self.model_name!r}")
            if tokenizer is not None and info.get("tokenizer") != tokenizer:
                raise CaseFailure(f"/v1/model tokenizer {info.get('tokenizer')!r}, expected {tokenizer!r}")
        self.run_case(f"GET /v1/model -> 200{f' (tokenizer {tokenizer})' if tokenizer else ''}", model)
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
                           "lmscore_queue_depth", "lmscore_forward_tokens", "lmscore_http_body_bytes_in_flight",
                           "lmscore_http_bodies_refused_total", "lmscore_requests_cancelled_total"):
                if series not in text:
                    raise CaseFailure(f"/metrics lacks {series}\n{text[:300]}")
        self.run_case("GET /metrics -> 200 text/plain", metrics)

        def models() -> None:
            ex = c.request("GET", "/v1/models")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            entry = ex.json()["data"][0]   # the default model first
            if entry["id"] != self.model_name or entry["max_model_len"] != self.npos:
                raise CaseFailure(f"/v1/models entry {entry} does not name {self.model_name!r} with "
                                  f"max_model_len {self.npos}")
        self.run_case("GET /v1/models -> 200 (the served model, max_model_len = n_positions)", models)
        return True

    # ---- /score 200s

    def score_ok(self, name: str, payload: dict, *, request_valid: Optional[bool] = True) -> None:
        def body() -> None:
            ex = self.client.post_json("/score", payload)
            self.validate(ex, request_valid=request_valid)
            self.expect(ex, 200)
            self.check_semantics(payload, ex.json())
        self.run_case(name, body)

    def check_semantics(self, payload: dict, response: dict, ids: Optional[list[list[int]]] = None) -> None:
        """What the descriptions promise about a 200 body. `ids`: the token ids of `texts` (from /tokenize)."""
        problems: list[str] = []
        def close(a: float, b: float, tol: float = 1e-9) -> bool:
            return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
        top_k = payload.get("top_k") or 0
        probabilities = bool(payload.get("probabilities"))
        return_tokens = bool(payload.get("return_tokens"))
        results = response["results"]
        wheres: Optional[list[str]] = None
        if payload.get("sequences") is not None or payload.get("texts") is not None:
            rows = payload["sequences"] if payload.get("sequences") is not None else ids
            if rows is None:
                raise CaseFailure("check_semantics: the ids of `texts` are needed")
            targets = [[None] + r[1:] for r in rows]
            window = payload.get("window") or {}
            stride = window.get("stride") or self.npos // 2
        elif payload.get("choices") is not None:
            # One result per group; its continuations are rows whose every token is scored.
            groups = payload["choices"]
            rows, wheres, flat = [], [], []
            if len(results) != len(groups):
                problems.append(f"{len(results)} results for {len(groups)} choice groups")
            for g, (group, result) in enumerate(zip(groups, results)):
                got = result.get("continuations", [])
                if len(got) != len(group["continuations"]):
                    problems.append(f"results[{g}] has {len(got)} continuations, expected {len(group['continuations'])}")
                sums = [c["sum_logprob"] for c in got]
                if sums and result.get("best") != sums.index(max(sums)):
                    problems.append(f"results[{g}].best {result.get('best')} is not the first highest sum_logprob {sums}")
                for c, (continuation, row) in enumerate(zip(group["continuations"], got)):
                    rows.append(continuation)
                    wheres.append(f"results[{g}].continuations[{c}]")
                    flat.append(row)
            results = flat
            targets = [list(r) for r in rows]
            stride = None
        else:
            rows = payload["inputs"]
            targets = [[None if t == -100 else t for t in r] for r in payload["targets"]]
            stride = None
        served = payload.get("model") or self.model_name
        if response.get("model") != served:
            problems.append(f"model {response.get('model')!r} != {served!r}")
        if len(results) != len(rows):
            problems.append(f"{len(results)} results for {len(rows)} rows")
        total_sum, total_n, perplexities = 0.0, 0, []
        for r, (row, tgt, res) in enumerate(zip(rows, targets, results)):
            where = wheres[r] if wheres else f"results[{r}]"
            n = len(row)
            for key in ["logprobs", "greedy"] + (["top"] if top_k else []) + (["probs"] if probabilities else []):
                if len(res.get(key, [])) != n:
                    problems.append(f"{where}.{key} has {len(res.get(key, []))} entries for {n} tokens")
            for key, wanted in (("top", top_k > 0), ("probs", probabilities), ("tokens", return_tokens),
                                ("text_offset", return_tokens)):
                if (key in res) != wanted:
                    problems.append(f"{where}.{key} {'missing' if wanted else 'present though not asked for'}")
            if return_tokens and "tokens" in res and "text_offset" in res:
                problems += token_text_problems(where, res["tokens"], res["text_offset"], n,
                                                payload["texts"][r] if payload.get("texts") else None)
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
        self.score_ok("POST /score sequences + return_tokens=false (no tokenizer needed) -> 200",
                      {"sequences": [seq(3)], "return_tokens": False})
        # choices: one result per group, every continuation token scored, `best` the first highest sum
        groups = [{"context": seq(3), "continuations": [seq(2, 5), seq(1, 9), seq(4, 2)]},
                  {"context": seq(1, 4), "continuations": [seq(N - 1, 3)]}]
        self.score_ok("POST /score choices, 2 groups (context + continuation up to n_positions) -> 200",
                      {"choices": groups})
        self.score_ok("POST /score choices + top_k=2 + probabilities -> 200",
                      {"choices": groups[:1], "top_k": 2, "probabilities": True})
        self.score_ok("POST /score choices, two equal continuations -> 200 (best: the first)",
                      {"choices": [{"context": seq(2), "continuations": [seq(2, 7), seq(2, 7)]}]})
        self.same_as_sequences_case(groups[0])
        self.phase_two_models(seq, groups)

    def phase_two_models(self, seq: Callable, groups: list) -> None:
        """`statistics`, `model` and `reference` (the main server serves tiny and tiny2)."""
        N = self.npos
        self.score_ok("POST /score sequences + statistics [entropy, rank] -> 200",
                      {"sequences": [seq(6), seq(1)], "statistics": ["entropy", "rank"]})
        self.score_ok("POST /score sequences + model tiny2 -> 200", {"sequences": [seq(6)], "model": "tiny2"})
        self.score_ok(f"POST /score sequences (one of {2 * N + 3} tokens: windows) + reference tiny2 + statistics -> 200",
                      {"sequences": [seq(2 * N + 3), seq(5), seq(1)], "reference": "tiny2", "statistics": ["rank"]})
        self.score_ok("POST /score inputs+targets with -100 + reference tiny2 -> 200",
                      {"inputs": [seq(4)], "targets": [seq(3, 1) + [-100]], "reference": "tiny2"})
        self.score_ok("POST /score choices + reference tiny2 (model tiny2, reference tiny) -> 200",
                      {"choices": groups[:1], "model": "tiny2", "reference": "tiny"})

        def fields() -> None:
            ex = self.client.post_json("/score", {"sequences": [seq(20)], "reference": "tiny2"})
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            body = ex.json()
            row = body["results"][0]
            n = len(row["logprobs"])
            for key in ("kl", "delta_p", "same_top", "reference_logprobs", "cross_entropy"):
                if len(row[key]) != n or row[key][0] is not None or any(v is None for v in row[key][1:]):
                    raise CaseFailure(f"{key} is not aligned with logprobs: {row[key]}")
            if any(k < 0 for k in row["kl"][1:]) or body["batch"]["kld"]["positions"] != n - 1:
                raise CaseFailure(f"kl {row['kl']} or kld.positions {body['batch']['kld']['positions']} wrong")
            if body.get("reference") != "tiny2":
                raise CaseFailure(f"reference {body.get('reference')!r}")
        self.run_case("POST /score reference: per-position lists aligned with logprobs, batch.kld over the scored positions", fields)

        def refused(name: str, payload: dict, status: int, code: str, param: str) -> None:
            def body() -> None:
                ex = self.client.post_json("/score", payload)
                self.validate(ex, request_valid=None)
                self.expect(ex, status, code, param)
            self.run_case(name, body)
        refused("POST /score reference not served -> 404 model_not_found", {"sequences": [seq(3)], "reference": "nope"},
                404, "model_not_found", "reference")
        refused("POST /score reference = model -> 422", {"sequences": [seq(3)], "reference": "tiny"},
                422, "invalid_value", "reference")
        refused("POST /score model not served -> 404 model_not_found", {"sequences": [seq(3)], "model": "nope"},
                404, "model_not_found", "model")
        refused("POST /score statistics [\"perplexity\"] -> 422 unsupported_value", {"sequences": [seq(3)], "statistics": ["perplexity"]},
                422, "unsupported_value", "statistics[0]")

    def same_as_sequences_case(self, group: dict) -> None:
        """A continuation's scores are those of context + continuation scored as one sequence."""
        def body() -> None:
            payload = {"choices": [group]}
            ex = self.client.post_json("/score", payload)
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            self.check_semantics(payload, ex.json())
            reference = {"sequences": [group["context"] + c for c in group["continuations"]]}
            ref = self.client.post_json("/score", reference)
            self.validate(ref, request_valid=True)
            self.expect(ref, 200)
            k = len(group["context"])
            for c, (row, seq_row) in enumerate(zip(ex.json()["results"][0]["continuations"], ref.json()["results"])):
                expected = seq_row["logprobs"][k:]
                if len(row["logprobs"]) != len(expected) or any(
                        abs(a - b) > 1e-5 for a, b in zip(row["logprobs"], expected)):
                    raise CaseFailure(f"continuation {c}: logprobs {row['logprobs']} != the sequence's {expected}")
        self.run_case(f"POST /score choices on {self.model_name}: each continuation's logprobs = those of "
                      "context + continuation as one sequence (1e-5)", body)

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
        for method, path in (("GET", "/nope"), ("GET", "/score/"), ("POST", "/v2/score"), ("GET", "/"),
                             ("POST", "/v1/completions/"), ("POST", "/v1/chat/completions"), ("GET", "/v1")):
            e(f"{method} {path} -> 404 not_found", 404, "not_found", method=method, path=path,
              body=b"{}" if method == "POST" else None, request_valid=None,
              extra=(path, method, "NotFound"))
        for method, path, allow in (("DELETE", "/score", "POST"), ("GET", "/score", "POST"),
                                    ("PUT", "/score", "POST"), ("POST", "/healthz", "GET, HEAD"),
                                    ("POST", "/metrics", "GET, HEAD"), ("DELETE", "/v1/model", "GET, HEAD"),
                                    ("GET", "/tokenize", "POST"), ("PUT", "/detokenize", "POST"),
                                    ("GET", "/v1/completions", "POST"), ("POST", "/v1/models", "GET, HEAD"),
                                    ("POST", "/tokenizer_info", "GET, HEAD")):
            e(f"{method} {path} -> 405 method_not_allowed, Allow: {allow}", 405, "method_not_allowed",
              method=method, path=path, body=b"{}" if method in ("POST", "PUT") else None,
              request_valid=None, extra=(path, method, "MethodNotAllowed"), allow=allow)
        # 413
        e("POST /score, Content-Length 1 GiB + 1, headers only -> 413 body_too_large (before reading)", 413,
          "body_too_large", body=b"{}", headers={"Content-Length": str((1 << 30) + 1)}, send_body=False,
          request_valid=None)
        for path in ("/tokenize", "/detokenize", "/v1/completions"):
            e(f"POST {path}, Content-Length 1 GiB + 1, headers only -> 413 body_too_large (before reading)", 413,
              "body_too_large", path=path, body=b"{}", headers={"Content-Length": str((1 << 30) + 1)},
              send_body=False, request_valid=None)
        if max_body_bytes:
            big = json.dumps({"sequences": [[1] * ((max_body_bytes + 200) // 2)]}).encode()
            e(f"POST /v1/completions chunked body of {len(big)} bytes > max_body_bytes -> 413", 413,
              "body_too_large", path="/v1/completions", body=big, chunked=True, request_valid=None)
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
             "context_length_exceeded", "inputs[0]", None),
            # forms and options that belong to other forms
            ("choices and sequences", {"sequences": [[1]], "choices": [{"context": [1], "continuations": [[2]]}]},
             "invalid_value", "sequences", False),
            ("choices and targets", {"choices": [{"context": [1], "continuations": [[2]]}], "targets": [[1]]},
             "invalid_value", "targets", False),
            ("window with choices", {"choices": [{"context": [1], "continuations": [[2]]}], "window": {"stride": 2}},
             "invalid_value", "window", False),
            ("return_tokens=true with choices", {"choices": [{"context": [1], "continuations": [[2]]}],
                                                 "return_tokens": True}, "invalid_value", "return_tokens", False),
            ("return_tokens=true with inputs", {"inputs": [[1]], "targets": [[2]], "return_tokens": True},
             "invalid_value", "return_tokens", False),
            ("allow_special as a string", {"sequences": [[1, 2]], "allow_special": "yes"}, "invalid_type",
             "allow_special", False),
            ("return_tokens as a string", {"sequences": [[1, 2]], "return_tokens": "yes"}, "invalid_type",
             "return_tokens", False),
            # choices
            ("empty choices", {"choices": []}, "invalid_value", "choices", False),
            ("choices is an object", {"choices": {"context": [1]}}, "invalid_type", "choices", False),
            ("choices group is an array", {"choices": [[1, 2]]}, "invalid_type", "choices[0]", False),
            ("choices group without continuations", {"choices": [{"context": [1]}]}, "missing_field",
             "choices[0].continuations", False),
            ("choices group without context", {"choices": [{"continuations": [[1]]}]}, "missing_field",
             "choices[0].context", False),
            ("unknown field in a choices group", {"choices": [{"context": [1], "continuations": [[2]], "label": 0}]},
             "unknown_field", "choices[0].label", False),
            ("empty context", {"choices": [{"context": [], "continuations": [[2]]}]}, "invalid_value",
             "choices[0].context", False),
            ("no continuations", {"choices": [{"context": [1], "continuations": []}]}, "invalid_value",
             "choices[0].continuations", False),
            ("empty continuation", {"choices": [{"context": [1], "continuations": [[2], []]}]}, "invalid_value",
             "choices[0].continuations[1]", False),
            ("continuation id 2.5", {"choices": [{"context": [1], "continuations": [[2, 2.5]]}]}, "invalid_type",
             "choices[0].continuations[0][1]", False),
            (f"context id vocab_size={V}", {"choices": [{"context": [1, V], "continuations": [[2]]}]},
             "invalid_value", "choices[0].context[1]", None),
            (f"context + continuation of n_positions+1={N + 1}",
             {"choices": [{"context": [1] * (N // 2), "continuations": [[2], [3] * (N - N // 2 + 1)]}]},
             "context_length_exceeded", "choices[0].continuations[1]", None),
        ]
        for what, payload, code, param, valid in cases:
            e(f"POST /score {what} -> 422 {code} param={param}", 422, code, payload=payload, param=param,
              request_valid=valid)

    def phase_no_tokenizer(self) -> None:
        """Text input to a model without a tokenizer: 422 tokenizer_unavailable (the spec accepts the
        requests: only the model can refuse them)."""
        if self.tokenizer != "none":
            self.record("[no tokenizer] text input -> 422 tokenizer_unavailable", "SKIP",
                        f"the --base-url model's tokenizer is {self.tokenizer!r}, not \"none\"")
            return
        e = self.error_case
        for path, body, param in (
                ("/score", {"texts": ["Hello world"]}, "texts"),
                ("/score", {"sequences": [[1, 2, 3]], "return_tokens": True}, "return_tokens"),
                ("/tokenize", {"text": "Hello world"}, "text"),
                ("/tokenize", {"texts": ["a", "b"], "offsets": True}, "texts"),
                ("/detokenize", {"tokens": [1, 2]}, "tokens"),
                ("/v1/completions", {"prompt": [1, 2, 3], "echo": True, "max_tokens": 0}, "prompt"),
                ("/v1/completions", {"prompt": "Hello", "max_tokens": 1}, "prompt")):
            e(f"[no tokenizer] POST {path} {json.dumps(body)} -> 422 tokenizer_unavailable param={param}", 422,
              "tokenizer_unavailable", path=path, payload=body, param=param, request_valid=None)
        e("[no tokenizer] GET /tokenizer_info -> 404 tokenizer_unavailable", 404, "tokenizer_unavailable",
          method="GET", path="/tokenizer_info", param=None, request_valid=True)
        # Checked after the body is parsed: a body that is not JSON is 400, another model 404.
        for path in ("/tokenize", "/v1/completions"):
            e(f"[no tokenizer] POST {path} with a body that is not JSON -> 400 malformed_json", 400,
              "malformed_json", path=path, body=b"not json", request_valid=None)
        e("[no tokenizer] POST /v1/completions naming another model -> 404 model_not_found", 404, "model_not_found",
          path="/v1/completions", payload={"prompt": [1, 2], "max_tokens": 1, "model": "another-model"}, param="model",
          request_valid=None)

    # ---- the server with a tokenizer (check_openapi.sh: the bundled GPT-2 model)

    SAMPLE = "The cat sat on the mat. It's 2026 — naïve café 🎉!"

    def phase_text(self, url: str) -> None:
        saved = (self.client, self.vocab, self.npos, self.model_name, self.tokenizer)
        self.client, self.vocab, self.npos, self.model_name = Client(url), 0, 0, ""
        self.tag = "[text] "
        try:
            if not self.phase_basics(None, None, tokenizer="gpt2"):
                return
            self.phase_tokenize()
            self.phase_texts()
            self.phase_completions()
        finally:
            self.client, self.vocab, self.npos, self.model_name, self.tokenizer = saved
            self.tag = ""

    def tokenize(self, texts: list[str], allow_special: bool = True) -> tuple[list[list[int]], list[list[str]], list[list[int]]]:
        """ids, token strings and offsets of texts, from POST /tokenize (itself validated)."""
        payload = {"texts": texts, "token_strings": True, "offsets": True, "allow_special": allow_special}
        ex = self.client.post_json("/tokenize", payload)
        self.validate(ex, request_valid=True)
        self.expect(ex, 200)
        body = ex.json()
        return body["tokens"], body["token_strings"], body["offsets"]

    # /tokenize and /detokenize

    def check_tokenize(self, payload: dict, response: dict) -> None:
        single = payload.get("text") is not None
        texts = [payload["text"]] if single else payload["texts"]
        wrap = (lambda v: [v]) if single else (lambda v: v)
        problems = []
        tokens, counts = wrap(response["tokens"]), wrap(response["count"])
        if len(tokens) != len(texts) or len(counts) != len(texts):
            raise CaseFailure(f"{len(tokens)} token lists and {len(counts)} counts for {len(texts)} texts")
        for key in ("token_strings", "offsets"):
            if (key in response) != bool(payload.get(key)):
                problems.append(f"{key} {'missing' if payload.get(key) else 'present though not asked for'}")
        strings = wrap(response["token_strings"]) if "token_strings" in response else None
        offsets = wrap(response["offsets"]) if "offsets" in response else None
        for i, text in enumerate(texts):
            where = "" if single else f"[{i}]"
            if counts[i] != len(tokens[i]):
                problems.append(f"count{where} {counts[i]} != {len(tokens[i])} tokens")
            if strings is not None and offsets is not None:
                problems += token_text_problems(f"text{where}", strings[i], offsets[i], len(tokens[i]), text)
            elif strings is not None:
                if b"".join(token_bytes(t) for t in strings[i]) != text.encode("utf-8"):
                    problems.append(f"token_strings{where} do not spell the text")
            elif offsets is not None and (offsets[i] != sorted(offsets[i]) or offsets[i][:1] not in ([], [0])):
                problems.append(f"offsets{where} {offsets[i]} do not start at 0 and grow")
        if problems:
            raise CaseFailure("response contradicts the documented semantics:\n" + "\n".join(problems[:10]))

    def phase_tokenize(self) -> None:
        c = self.client
        def ok(name: str, path: str, payload: dict, check: Callable[[dict], None]) -> None:
            def body() -> None:
                ex = c.post_json(path, payload)
                self.validate(ex, request_valid=True)
                self.expect(ex, 200)
                check(ex.json())
            self.run_case(name, body)
        def equal(expected: dict) -> Callable[[dict], None]:
            def check(got: dict) -> None:
                if got != expected:
                    raise CaseFailure(f"expected {expected!r}, got {got!r}")
            return check

        def sample(got: dict) -> None:
            payload = {"text": self.SAMPLE, "token_strings": True, "offsets": True}
            self.check_tokenize(payload, got)
            if got["tokens"][:4] != [464, 3797, 3332, 319]:
                raise CaseFailure(f"ids {got['tokens'][:4]} are not GPT-2's [464, 3797, 3332, 319]")
            if not any(t.startswith("bytes:") for t in got["token_strings"]):
                raise CaseFailure("the emoji's tokens should include `bytes:` ones")
            back = c.post_json("/detokenize", {"tokens": got["tokens"]})
            self.validate(back, request_valid=True)
            self.expect(back, 200)
            if back.json() != {"text": self.SAMPLE, "prompt": self.SAMPLE}:
                raise CaseFailure(f"/detokenize of the ids gave {back.json()!r}")
        ok("POST /tokenize text + token_strings + offsets (emoji split across tokens) -> 200; "
           "/detokenize of the ids gives the text back", "/tokenize",
           {"text": self.SAMPLE, "token_strings": True, "offsets": True, "byte_offsets": True}, sample)
        def many(got: dict) -> None:
            self.check_tokenize({"texts": ["Hello world", "<|endoftext|>", ""]}, got)
            if got["tokens"] != [[15496, 995], [50256], []]:
                raise CaseFailure(f"tokens {got['tokens']}, expected [[15496, 995], [50256], []]")
        ok("POST /tokenize texts (\"<|endoftext|>\" is 50256, \"\" is no token) -> 200", "/tokenize",
           {"texts": ["Hello world", "<|endoftext|>", ""]}, many)
        def ordinary(got: dict) -> None:
            payload = {"text": "<|endoftext|>", "allow_special": False, "token_strings": True}
            self.check_tokenize(payload, got)
            if len(got["tokens"]) != 7 or 50256 in got["tokens"]:
                raise CaseFailure(f"expected 7 ordinary tokens, got {got['tokens']}")
        ok("POST /tokenize text \"<|endoftext|>\" + allow_special=false -> 200, 7 ordinary tokens", "/tokenize",
           {"text": "<|endoftext|>", "allow_special": False, "token_strings": True}, ordinary)
        ok("POST /tokenize empty text -> 200 {count: 0, tokens: []}", "/tokenize", {"text": ""},
           equal({"count": 0, "tokens": [], "max_model_len": self.npos}))
        payload = {"texts": ["naïve 🎉", "a"], "offsets": True, "byte_offsets": True}
        ok("POST /tokenize texts + offsets only -> 200", "/tokenize", payload,
           lambda got: self.check_tokenize(payload, got))
        ok("POST /detokenize lists of ids (12520 alone: a space and U+FFFD) -> 200 texts", "/detokenize",
           {"tokens": [[15496, 995], [50256], [12520]]}, equal({"texts": ["Hello world", "<|endoftext|>", " \ufffd"]}))
        ok("POST /detokenize [] -> 200 {\"text\": \"\"}", "/detokenize", {"tokens": []}, equal({"text": "", "prompt": ""}))
        # lm-eval's remote tokenizer (lm_eval/utils.py RemoteTokenizer): vLLM's field names.
        ok("POST /tokenize {prompt: \"test\", add_special_tokens: false} (lm-eval's support check) -> 200", "/tokenize",
           {"prompt": "test", "add_special_tokens": False}, equal({"count": 1, "tokens": [9288], "max_model_len": self.npos}))
        ok("POST /tokenize {prompt: \"<|endoftext|>\", add_special_tokens: false, model} -> 200 [50256]", "/tokenize",
           {"prompt": "<|endoftext|>", "add_special_tokens": False, "model": self.model_name},
           equal({"count": 1, "tokens": [50256], "max_model_len": self.npos}))
        ok("POST /tokenize {prompt, add_special_tokens: true} (GPT-2 adds nothing) -> 200", "/tokenize",
           {"prompt": "Hello world", "add_special_tokens": True},
           equal({"count": 2, "tokens": [15496, 995], "max_model_len": self.npos}))
        ok("POST /detokenize {tokens, model} -> 200 {text, prompt} (lm-eval reads prompt)", "/detokenize",
           {"tokens": [15496, 995], "model": self.model_name}, equal({"text": "Hello world", "prompt": "Hello world"}))
        def info() -> None:
            ex = c.request("GET", "/tokenizer_info")
            self.validate(ex, request_valid=True)
            self.expect(ex, 200)
            got = ex.json()
            want = {"model": self.model_name, "tokenizer_format": "gpt2", "vocab_size": 50257, "model_max_length": self.npos,
                    "add_bos_token": False, "bos_token": None, "bos_token_id": None, "eos_token": "<|endoftext|>",
                    "eos_token_id": 50256, "pad_token": None, "chat_template": None}
            if got != want:
                raise CaseFailure(f"expected {want!r}, got {got!r}")
            back = c.post_json("/tokenize", {"prompt": got["eos_token"], "add_special_tokens": False})
            self.validate(back, request_valid=True)
            if back.json()["tokens"][:1] != [got["eos_token_id"]]:
                raise CaseFailure(f"encode(eos_token)[0] is {back.json()['tokens'][:1]}, not eos_token_id")
        self.run_case("GET /tokenizer_info -> 200; encode(eos_token)[0] == eos_token_id, as lm-eval computes it", info)
        ok("POST /detokenize [[]] -> 200 {\"texts\": [\"\"]}", "/detokenize", {"tokens": [[]]}, equal({"texts": [""]}))

        e = self.error_case
        for path in ("/tokenize", "/detokenize"):
            e(f"POST {path} truncated JSON -> 400 malformed_json", 400, "malformed_json", path=path,
              body=b'{"text": ')
            e(f"POST {path} body is an array -> 422 invalid_type param=None", 422, "invalid_type", path=path,
              payload=["Hello"], param=None)
        cases: list[tuple[str, str, Any, str, Any, Optional[bool]]] = [
            ("/tokenize", "{}", {}, "missing_field", "text", False),
            ("/tokenize", "text and texts", {"text": "a", "texts": ["b"]}, "invalid_value", "text", False),
            ("/tokenize", "text 5", {"text": 5}, "invalid_type", "text", False),
            ("/tokenize", "texts [\"a\", 5]", {"texts": ["a", 5]}, "invalid_type", "texts[1]", False),
            ("/tokenize", "texts []", {"texts": []}, "invalid_value", "texts", False),
            ("/tokenize", "texts a string", {"texts": "a"}, "invalid_type", "texts", False),
            ("/tokenize", "unknown field", {"text": "a", "lang": "en"}, "unknown_field", "lang", False),
            ("/tokenize", "allow_special 1", {"text": "a", "allow_special": 1}, "invalid_type", "allow_special", False),
            ("/tokenize", "token_strings \"yes\"", {"text": "a", "token_strings": "yes"}, "invalid_type",
             "token_strings", False),
            ("/tokenize", "text and prompt", {"text": "a", "prompt": "b"}, "invalid_value", "text", False),
            ("/tokenize", "prompt a list", {"prompt": ["a"]}, "invalid_type", "prompt", False),
            ("/tokenize", "add_bos and add_special_tokens", {"prompt": "a", "add_bos": False, "add_special_tokens": False},
             "invalid_value", "add_special_tokens", False),
            ("/tokenize", "add_special_tokens \"no\"", {"prompt": "a", "add_special_tokens": "no"}, "invalid_type",
             "add_special_tokens", False),
            ("/detokenize", "{}", {}, "missing_field", "tokens", False),
            ("/detokenize", "id 50257", {"tokens": [1, 50257]}, "invalid_value", "tokens[1]", None),
            ("/detokenize", "id -1 in a nested list", {"tokens": [[1], [2, -1]]}, "invalid_value", "tokens[1][1]", False),
            ("/detokenize", "tokens a string", {"tokens": "hi"}, "invalid_type", "tokens", False),
            ("/detokenize", "a list, then a number", {"tokens": [[1], 2]}, "invalid_type", "tokens[1]", False),
            ("/detokenize", "a number, then a list", {"tokens": [1, [2]]}, "invalid_type", "tokens[1]", False),
            ("/detokenize", "id 2.5", {"tokens": [1, 2.5]}, "invalid_type", "tokens[1]", False),
            ("/detokenize", "unknown field", {"tokens": [1], "skip_special": True}, "unknown_field", "skip_special", False),
        ]
        for path, what, body, code, param, valid in cases:
            e(f"POST {path} {what} -> 422 {code} param={param}", 422, code, path=path, payload=body, param=param,
              request_valid=valid)
        for path, body in (("/tokenize", {"prompt": "a", "model": "gpt2"}), ("/detokenize", {"tokens": [1], "model": "gpt2"})):
            e(f"POST {path} model names another model -> 404 model_not_found param=model", 404, "model_not_found",
              path=path, payload=body, param="model", request_valid=True)

    # /score with texts, return_tokens and choices on a model with a tokenizer

    @staticmethod
    def check_text_metrics(texts: list[str], response: dict) -> None:
        """lm-eval's wikitext metrics as the spec defines them: per row from sum_logprob and the text's
        bytes and words (len(re.split(r"\s+", text))), and in `batch` over the rows that score a token."""
        def close(a: Optional[float], b: Optional[float]) -> bool:
            return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(b)))
        problems, total, nbytes, nwords = [], 0.0, 0, 0
        for r, (text, row) in enumerate(zip(texts, response["results"])):
            b, w = len(text.encode("utf-8")), len(re.split(r"\s+", text))
            if row.get("bytes") != b or row.get("words") != w:
                problems.append(f"results[{r}] bytes/words {row.get('bytes')}/{row.get('words')}, expected {b}/{w}")
                continue
            s = row["sum_logprob"]
            scored = row["scored_tokens"] > 0
            if scored:
                total, nbytes, nwords = total + s, nbytes + b, nwords + w
            for key, want in (("bits_per_byte", -s / (math.log(2) * b) if scored else None),
                              ("byte_perplexity", math.exp(-s / b) if scored else None),
                              ("word_perplexity", math.exp(-s / w) if scored else None)):
                if not close(row.get(key), want):
                    problems.append(f"results[{r}].{key} {row.get(key)!r}, expected {want!r}")
        batch = response["batch"]
        for key, want in (("bits_per_byte", -total / (math.log(2) * nbytes) if nbytes else None),
                          ("byte_perplexity", math.exp(-total / nbytes) if nbytes else None),
                          ("word_perplexity", math.exp(-total / nwords) if nwords else None)):
            if not close(batch.get(key), want):
                problems.append(f"batch.{key} {batch.get(key)!r}, expected {want!r}")
        if problems:
            raise CaseFailure("per-text metrics contradict their definition:\n" + "\n".join(problems[:10]))

    def phase_texts(self) -> None:
        c = self.client
        def texts_ok(name: str, payload: dict, compare: bool = False,
                     check: Optional[Callable[[list[list[int]]], None]] = None) -> None:
            def body() -> None:
                ids, strings, offsets = self.tokenize(payload["texts"], payload.get("allow_special", True))
                ex = c.post_json("/score", payload)
                self.validate(ex, request_valid=True)
                self.expect(ex, 200)
                self.check_semantics(payload, ex.json(), ids)
                rows = ex.json()["results"]
                self.check_text_metrics(payload["texts"], ex.json())
                if payload.get("return_tokens"):
                    for r, row in enumerate(rows):
                        if row["tokens"] != strings[r] or row["text_offset"] != offsets[r]:
                            raise CaseFailure(f"results[{r}] tokens/text_offset differ from /tokenize's "
                                              f"token_strings/offsets:\n{row['tokens']} {row['text_offset']}\n"
                                              f"{strings[r]} {offsets[r]}")
                if compare:
                    reference = {k: v for k, v in payload.items() if k in ("top_k", "window", "probabilities")}
                    reference["sequences"] = ids
                    ref = c.post_json("/score", reference)
                    self.validate(ref, request_valid=True)
                    self.expect(ref, 200)
                    for r, (row, seq_row) in enumerate(zip(rows, ref.json()["results"])):
                        for a, b in zip(row["logprobs"], seq_row["logprobs"]):
                            if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-5):
                                raise CaseFailure(f"results[{r}]: texts logprobs {row['logprobs']} != sequences "
                                                  f"logprobs {seq_row['logprobs']} of the same ids")
                if check:
                    check(ids)
            self.run_case(name, body)

        texts_ok("POST /score texts + return_tokens + top_k=2 -> 200; = /score sequences of /tokenize's ids (1e-5); "
                 "tokens/text_offset = /tokenize's token_strings/offsets",
                 {"texts": [self.SAMPLE, "Hello world"], "return_tokens": True, "top_k": 2}, compare=True)
        def eot_first(ids: list[list[int]]) -> None:
            if ids[0][0] != 50256:
                raise CaseFailure(f"<|endoftext|> should be 50256, the ids are {ids[0]}")
        texts_ok("POST /score texts with \"<|endoftext|>\" (allow_special default true: id 50256) -> 200",
                 {"texts": ["<|endoftext|>Hello"], "return_tokens": True}, check=eot_first)
        texts_ok("POST /score texts + allow_special=false + return_tokens + probabilities -> 200",
                 {"texts": ["<|endoftext|>Hello"], "allow_special": False, "return_tokens": True,
                  "probabilities": True})
        long_text = "The cat sat on the mat. " * 45
        texts_ok(f"POST /score a text longer than n_positions={self.npos} tokens + window.stride=100 + "
                 "return_tokens -> 200", {"texts": [long_text, "Hi there"], "window": {"stride": 100},
                                          "return_tokens": True}, compare=True)
        self.score_ok("POST /score sequences + return_tokens, tokens split inside characters (bytes:) -> 200",
                      {"sequences": [[2616, 38776, 40304, 12520, 236, 231], [12520, 236]], "return_tokens": True})
        self.same_as_sequences_case({"context": [464, 3797], "continuations": [[3332, 319], [318], [50256]]})

        cases: list[tuple[str, Any, str, Any, Optional[bool]]] = [
            ("texts []", {"texts": []}, "invalid_value", "texts", False),
            ("texts [\"\"] (no tokens)", {"texts": ["a", ""]}, "invalid_value", "texts[1]", False),
            ("texts a string", {"texts": "a"}, "invalid_type", "texts", False),
            ("texts [\"a\", 5]", {"texts": ["a", 5]}, "invalid_type", "texts[1]", False),
            ("texts and sequences", {"texts": ["a"], "sequences": [[1, 2]]}, "invalid_value", "sequences", False),
            ("texts and inputs/targets", {"texts": ["a"], "inputs": [[1]], "targets": [[2]]}, "invalid_value",
             "texts", False),
            ("texts and targets", {"texts": ["a"], "targets": [[2]]}, "invalid_value", "targets", False),
            ("texts + allow_special \"yes\"", {"texts": ["a"], "allow_special": "yes"}, "invalid_type",
             "allow_special", False),
            ("texts + return_tokens 1", {"texts": ["a b"], "return_tokens": 1}, "invalid_type", "return_tokens", False),
            ("texts + window.stride 0", {"texts": ["a b"], "window": {"stride": 0}}, "invalid_value",
             "window.stride", False),
            ("texts + unknown field", {"texts": ["a"], "lang": "en"}, "unknown_field", "lang", False),
            ("return_tokens=true with choices", {"choices": [{"context": [464], "continuations": [[3797]]}],
                                                 "return_tokens": True}, "invalid_value", "return_tokens", False),
        ]
        for what, payload, code, param, valid in cases:
            self.error_case(f"POST /score {what} -> 422 {code} param={param}", 422, code, payload=payload,
                            param=param, request_valid=valid)

    # /v1/completions

    def check_completion(self, payload: dict, response: dict, ids: list[list[int]],
                         texts: list[Optional[str]]) -> None:
        problems: list[str] = []
        echo = bool(payload.get("echo"))
        k = payload.get("logprobs")
        m = payload["max_tokens"]
        if response["model"] != self.model_name:
            problems.append(f"model {response['model']!r} != {self.model_name!r}")
        choices = response["choices"]
        if [ch["index"] for ch in choices] != list(range(len(ids))):
            problems.append(f"choice indices {[ch['index'] for ch in choices]} for {len(ids)} prompts")
        usage = response["usage"]
        expected_usage = {"prompt_tokens": sum(map(len, ids)), "completion_tokens": m * len(ids),
                          "total_tokens": sum(map(len, ids)) + m * len(ids)}
        if usage != expected_usage:
            problems.append(f"usage {usage} != {expected_usage}")
        for i, (choice, prompt_ids, text) in enumerate(zip(choices, ids, texts)):
            where = f"choices[{i}]"
            if echo and text is not None and not choice["text"].startswith(text):
                problems.append(f"{where}.text {choice['text']!r} does not start with the prompt {text!r}")
            if m == 0:
                if choice["finish_reason"] != "length":
                    problems.append(f"{where}.finish_reason {choice['finish_reason']!r} with max_tokens 0")
                if echo and text is not None and choice["text"] != text:
                    problems.append(f"{where}.text {choice['text']!r} != the prompt {text!r}")
            lp = choice["logprobs"]
            if k is None:
                if lp is not None:
                    problems.append(f"{where}.logprobs not null though not asked for")
                continue
            if lp is None:
                problems.append(f"{where}.logprobs is null")
                continue
            n = (len(prompt_ids) if echo else 0) + m
            sizes = {key: len(lp[key]) for key in ("tokens", "token_logprobs", "top_logprobs", "text_offset")}
            if set(sizes.values()) != {n}:
                problems.append(f"{where}.logprobs arrays of sizes {sizes}, expected {n}")
                continue
            for j, (value, top) in enumerate(zip(lp["token_logprobs"], lp["top_logprobs"])):
                first = echo and j == 0
                if (value is None) != first or (top is None) != first:
                    problems.append(f"{where}: position {j}: logprob {value}, top {top} (null only for the first "
                                    "echoed token)")
                    break
                if top is not None and len(top) != k:
                    problems.append(f"{where}.top_logprobs[{j}] has {len(top)} entries for logprobs={k}")
                    break
                if top and value > max(top.values()) + 1e-6:
                    problems.append(f"{where}: logprob {value} above the best alternative {top}")
                    break
            pieces = [token_bytes(t) for t in lp["tokens"]]
            if echo and text is not None and b"".join(pieces[:len(prompt_ids)]) != text.encode("utf-8"):
                problems.append(f"{where}: the echoed tokens {lp['tokens']} do not spell the prompt")
            if m == 1:
                last, top = lp["token_logprobs"][-1], lp["top_logprobs"][-1]
                if k and (lp["tokens"][-1] not in top or abs(top[lp["tokens"][-1]] - max(top.values())) > 1e-9
                          or abs(last - max(top.values())) > 1e-9):
                    problems.append(f"{where}: appended token {lp['tokens'][-1]!r} ({last}) is not the best of {top}")
                stop = lp["tokens"][-1] == "<|endoftext|>"
                if choice["finish_reason"] != ("stop" if stop else "length"):
                    problems.append(f"{where}.finish_reason {choice['finish_reason']!r} after {lp['tokens'][-1]!r}")
                if not echo and choice["text"].encode("utf-8") != pieces[-1]:
                    problems.append(f"{where}.text {choice['text']!r} is not the appended token {lp['tokens'][-1]!r}")
            starts = code_point_offsets(pieces)
            base = 0 if echo else (len(text) if text is not None else None)
            if starts is not None and base is not None and lp["text_offset"] != [base + s for s in starts]:
                problems.append(f"{where}.text_offset {lp['text_offset']} != {[base + s for s in starts]}")
        if problems:
            raise CaseFailure("response contradicts the documented semantics:\n" + "\n".join(problems[:10]))

    def completion_ok(self, name: str, payload: dict, *, request_valid: Optional[bool] = True,
                      same_as_score: bool = False) -> None:
        c = self.client
        def body() -> None:
            prompt = payload["prompt"]
            if isinstance(prompt, str):
                prompt = [prompt]
            if isinstance(prompt[0], int):
                prompt = [prompt]
            texts = [p if isinstance(p, str) else None for p in prompt]
            strings = [p for p in prompt if isinstance(p, str)]
            encoded = iter(self.tokenize(strings)[0] if strings else [])
            ids = [next(encoded) if isinstance(p, str) else p for p in prompt]
            ex = c.post_json("/v1/completions", payload)
            self.validate(ex, request_valid=request_valid)
            self.expect(ex, 200)
            self.check_completion(payload, ex.json(), ids, texts)
            if same_as_score:
                ref = c.post_json("/score", {"sequences": ids})
                self.validate(ref, request_valid=True)
                self.expect(ref, 200)
                for i, (choice, row) in enumerate(zip(ex.json()["choices"], ref.json()["results"])):
                    got = choice["logprobs"]["token_logprobs"][:len(ids[i])]
                    if any((a is None) != (b is None) or (a is not None and abs(a - b) > 1e-5)
                           for a, b in zip(got, row["logprobs"])):
                        raise CaseFailure(f"choices[{i}] token_logprobs {got} != /score logprobs {row['logprobs']}")
        self.run_case(name, body)

    def phase_completions(self) -> None:
        N = self.npos
        ok = self.completion_ok
        ok("POST /v1/completions echo + logprobs=1 + max_tokens=0, model named -> 200; token_logprobs = "
           "/score's (1e-5)", {"model": self.model_name, "prompt": "The cat sat on the mat.", "echo": True,
                               "logprobs": 1, "max_tokens": 0}, same_as_score=True)
        ok("POST /v1/completions max_tokens=1 + logprobs=2, no echo (greedy next token; offset after the prompt) "
           "-> 200", {"prompt": "The capital of France is", "max_tokens": 1, "logprobs": 2})
        ok("POST /v1/completions two prompts of ids + echo + max_tokens=1, no logprobs (null) -> 200",
           {"prompt": [[464, 3139, 286], [15496]], "echo": True, "max_tokens": 1})
        ok("POST /v1/completions prompts [str] with an emoji + echo + logprobs=0 (empty top_logprobs) -> 200",
           {"prompt": ["Hi", "naïve café 🎉"], "echo": True, "logprobs": 0, "max_tokens": 0}, same_as_score=True)
        ok("POST /v1/completions ids + echo + logprobs=5 + max_tokens=1 + every no-op field -> 200",
           {"prompt": [464, 3139, 286, 4881, 318], "echo": True, "logprobs": 5, "max_tokens": 1, "temperature": 0,
            "top_p": 1, "n": 1, "best_of": 1, "stream": False, "stop": ["\n"], "seed": 1234, "user": "checker",
            "presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {}}, same_as_score=True)
        ok("POST /v1/completions \"<|endoftext|>\" prompt, suffix/stream_options null, stop a string -> 200",
           {"prompt": "<|endoftext|>", "echo": True, "logprobs": 3, "max_tokens": 1, "suffix": None,
            "stream_options": None, "stop": "."})
        ok(f"POST /v1/completions prompt of n_positions={N} ids + echo + max_tokens=0 -> 200",
           {"prompt": [464] * N, "echo": True, "max_tokens": 0})
        ok(f"POST /v1/completions prompt of n_positions-1={N - 1} ids + max_tokens=1 -> 200",
           {"prompt": [464] * (N - 1), "max_tokens": 1, "logprobs": 1})
        ok("POST /v1/completions echo + logprobs=0 + max_tokens=1 + statistics [entropy, rank] -> 200",
           {"prompt": "The cat sat on the mat.", "echo": True, "logprobs": 0, "max_tokens": 1,
            "statistics": ["entropy", "rank"]})

        e = self.error_case
        path = "/v1/completions"
        e("POST /v1/completions truncated JSON -> 400 malformed_json", 400, "malformed_json", path=path,
          body=b'{"prompt": ')
        e("POST /v1/completions model names another model -> 404 model_not_found param=model", 404,
          "model_not_found", path=path, payload={"prompt": "hi", "max_tokens": 1, "model": "gpt-3.5-turbo-instruct"},
          param="model", request_valid=None)
        cases: list[tuple[str, Any, str, Any, Optional[bool]]] = [
            ("max_tokens missing (OpenAI's default 16)", {"prompt": "hi"}, "unsupported_value", "max_tokens", False),
            ("max_tokens 5", {"prompt": "hi", "max_tokens": 5}, "unsupported_value", "max_tokens", False),
            ("max_tokens -1", {"prompt": "hi", "max_tokens": -1}, "invalid_value", "max_tokens", False),
            ("max_tokens 0 without echo", {"prompt": "hi", "max_tokens": 0}, "unsupported_value", "echo", False),
            ("max_tokens 0 + echo false", {"prompt": "hi", "max_tokens": 0, "echo": False}, "unsupported_value",
             "echo", False),
            ("stream true", {"prompt": "hi", "max_tokens": 1, "stream": True}, "unsupported_value", "stream", False),
            ("stream \"yes\"", {"prompt": "hi", "max_tokens": 1, "stream": "yes"}, "invalid_type", "stream", False),
            ("stream_options {}", {"prompt": "hi", "max_tokens": 1, "stream_options": {}}, "unsupported_value",
             "stream_options", False),
            ("n 2", {"prompt": "hi", "max_tokens": 1, "n": 2}, "unsupported_value", "n", False),
            ("best_of 3", {"prompt": "hi", "max_tokens": 1, "best_of": 3}, "unsupported_value", "best_of", False),
            ("presence_penalty 0.5", {"prompt": "hi", "max_tokens": 1, "presence_penalty": 0.5}, "unsupported_value",
             "presence_penalty", False),
            ("frequency_penalty -0.1", {"prompt": "hi", "max_tokens": 1, "frequency_penalty": -0.1},
             "unsupported_value", "frequency_penalty", False),
            ("logit_bias {\"50256\": -100}", {"prompt": "hi", "max_tokens": 1, "logit_bias": {"50256": -100}},
             "unsupported_value", "logit_bias", False),
            ("logit_bias an array", {"prompt": "hi", "max_tokens": 1, "logit_bias": [1]}, "invalid_type",
             "logit_bias", False),
            ("suffix \"x\"", {"prompt": "hi", "max_tokens": 1, "suffix": "x"}, "unsupported_value", "suffix", False),
            ("model 5", {"prompt": "hi", "max_tokens": 1, "model": 5}, "invalid_type", "model", False),
            ("no prompt", {"max_tokens": 1}, "missing_field", "prompt", False),
            ("prompt \"\"", {"prompt": "", "max_tokens": 1}, "invalid_value", "prompt", False),
            ("prompt []", {"prompt": [], "max_tokens": 1}, "invalid_value", "prompt", False),
            ("prompt 5", {"prompt": 5, "max_tokens": 1}, "invalid_type", "prompt", False),
            ("prompt [\"a\", \"\"]", {"prompt": ["a", ""], "max_tokens": 1}, "invalid_value", "prompt[1]", False),
            ("prompt [\"a\", 5]", {"prompt": ["a", 5], "max_tokens": 1}, "invalid_type", "prompt[1]", False),
            ("prompt [[1, 2], \"x\"]", {"prompt": [[1, 2], "x"], "max_tokens": 1}, "invalid_type", "prompt[1]", False),
            ("prompt [[1], []]", {"prompt": [[1], []], "max_tokens": 1}, "invalid_value", "prompt[1]", False),
            ("prompt [1, -1]", {"prompt": [1, -1], "max_tokens": 1}, "invalid_value", "prompt[1]", False),
            ("prompt [1, true]", {"prompt": [1, True], "max_tokens": 1}, "invalid_type", "prompt[1]", False),
            (f"prompt [[1, 2], [3, {self.vocab}]]", {"prompt": [[1, 2], [3, self.vocab]], "max_tokens": 1},
             "invalid_value", "prompt[1][1]", None),
            ("logprobs 21", {"prompt": "hi", "max_tokens": 1, "logprobs": 21}, "invalid_value", "logprobs", False),
            ("logprobs true", {"prompt": "hi", "max_tokens": 1, "logprobs": True}, "invalid_type", "logprobs", False),
            ("temperature 3", {"prompt": "hi", "max_tokens": 1, "temperature": 3}, "invalid_value", "temperature", False),
            ("top_p 0", {"prompt": "hi", "max_tokens": 1, "top_p": 0}, "invalid_value", "top_p", False),
            ("stop [\"a\", 5]", {"prompt": "hi", "max_tokens": 1, "stop": ["a", 5]}, "invalid_type", "stop[1]", False),
            ("seed 1.5", {"prompt": "hi", "max_tokens": 1, "seed": 1.5}, "invalid_type", "seed", False),
            ("echo 1", {"prompt": "hi", "max_tokens": 1, "echo": 1}, "invalid_type", "echo", False),
            ("unknown field", {"prompt": "hi", "max_tokens": 1, "frobnicate": 1}, "unknown_field", "frobnicate", False),
            ("body is an array", ["hi"], "invalid_type", None, False),
            (f"prompt of n_positions={N} ids + max_tokens 1", {"prompt": [464] * N, "max_tokens": 1},
             "context_length_exceeded", "prompt", None),
            (f"second prompt of n_positions+1={N + 1} ids", {"prompt": [[1], [464] * (N + 1)], "echo": True,
                                                            "max_tokens": 0}, "context_length_exceeded", "prompt[1]", None),
            (f"a text of more than n_positions={N} tokens", {"prompt": "the " * (N + 10), "echo": True,
                                                             "max_tokens": 0}, "context_length_exceeded", "prompt", None),
        ]
        for what, payload, code, param, valid in cases:
            e(f"POST /v1/completions {what} -> 422 {code} param={param}", 422, code, path=path, payload=payload,
              param=param, request_valid=valid)

    # ---- 429 and 504

    def slow_payload(self, tokens: int) -> dict:
        """A sequence scored with stride 1: one forward window of n_positions tokens per scored token,
        the most work per request byte. Its ids (0-9) are drawn afresh on every call: the server's
        prefix cache would read a repeating pattern's windows once, and a repeated sequence not at
        all, so the work would not be what the calibration measured."""
        self.slow_payloads += 1
        draw = random.Random(self.slow_payloads)
        return {"sequences": [[draw.randrange(10) for _ in range(tokens)]], "window": {"stride": 1}}

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
            payload_a = self.slow_payload(a_tokens)
            thread_a = threading.Thread(target=send, args=("A", payload_a))
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
            self.check_semantics(payload_a, a.json())
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
            for path, payload in (("/tokenize", {"text": "hi"}), ("/detokenize", {"tokens": [1, 2]}),
                                  ("/v1/completions", {"prompt": "hi", "max_tokens": 1})):
                self.error_case(f"[loading] POST {path} -> 503 loading", 503, "loading", path=path, payload=payload,
                                param=None, request_valid=True)
            self.error_case("[loading] GET /v1/models -> 503 loading", 503, "loading", method="GET",
                            path="/v1/models", param=None, request_valid=True)
            self.error_case("[loading] GET /tokenizer_info -> 503 loading", 503, "loading", method="GET",
                            path="/tokenizer_info", param=None, request_valid=True)
            self.error_case("[loading] GET /v1/completions -> 405", 405, "method_not_allowed", method="GET",
                            path="/v1/completions", request_valid=None,
                            extra=("/v1/completions", "GET", "MethodNotAllowed"), allow="POST")

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
        self.error_case("[draining] GET /v1/models -> 503 draining", 503, "draining", method="GET",
                        path="/v1/models", param=None, request_valid=True)
        for path, payload in (("/tokenize", {"text": "hi"}), ("/detokenize", {"tokens": [1, 2]}),
                              ("/v1/completions", {"prompt": "hi", "max_tokens": 1})):
            self.error_case(f"[draining] POST {path} -> 503 draining", 503, "draining", path=path, payload=payload,
                            param=None, request_valid=True)

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
              "{\"status\":\"failed\"}, non-finite numbers as strings, 429/504 on /v1/completions, "
              "finish_reason \"stop\"")
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
    parser.add_argument("--text-url", help="a server whose model has GPT-2's tokenizer (enables the /tokenize, "
                        "/detokenize, /v1/completions, texts and return_tokens cases)")
    parser.add_argument("--drain-pid", type=int,
                        help="PID of the --base-url server: SIGTERM it at the end and check the draining answers")
    parser.add_argument("--strict-known", action="store_true", help="count known mismatches as failures")
    args = parser.parse_args()

    for url in filter(None, (args.base_url, args.loading_url, args.text_url)):
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
        checker.phase_no_tokenizer()
        if args.text_url:
            checker.phase_text(args.text_url)
        else:
            checker.record("[text] /tokenize, /detokenize, /v1/completions, texts, return_tokens", "SKIP",
                           "needs --text-url (a server whose model has GPT-2's tokenizer)")
        checker.phase_queue(args.request_timeout, args.max_queued_tokens, args.max_body_bytes)
        if args.drain_pid:
            checker.phase_drain(args.drain_pid, args.max_body_bytes)
    print(f"\n{len(checker.outcomes)} cases in {time.monotonic() - started:.1f} s against {args.base_url}")
    return checker.summary()


if __name__ == "__main__":
    sys.exit(main())
