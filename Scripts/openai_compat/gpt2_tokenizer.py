#!/usr/bin/env python3
"""GPT-2 tokenizers built offline from lmscore's ranks file (no hub, no network).

* ``tiktoken_gpt2(ranks)``  -> a ``tiktoken.Encoding`` (the reference encoder).
* ``write_hf_tokenizer(ranks, out_dir)`` -> a Hugging Face tokenizer directory that
  ``transformers.AutoTokenizer.from_pretrained(out_dir)`` loads (what lm-eval's
  ``local-completions`` needs with ``tokenizer_backend=huggingface,tokenizer=out_dir``).
  vocab = the ranks (byte-level unicode spelling), merges recovered from the ranks: the merge
  that makes the token of rank r is the last step of BPE on its bytes restricted to ranks < r.
  GPT-2's merges.txt is exactly "merge i makes rank 256 + i", so this rebuilds it one-to-one.

Nothing generated here is meant to be committed: run_lm_eval.sh writes the directory into a
temporary folder on every run.

* ``seed_tiktoken_cache(ranks, dir)`` -> a TIKTOKEN_CACHE_DIR with which tiktoken.get_encoding("gpt2")
  works offline (the regenerated vocab.bpe / encoder.json are byte-identical to OpenAI's originals).

CLI:
  gpt2_tokenizer.py write OUT_DIR [--ranks FILE]                 write the HF tokenizer directory
  gpt2_tokenizer.py seed-tiktoken-cache DIR [--ranks FILE]       fill a TIKTOKEN_CACHE_DIR for "gpt2"
  gpt2_tokenizer.py selftest [--ranks FILE]                      HF dir == tiktoken on a corpus; cache works
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RANKS = REPO / "Models" / "lmscore-gpt2-small-en" / "gpt2.tiktoken"
EOT = "<|endoftext|>"
EOT_ID = 50256
# GPT-2's split pattern, as given in the lmscore brief (equivalent to tiktoken's r50k_base pattern
# and to the Hugging Face ByteLevel pre-tokenizer's regex).
PAT_STR = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def load_ranks(path: str | os.PathLike = DEFAULT_RANKS) -> dict[bytes, int]:
    import tiktoken.load

    return tiktoken.load.load_tiktoken_bpe(str(path))


def tiktoken_gpt2(path: str | os.PathLike = DEFAULT_RANKS):
    import tiktoken

    return tiktoken.Encoding(
        name="gpt2",
        pat_str=PAT_STR,
        mergeable_ranks=load_ranks(path),
        special_tokens={EOT: EOT_ID},
    )


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map (as in encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """One merge per multi-byte token, in rank order."""
    out: list[tuple[int, bytes, bytes]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best = None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) != 2 or ranks[parts[0]] >= rank or ranks[parts[1]] >= rank:
            raise ValueError(f"cannot recover the merge for token {token!r} (rank {rank}): {parts!r}")
        out.append((rank, parts[0], parts[1]))
    out.sort()
    expected = list(range(256, 256 + len(out)))
    if [r for r, _, _ in out] != expected:
        raise ValueError("ranks are not 256 single bytes followed by one merge per rank")
    return [(a, b) for _, a, b in out]


def write_hf_tokenizer(ranks_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write vocab.json, merges.txt and the tokenizer files transformers saves; returns out_dir."""
    from transformers import GPT2Tokenizer  # transformers 5: the tokenizers-backed GPT-2 class

    ranks = load_ranks(ranks_path)
    b2u = bytes_to_unicode()

    def spell(b: bytes) -> str:
        return "".join(b2u[x] for x in b)

    vocab = {spell(tok): rank for tok, rank in ranks.items()}
    if len(vocab) != len(ranks) or sorted(vocab.values()) != list(range(len(ranks))):
        raise ValueError("ranks are not a dense 0..n-1 id space")
    if len(ranks) != EOT_ID:
        raise ValueError(f"expected {EOT_ID} mergeable ranks (GPT-2), got {len(ranks)}")
    vocab[EOT] = EOT_ID
    merges = [(spell(a), spell(b)) for a, b in recover_merges(ranks)]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The classic slow-format files too, so any GPT-2 tokenizer class can read the directory.
    # json.dumps defaults: byte-identical to OpenAI's original encoder.json (sha256 196139668be6...),
    # and merges.txt to its vocab.bpe (sha256 1ce1664773c5...): see seed_tiktoken_cache.
    (out / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    tok = GPT2Tokenizer(vocab=vocab, merges=merges, add_prefix_space=False,
                        unk_token=EOT, bos_token=EOT, eos_token=EOT)
    tok.model_max_length = 1_000_000  # lm-eval truncates itself (max_length); no length warnings
    tok.save_pretrained(str(out))
    return out


# tiktoken_ext/openai_public.py gpt2(): the files and sha256 tiktoken expects for get_encoding("gpt2")
TIKTOKEN_GPT2_FILES = {
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe":
        ("merges.txt", "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json":
        ("vocab.json", "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
}


def seed_tiktoken_cache(ranks_path: str | os.PathLike, cache_dir: str | os.PathLike) -> Path:
    """Fill a TIKTOKEN_CACHE_DIR so that tiktoken.get_encoding("gpt2") (and encoding_for_model("gpt2"),
    what lm-eval's tokenizer_backend=tiktoken calls) works offline. tiktoken caches a URL's content
    under sha1(url) and checks its sha256; the files regenerated from the ranks are byte-identical
    to OpenAI's, so the check passes."""
    import hashlib
    import tempfile

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lmscore-gpt2-files-") as d:
        write_hf_tokenizer(ranks_path, d)
        for url, (name, sha) in TIKTOKEN_GPT2_FILES.items():
            data = (Path(d) / name).read_bytes()
            got = hashlib.sha256(data).hexdigest()
            if got != sha:
                raise ValueError(f"regenerated {name} has sha256 {got}, tiktoken expects {sha}")
            (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    return cache


def load_hf_tokenizer(out_dir: str | os.PathLike):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(out_dir), use_fast=True)


def _corpus() -> list[str]:
    texts = [
        "", " ", "  ", "\n", "\n\n", " \n ", "a  b", "a \n\n b", "trailing   ", "\t\ttabs\tand  spaces ",
        "Hello, world!", " Hello world", "It's, I'm, we've, they're, you'll, he'd, 'S 'T",
        "The capital of France is Paris.", "Question: 2 + 2 =\nAnswer: 4", "12345678901234567890 1,000,000.5",
        "naïve café — “quotes” ‘single’ … ü ß æ ø å Привет мир 你好世界 こんにちは 🙂👍🏽 🇫🇷",
        "e\u0301 combining, zero\u200bwidth, nbsp\u00a0here, emoji\u2764\ufe0f",
        "<|endoftext|> is text here", "def f(x):\n    return x**2  # comment\n\n\n",
        "    indented\n\tline\r\nwindows\r\n", "A" * 300, "ab" * 150, " " * 40 + "x",
        "!!!???...,,,;;;:::", "'''\"\"\"```", "http://example.com/a?b=c&d=e#f",
    ]
    # A larger natural corpus: the text files the environment already has.
    roots = [REPO, Path(sys.prefix) / "lib"]
    seen = 0
    for root in roots:
        for p in sorted(root.rglob("*")):
            if seen >= 400:
                break
            if p.suffix not in {".md", ".txt", ".py", ".yaml", ".json"} or not p.is_file():
                continue
            if ".build" in p.parts or ".git" in p.parts:
                continue
            try:
                t = p.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if 0 < len(t) <= 200_000:
                texts.append(t)
                seen += 1
    return texts


def selftest(ranks_path: str | os.PathLike) -> int:
    import tempfile

    enc = tiktoken_gpt2(ranks_path)
    with tempfile.TemporaryDirectory(prefix="lmscore-hf-tok-") as d:
        write_hf_tokenizer(ranks_path, d)
        hf = load_hf_tokenizer(d)
        assert hf.eos_token_id == EOT_ID and hf.bos_token_id == EOT_ID, (hf.eos_token_id, hf.bos_token_id)
        assert len(hf) == EOT_ID + 1, len(hf)
        texts = _corpus()
        bad = 0
        ntok = 0
        for t in texts:
            # lm-eval calls the tokenizer with add_special_tokens=False; "<|endoftext|>" inside text is
            # the special token for HF, so compare with tiktoken allowing it too.
            a = enc.encode(t, allowed_special="all")
            b = hf(t, add_special_tokens=False).input_ids
            ntok += len(a)
            if a != b:
                bad += 1
                if bad <= 3:
                    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                    print(f"MISMATCH on {t[:60]!r}: first difference at token {i}: {a[i:i+5]} vs {b[i:i+5]}")
            if hf.decode(b) != enc.decode(a):
                bad += 1
                print(f"DECODE MISMATCH on {t[:60]!r}")
        # the tiktoken cache route (lm-eval tokenizer_backend=tiktoken with model=gpt2)
        with tempfile.TemporaryDirectory(prefix="lmscore-tiktoken-cache-") as c:
            seed_tiktoken_cache(ranks_path, c)
            import subprocess

            sample = "Hello world, it's  me!\n\tUnicode: café 🙂"
            probe = "import sys, tiktoken; e = tiktoken.encoding_for_model('gpt2'); print(e.encode(sys.argv[1]), e.eot_token)"
            out = subprocess.run([sys.executable, "-c", probe, sample], capture_output=True, text=True,
                                 env={**os.environ, "TIKTOKEN_CACHE_DIR": c}, timeout=120)
            want = f"{enc.encode(sample)} {EOT_ID}"
            if out.stdout.strip() != want:
                bad += 1
                print(f"TIKTOKEN CACHE: got {out.stdout.strip()!r} {out.stderr[-300:]!r}, want {want!r}")
        print(f"gpt2_tokenizer selftest: {len(texts)} texts, {ntok} tokens, {bad} mismatches "
              f"(HF tokenizer dir vs tiktoken; seeded tiktoken cache for encoding_for_model('gpt2'))")
        return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out_dir")
    w.add_argument("--ranks", default=str(DEFAULT_RANKS))
    c = sub.add_parser("seed-tiktoken-cache")
    c.add_argument("cache_dir")
    c.add_argument("--ranks", default=str(DEFAULT_RANKS))
    s = sub.add_parser("selftest")
    s.add_argument("--ranks", default=str(DEFAULT_RANKS))
    args = ap.parse_args()
    if args.cmd == "write":
        print(write_hf_tokenizer(args.ranks, args.out_dir))
        return 0
    if args.cmd == "seed-tiktoken-cache":
        print(seed_tiktoken_cache(args.ranks, args.cache_dir))
        return 0
    return selftest(args.ranks)


if __name__ == "__main__":
    sys.exit(main())
