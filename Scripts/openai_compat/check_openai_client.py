#!/usr/bin/env python3
"""Acceptance check of lmscore's OpenAI-compatible endpoints with the official `openai` package.

  python Scripts/openai_compat/check_openai_client.py [--base-url http://127.0.0.1:8080] [--model ID]

Calls, through `OpenAI(base_url=BASE/v1, api_key="unused")`:
  * client.models.list()
  * client.completions.create(model, prompt, echo=True, logprobs=5, max_tokens=0) with a string, a list of
    strings, a list of token ids and a list of token-id lists; the same with max_tokens=1; and max_tokens=1
    with echo=False
and checks the typed objects (choices[i].logprobs.tokens / token_logprobs / top_logprobs / text_offset, the
first token_logprob None, usage, id/object/created/model, finish_reason), validates the raw JSON against the
package's own pydantic models (the client itself does not validate), and cross-checks token_logprobs and
top_logprobs against lmscore's POST /score (same model, so within --tol; and a token /score calls greedy must
have token_logprob == max(top_logprobs.values()) exactly, which is how lm-eval computes is_greedy).
Then the unsupported requests max_tokens=5, stream=True, n=2 and echo=False with max_tokens=0 must raise
openai.UnprocessableEntityError (HTTP 422) with a readable message.
Prints one summary line (failures above it); exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the repository (it has no ignore rule for it)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt2_tokenizer import DEFAULT_RANKS, tiktoken_gpt2  # noqa: E402

import openai  # noqa: E402
from openai import OpenAI  # noqa: E402
from openai.types import Completion, Model  # noqa: E402

K = 5  # logprobs asked for


class Checker:
    def __init__(self, args):
        self.base = args.base_url.rstrip("/")
        self.tol = args.tol
        self.enc = tiktoken_gpt2(args.ranks)
        self.client = OpenAI(base_url=self.base + "/v1", api_key="unused", max_retries=0, timeout=60)
        self.model = args.model
        self.n_checks = 0
        self.failures: list[str] = []
        self.notes: list[str] = []

    # ---------------------------------------------------------------- helpers
    def ok(self, cond: bool, what: str) -> bool:
        self.n_checks += 1
        if not cond:
            self.failures.append(what)
        return bool(cond)

    def warn(self, cond: bool, what: str) -> None:
        """A convention of OpenAI's API that neither lm-eval nor the openai package depends on."""
        if not cond:
            self.notes.append("WARN " + what)

    def guarded(self, label: str, fn, *a, **kw) -> None:
        try:
            fn(*a, **kw)
        except openai.APIStatusError as e:
            self.ok(False, f"{label}: HTTP {e.status_code} {type(e).__name__}: {e.message}")
        except openai.APIConnectionError:
            raise
        except Exception as e:  # noqa: BLE001 - report and go on with the next case
            self.ok(False, f"{label}: {type(e).__name__}: {e}")

    def piece(self, tok: int) -> str | None:
        try:
            return self.enc.decode_single_token_bytes(tok).decode("utf-8")
        except UnicodeDecodeError:
            return None

    def score(self, ids: list[int]) -> dict:
        req = urllib.request.Request(self.base + "/score", method="POST",
                                     data=json.dumps({"sequences": [ids], "top_k": K}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["results"][0]

    # ---------------------------------------------------------------- /v1/models
    def check_models(self):
        raw = self.client.models.with_raw_response.list()
        body = raw.http_response.json()
        page = raw.parse()
        self.ok(raw.http_response.status_code == 200, f"GET /v1/models: status {raw.http_response.status_code}")
        self.ok(isinstance(body, dict) and body.get("object") == "list",
                f"GET /v1/models: top-level object must be \"list\", got {body.get('object')!r}")
        models = list(page)
        if not self.ok(len(models) >= 1, f"GET /v1/models: no models in {body!r:.200}"):
            return
        for m in body.get("data", []):
            try:
                Model.model_validate(m)
            except Exception as e:  # noqa: BLE001
                self.ok(False, f"GET /v1/models: entry {m!r} does not validate as openai.types.Model: {e}")
            else:
                self.ok(True, "")
        m = models[0]
        self.ok(isinstance(m.id, str) and m.id != "", f"models[0].id {m.id!r}")
        self.ok(m.object == "model", f"models[0].object {m.object!r} (must be \"model\")")
        self.ok(isinstance(m.created, int) and not isinstance(m.created, bool), f"models[0].created {m.created!r}")
        self.ok(isinstance(m.owned_by, str), f"models[0].owned_by {m.owned_by!r}")
        if self.model is None:
            self.model = m.id
        self.notes.append(f"model {self.model!r}")

    # ---------------------------------------------------------------- /v1/completions
    def create(self, label: str, **kw):
        raw = self.client.completions.with_raw_response.create(model=self.model, **kw)
        return raw.http_response.json(), raw.parse()

    def validate_raw(self, label: str, body: dict):
        """The package's pydantic model, strictly; the leading nulls OpenAI itself sends (first
        token_logprob / top_logprobs of an echoed prompt) are filled in first."""
        b = copy.deepcopy(body)
        for c in b.get("choices", []):
            lp = c.get("logprobs")
            if isinstance(lp, dict):
                for key, fill in (("token_logprobs", 0.0), ("top_logprobs", {})):
                    v = lp.get(key)
                    if isinstance(v, list) and v and v[0] is None:
                        v[0] = fill
        try:
            Completion.model_validate(b)
        except Exception as e:  # noqa: BLE001
            self.ok(False, f"{label}: response does not validate as openai.types.Completion: {e}")
        else:
            self.ok(True, "")

    def check_completion(self, label: str, prompt, prompts_ids: list[list[int]], prompts_text: list[str | None],
                         max_tokens: int, echo: bool = True):
        body, c = self.create(label, prompt=prompt, echo=echo, logprobs=K, max_tokens=max_tokens)
        self.validate_raw(label, body)
        self.ok(isinstance(c.id, str) and c.id != "", f"{label}: id {c.id!r}")
        self.ok(c.object == "text_completion", f"{label}: object {c.object!r} (must be \"text_completion\")")
        self.ok(isinstance(c.created, int) and not isinstance(c.created, bool), f"{label}: created {c.created!r}")
        self.ok(isinstance(c.model, str) and c.model != "", f"{label}: model {c.model!r}")
        if not self.ok(isinstance(c.choices, list) and len(c.choices) == len(prompts_ids),
                       f"{label}: {len(c.choices or [])} choices for {len(prompts_ids)} prompts"):
            return
        self.ok([ch.index for ch in c.choices] == list(range(len(prompts_ids))),
                f"{label}: choice indexes {[ch.index for ch in c.choices]} (must be 0..n-1 in prompt order)")
        n_prompt = 0
        for ch, ids, text in zip(c.choices, prompts_ids, prompts_text):
            self.check_choice(f"{label} choice {ch.index}", ch, ids, text, max_tokens, echo)
            n_prompt += len(ids)
        u = c.usage
        if self.ok(u is not None, f"{label}: usage missing"):
            n_gen = max_tokens * len(prompts_ids)
            self.ok(u.prompt_tokens == n_prompt, f"{label}: usage.prompt_tokens {u.prompt_tokens} != {n_prompt}")
            self.ok(u.completion_tokens == n_gen, f"{label}: usage.completion_tokens {u.completion_tokens} != {n_gen}")
            self.ok(u.total_tokens == n_prompt + n_gen, f"{label}: usage.total_tokens {u.total_tokens}")

    def check_choice(self, label, ch, ids, text, max_tokens, echo):
        self.ok(ch.finish_reason in ("stop", "length"), f"{label}: finish_reason {ch.finish_reason!r}")
        self.ok(isinstance(ch.text, str), f"{label}: text {ch.text!r}")
        lp = ch.logprobs
        if not self.ok(lp is not None, f"{label}: logprobs is null although logprobs={K} was asked"):
            return
        n_shown = (len(ids) if echo else 0) + max_tokens
        for name in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
            v = getattr(lp, name)
            if not self.ok(isinstance(v, list) and len(v) == n_shown,
                           f"{label}: logprobs.{name} has {len(v) if isinstance(v, list) else v!r} entries, "
                           f"expected {n_shown}"):
                return
        toks, tlp, top, off = lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset
        first = 0
        if echo:
            self.ok(tlp[0] is None, f"{label}: first token_logprob must be None (nothing predicts it), got {tlp[0]!r}")
            self.ok(top[0] is None or top[0] == {}, f"{label}: first top_logprobs must be None (or {{}}), got {top[0]!r}")
            self.warn(top[0] is None, f"{label}: OpenAI sends null as the first top_logprobs, got {top[0]!r}")
            first = 1
            self.ok(off[0] == 0, f"{label}: text_offset[0] {off[0]} (must be 0 with echo)")
        self.ok(all(isinstance(t, str) for t in toks), f"{label}: tokens must be strings: {toks!r:.200}")
        self.ok(all(isinstance(x, int) and not isinstance(x, bool) for x in off), f"{label}: text_offset {off!r:.200}")
        self.ok(all(a <= b for a, b in zip(off, off[1:])), f"{label}: text_offset not non-decreasing: {off!r:.200}")
        for i in range(first, n_shown):
            x = tlp[i]
            if not self.ok(isinstance(x, float) and math.isfinite(x) and x <= 0,
                           f"{label}: token_logprobs[{i}] = {x!r} (must be a finite float <= 0)"):
                return
            t = top[i]
            if not self.ok(isinstance(t, dict) and K <= len(t) <= K + 1
                           and all(isinstance(k, str) and isinstance(v, float) and v <= 0 for k, v in t.items()),
                           f"{label}: top_logprobs[{i}] must map {K} (or {K + 1} with the chosen token) distinct token "
                           f"strings to logprobs, got {t!r}"):
                return
            self.ok(max(t.values()) >= x - 1e-12, f"{label}: top_logprobs[{i}] max {max(t.values())} < token logprob {x}")
        # token strings, text and offsets against the tokenizer (for tokens that are whole UTF-8)
        all_ids = list(ids)
        pieces = [self.piece(t) for t in ids]
        if echo and all(p is not None for p in pieces):
            self.ok(toks[: len(ids)] == pieces, f"{label}: tokens {toks[:len(ids)]!r:.200} != the ids' text {pieces!r:.200}")
            exp_off = [sum(len(p) for p in pieces[:i]) for i in range(len(ids))]
            self.ok(off[: len(ids)] == exp_off, f"{label}: text_offset {off[:len(ids)]} != {exp_off}")
            joined = "".join(pieces)
            if text is not None:
                self.ok(joined == text, f"(test bug) tokenization of {text!r} does not round-trip")
            if max_tokens == 0:
                self.ok(ch.text == joined, f"{label}: text {ch.text!r} != the prompt {joined!r}")
            else:
                self.ok(ch.text.startswith(joined) and ch.text == joined + toks[-1] or toks[-1].startswith("bytes:"),
                        f"{label}: text {ch.text!r} != prompt + generated token {joined!r} + {toks[-1]!r}")
        if not echo:
            prompt_len = len("".join(p or "" for p in pieces))
            self.warn(off[0] == prompt_len, f"{label}: text_offset[0] {off[0]} for the generated token; OpenAI "
                                            f"counts from the start of the prompt ({prompt_len})")
        # cross-check with /score (same model and weights)
        res = self.score(ids)
        s_lp, s_greedy, s_top = res["logprobs"], res["greedy"], res.get("top")
        if echo:
            for i in range(1, len(ids)):
                d = abs(tlp[i] - s_lp[i])
                self.ok(d <= self.tol, f"{label}: token_logprobs[{i}] {tlp[i]!r} vs /score {s_lp[i]!r} (|d|={d:.3g})")
                if s_greedy[i]:
                    self.ok(tlp[i] == max(top[i].values()),
                            f"{label}: token {i} is the argmax (/score greedy) but token_logprob {tlp[i]!r} != "
                            f"max(top_logprobs) {max(top[i].values())!r}: lm-eval's is_greedy compares these floats")
                if s_top and s_top[i]:
                    want = {self.piece(tid): v for tid, v in s_top[i]}
                    if None not in want and len(want) == K:
                        got = {k: v for k, v in top[i].items() if k in want}
                        self.ok(set(want) <= set(top[i]) and all(abs(got[k] - want[k]) <= self.tol for k in want),
                                f"{label}: top_logprobs[{i}] {top[i]!r} vs /score top {want!r}")
        if max_tokens == 1:
            # the generated token: greedy, i.e. the argmax after the prompt; its logprob is the top entry
            gen_lp = tlp[-1]
            self.ok(gen_lp == max(top[-1].values()),
                    f"{label}: generated token's logprob {gen_lp!r} != max(top_logprobs[-1]) {max(top[-1].values())!r} "
                    f"(temperature 0 / greedy)")
            seq = self.score(all_ids + [ids[-1]])  # any token: we only need the distribution after the prompt
            if seq.get("top") and seq["top"][len(ids)]:
                best_id, best_lp = seq["top"][len(ids)][0]
                self.ok(abs(best_lp - gen_lp) <= self.tol,
                        f"{label}: generated token logprob {gen_lp!r} vs /score's best {best_lp!r} (id {best_id})")
                p = self.piece(best_id)
                if p is not None:
                    self.ok(toks[-1] == p, f"{label}: generated token {toks[-1]!r} vs /score's argmax {p!r}")
                self.ok(ch.finish_reason == ("stop" if best_id == 50256 else "length"),
                        f"{label}: finish_reason {ch.finish_reason!r} after generating id {best_id}")
        else:
            self.ok(ch.finish_reason == "length", f"{label}: finish_reason {ch.finish_reason!r} with max_tokens 0")

    # ---------------------------------------------------------------- errors
    def check_error(self, label: str, **kw):
        args = dict(model=self.model, prompt="The capital of France is", echo=True, logprobs=K, max_tokens=0)
        args.update(kw)
        try:
            r = self.client.completions.create(**args)
            if kw.get("stream"):
                for _ in r:  # a 200 stream: drain it, then report
                    pass
        except openai.UnprocessableEntityError as e:
            body = e.body if isinstance(e.body, dict) else {}
            msg = body.get("message")
            self.ok(e.status_code == 422, f"{label}: status {e.status_code}")
            self.ok(isinstance(msg, str) and msg != "" and e.message == f"Error code: 422 - {msg}",
                    f"{label}: unreadable error: e.message={e.message!r}, body={e.body!r}")
            self.ok(isinstance(body.get("type"), str), f"{label}: error.type {body.get('type')!r}")
            self.notes.append(f"{label} -> 422 {msg!r} (param {e.param!r}, code {e.code!r})")
        except openai.APIStatusError as e:
            self.ok(False, f"{label}: expected HTTP 422, got {e.status_code} {type(e).__name__}: {e.message}")
        except openai.APIError as e:
            self.ok(False, f"{label}: expected HTTP 422, got {type(e).__name__}: {e}")
        else:
            self.ok(False, f"{label}: expected openai.UnprocessableEntityError (422), the request succeeded")

    # ---------------------------------------------------------------- run
    def run(self) -> int:
        self.guarded("GET /v1/models", self.check_models)
        if self.model is None:
            self.model = "unknown"
        s1 = "The capital of France is Paris."
        s2 = ["Hello world", "The cat sat on the mat. It was happy!"]
        e1, e2 = self.enc.encode(s1), [self.enc.encode(s) for s in s2]
        ids3 = [464, 3139, 286, 4881, 318, 6342, 13]
        ids4 = [[40, 588, 257, 922, 1492, 13], [818, 262, 3329, 11, 262, 4252, 318, 3223], [50256, 464, 3797]]
        for mt in (0, 1):
            self.guarded(f"string prompt, max_tokens={mt}", self.check_completion, f"string prompt, max_tokens={mt}", s1, [e1], [s1], mt)
            self.guarded(f"list of strings, max_tokens={mt}", self.check_completion, f"list of strings, max_tokens={mt}", s2, e2, s2, mt)
            self.guarded(f"list of ids, max_tokens={mt}", self.check_completion, f"list of ids, max_tokens={mt}", ids3, [ids3], [None], mt)
            self.guarded(f"list of id lists, max_tokens={mt}", self.check_completion, f"list of id lists, max_tokens={mt}", ids4, ids4, [None] * 3, mt)
        self.guarded("string prompt, echo=False, max_tokens=1", self.check_completion, "string prompt, echo=False, max_tokens=1", s1, [e1], [s1], 1, echo=False)
        self.check_error("max_tokens=5", max_tokens=5)
        self.check_error("stream=True", stream=True)
        self.check_error("n=2", n=2)
        self.check_error("echo=False with max_tokens=0", echo=False)
        for f in self.failures[:60]:
            print("  FAIL " + f)
        if len(self.failures) > 60:
            print(f"  ... and {len(self.failures) - 60} more")
        for n in self.notes:
            print("  " + n)
        status = "OK" if not self.failures else "FAIL"
        print(f"check_openai_client: {status} {self.n_checks - len(self.failures)}/{self.n_checks} checks passed "
              f"against {self.base}/v1 (openai {openai.__version__})")
        return 0 if not self.failures else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", default=os.environ.get("LMSCORE_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--model", default=None, help="model id to send (default: the first id of /v1/models)")
    ap.add_argument("--ranks", default=str(DEFAULT_RANKS))
    ap.add_argument("--tol", type=float, default=2e-4)
    args = ap.parse_args()
    try:
        return Checker(args).run()
    except openai.APIConnectionError as e:
        print(f"check_openai_client: FAIL cannot reach {args.base_url}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
