#!/usr/bin/env python3
"""Compare `lmscore tokenize` with tiktoken, token for token.

tiktoken's "gpt2" encoding is built OFFLINE from the same ranks file lmscore reads (no download):
name "gpt2", the r50k pattern, mergeable ranks from `tiktoken.load.load_tiktoken_bpe` (checked against
the file's SHA-256), special tokens {"<|endoftext|>": 50256}. When tiktoken ships its own r50k pattern
string (tiktoken_ext.openai_public.r50k_pat_str, a possessive-quantifier spelling of the same pattern), a
second Encoding with it must agree as well.

Checked, each through one `lmscore tokenize --jsonl` process:
  1. encode_ordinary of every text: every file of the corpus directory (../shared/corpus beside the
     repository, or LMSCORE_SHARED_CORPUS=DIR; skipped with a notice when absent) and generated texts:
     hand-picked tricky strings, whitespace runs of every kind, contractions in both cases, numbers in
     several scripts, emoji sequences (ZWJ, skin tones, flags, keycaps), code, CJK/Arabic/Devanagari/
     combining marks, random code point strings, long pieces with no space (thousands of bytes), and
     every code point of planes 0-3 and 14 in a few contexts;
  2. encode(allowed_special="all") of the same texts plus `<|endoftext|>` variants, with the UTF-8 byte
     offset of every token (which must be the running sum of tiktoken's token byte lengths);
  3. decode (errors="replace") and decode_with_offsets of id lists: the round trip of every generated
     text, random slices of encodings that split UTF-8 characters, random id lists (half of them drawn
     from tokens that are not UTF-8 on their own), and unknown ids, which both sides must reject.
     decode_with_offsets raises on bytes that are not UTF-8; lmscore must then give null offsets.

Prints the first mismatches in detail and ends with
`check_tokenizer: N texts, M tokens, K id lists, X mismatches`. Exit status 0 only with no mismatch.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
R50K_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"
MAX_REPORTS = 10


def make_encodings(ranks_file: Path):
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local file directly, cache nothing
    import tiktoken
    import tiktoken.load

    ranks = tiktoken.load.load_tiktoken_bpe(str(ranks_file), expected_hash=RANKS_SHA256)
    encodings = [tiktoken.Encoding(name="gpt2", pat_str=R50K_PATTERN, mergeable_ranks=ranks,
                                   special_tokens={ENDOFTEXT: 50256})]
    try:
        from tiktoken_ext.openai_public import r50k_pat_str
        encodings.append(tiktoken.Encoding(name="gpt2-official-pattern", pat_str=r50k_pat_str,
                                           mergeable_ranks=ranks, special_tokens={ENDOFTEXT: 50256}))
    except ImportError:
        pass
    return tiktoken.__version__, encodings


# ---------------------------------------------------------------------------------------------- texts

WHITESPACE = [" ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\u00a0", "\u1680", "\u2000", "\u2003",
              "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
NOT_WHITESPACE = ["\u200b", "\u180e", "\ufeff", "\x1c", "\x1d", "\x1e", "\x1f", "\u2060"]
WORDS = ["hello", "Hello", "HELLO", "world", "I", "a", "the", "don", "We", "naïve", "café", "Straße", "ǅemal",
         "日本語", "中文", "한국어", "Привет", "мир", "Ελλάδα", "עברית", "العربية", "हिन्दी", "ภาษาไทย",
         "e\u0301", "n\u0303o", "a\u0308\u0301", "🙂", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇫🇷", "1️⃣", "❤️",
         "🧑🏿‍🤝‍🧑🏻", "👩🏾‍💻", "123", "12345", "3.14", "1,000", "٣٤٥", "१२३", "Ⅻ", "½", "①", "１２３", "x²",
         "!", "?!", "...", "—", "–", "“quoted”", "‘single’", "(", ")", "{}", "[]", "<>", "#", "@user", "$5",
         "€10", "100%", "a+b=c", "__init__", "->", "=>", "::", "&&", "||", "//", "/*", "*/", "\\", "\"", "'",
         "’", "`", "~", "^", "|", "_", "-", "--", "---", "====", "\u00ad", "\u200d", "\ufffd", "\x00", "\x7f"]
CONTRACTIONS = ["s", "d", "m", "t", "ll", "ve", "re"]
CODE = [
    "def f(x):\n    return x ** 2  # square\n\n\nprint(f(3))\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "const x = {a: 1, 'b': [2, 3], \"c\": null};\n",
    "<div class=\"x\">\n  <p>Hello&nbsp;world</p>\n</div>\n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "    if x:\n        y = 1\n    else:\n        y = 2\n",
    "{\"sequences\": [[464, 329, 318, 257]], \"top_k\": 5}\r\n",
    "#!/usr/bin/env bash\nset -euo pipefail\necho \"$HOME\" | tr a-z A-Z\n",
    "fn main() { println!(\"{}\", 1u8 as char); }",
    "x = y if a else b  \t \n\t\t  z",
]
TRICKY = [
    "", " ", "  ", "   ", "\n", "\n\n", "\n\n\n", " \n", "\n ", "\t", "\t\t", " \t", "\t ", "\r\n", "\r\n\r\n",
    "hello", " hello", "  hello", "   hello", "hello ", "hello  ", "hello   ", " hello ", "  hello  ",
    "hello\n", "hello\n\n", "\nhello", "\n\nhello", "hello world", "hello  world", "hello\tworld",
    "hello \tworld", "hello\t world", "hello \n world", "a  b   c    d", "a\u00a0b", "a \u00a0b", "a\u00a0 b",
    "a\u3000b", "a \u3000 b", "it's", "It's", "IT'S", "I'm", "I'M", "we'll", "WE'LL", "we've", "they're",
    "THEY'RE", "don't", "DON'T", "she'd", "'s", "'S", "''s", "'''", "' s", " 's", "x's's", "rock'n'roll",
    "it’s", "12345", " 12345", "123456789012345678901234567890", "1 2 3", "1.5", "-1", "v1.2.3", "3rd",
    "😀", " 😀", "😀😀", "a😀b", "日本語のテキスト", " 日本", "漢字kanji", "e\u0301", " e\u0301",
    "\u0301", "a\u0301\u0302\u0303", "Ω≈ç√∫", "Ünïcödé", "ℌ𝔢𝔩𝔩𝔬", "𝐀𝐁𝐂", "\U0001F600\U0001F3FD",
    ENDOFTEXT, " " + ENDOFTEXT, ENDOFTEXT + " ", "a" + ENDOFTEXT + "b", ENDOFTEXT * 2, "<|endoftext",
    "<|endoftext|", "<<|endoftext|>>", "<|EndOfText|>", ENDOFTEXT + "'s", "\n" + ENDOFTEXT + "\n\n",
    "<|endoftext|><|endoftext|> x <|endoftext|>", "<|endo<|endoftext|>ftext|>",
    "\x00\x01\x02", "\x7f\x80\x81", "\ufeffBOM", "\ufeff", "\uffff", "\U0010ffff", "\ue000", "\U000f0000",
    "x" * 1000, "ab" * 1000, "😀" * 300, "=" * 5000, "-" * 3000 + "x", " " * 3000 + "x", "\n" * 500,
    "a" * 257 + " " + "b" * 129, "日" * 2000, "1" * 3000, "!@#$%^&*()" * 200,
    "abcdefghijklmnopqrstuvwxyz" * 200, "Supercalifragilisticexpialidocious" * 60,
]


def generated_texts(rng: random.Random) -> list[tuple[str, str]]:
    """(label, text) pairs."""
    texts = [(f"tricky[{i}]", t) for i, t in enumerate(TRICKY)]
    texts += [(f"code[{i}]", t) for i, t in enumerate(CODE)]
    texts += [(f"word[{i}]", w) for i, w in enumerate(WORDS)] + [(f"space-word[{i}]", " " + w) for i, w in enumerate(WORDS)]
    # whitespace: every pair of kinds, between words, at the start and at the end
    spaces = WHITESPACE + NOT_WHITESPACE
    for a in spaces:
        for b in spaces:
            texts.append((f"ws {a!r}{b!r}", f"x{a}{b}y {a}{b}1{a}{a}{b}.{b}{a}{a}"))
            texts.append((f"ws-edge {a!r}{b!r}", f"{a}{b}"))
    for i in range(400):
        run = lambda: "".join(rng.choice(spaces) for _ in range(rng.randint(1, 6)))
        texts.append((f"ws-random[{i}]", "".join(rng.choice([run(), rng.choice(WORDS), " " + rng.choice(WORDS)])
                                                  for _ in range(rng.randint(1, 12)))))
    # contractions, both cases, in several surroundings
    for c in CONTRACTIONS:
        for variant in {c, c.upper(), c.capitalize()}:
            for form in ["I'{}", "'{}", "''{}", " '{}", "'{}x", "x'{}'{}", "dog'{} ", "‘{}", "’{}", "'{}'",
                         "\n'{}", "1'{}", "!'{}"]:
                text = form.format(variant, variant)
                texts.append((f"contraction {text!r}", text))
    # numbers in several scripts and shapes
    digits = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "０１２３４５６７８９", "𝟎𝟏𝟐𝟑", "ⅠⅡⅢⅣⅫ", "½¼¾", "①②③", "²³¹"]
    for i in range(200):
        ds = rng.choice(digits)
        n = "".join(rng.choice(ds) for _ in range(rng.randint(1, 20)))
        texts.append((f"number[{i}]", rng.choice(["{}", " {}", "x{}", "{}x", "{}.{}", "{} {}", "-{}", "{},{}"]).format(n, n)))
    # emoji sequences
    emoji = ["😀", "👍", "👍🏻", "👍🏿", "👨‍👩‍👧‍👦", "👩‍❤️‍💋‍👨", "🏳️‍🌈", "🏴‍☠️", "🇺🇸", "🇯🇵", "1️⃣", "#️⃣",
             "❤️", "☺️", "🧑🏽‍🚀", "👁️‍🗨️", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "\u200d", "\ufe0f", "\U0001F3FB"]
    for i in range(300):
        texts.append((f"emoji[{i}]", "".join(rng.choice(emoji + [" ", "a", "1", "!", "  "]) for _ in range(rng.randint(1, 10)))))
    # random word salad from all the pools
    pool = WORDS + WHITESPACE + NOT_WHITESPACE + emoji + ["'" + c for c in CONTRACTIONS] + [ENDOFTEXT]
    for i in range(1500):
        texts.append((f"salad[{i}]", "".join(rng.choice(pool) for _ in range(rng.randint(1, 30)))))
    # random code point strings (no surrogates): mostly byte-ish low ranges, some anywhere
    ranges = [(0, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF), (0x1F300, 0x1FAFF)]
    for i in range(1500):
        chars = []
        for _ in range(rng.randint(1, 60)):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
        texts.append((f"random-codepoints[{i}]", "".join(chars)))
    # long pieces (BPE on thousands of bytes at once)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in range(40):
        n = rng.randint(100, 4000)
        alphabet = rng.choice([letters, "aeiou", "!?.,;:-=+*/", "0123456789", "абвгдежз", "日本語中文字"])
        texts.append((f"long-piece[{i}]", " " + "".join(rng.choice(alphabet) for _ in range(n))))
    return texts


def codepoint_texts() -> list[tuple[str, str]]:
    """Every code point of planes 0-3 and 14 (and a sample of the rest) in contexts where its class
    (letter, number, whitespace, other) decides the pieces."""
    points = [c for c in range(0x40000) if not 0xD800 <= c <= 0xDFFF]
    points += list(range(0xE0000, 0xF0000)) + list(range(0x40000, 0xE0000, 97)) + list(range(0xF0000, 0x110000, 89))
    texts = []
    for i in range(0, len(points), 512):
        chunk = points[i:i + 512]
        parts = []
        for c in chunk:
            ch = chr(c)
            parts.append(f"a{ch}b {ch}c 7{ch}8 .{ch}, {ch}{ch}  {ch}\t{ch}'s{ch} x")
        texts.append((f"codepoints U+{chunk[0]:04X}..U+{chunk[-1]:04X}", "\n".join(parts)))
    return texts


# ------------------------------------------------------------------------------------------- checking

class Checker:
    def __init__(self, binary: list[str]):
        self.binary = binary
        self.mismatches = 0
        self.reports = 0

    def fail(self, message: str):
        self.mismatches += 1
        if self.reports < MAX_REPORTS:
            print("MISMATCH " + message)
            self.reports += 1

    def run(self, args: list[str], lines: list[str]) -> list[object]:
        stdin = ("\n".join(lines) + "\n").encode()
        proc = subprocess.run(self.binary + ["tokenize", "--jsonl"] + args, input=stdin, capture_output=True)
        if proc.returncode != 0:
            sys.exit(f"check_tokenizer: lmscore tokenize {' '.join(args)} failed ({proc.returncode}): "
                     f"{proc.stderr.decode(errors='replace').strip()}")
        # split at b"\n" only: str.splitlines() would also split at U+2028, U+0085, … inside strings
        out = [json.loads(line) for line in proc.stdout.split(b"\n") if line]
        if len(out) != len(lines):
            sys.exit(f"check_tokenizer: sent {len(lines)} lines, got {len(out)} back")
        return out


def describe(text: str, ours: list[int], theirs: list[int], encoding) -> str:
    i = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    show = lambda ids: [(t, encoding.decode_single_token_bytes(t)) for t in ids[max(0, i - 2):i + 4]]
    snippet = text if len(text) < 120 else text[:120] + "…"
    return (f"first difference at token {i}: lmscore {show(ours)} vs tiktoken {show(theirs)}\n"
            f"    text ({len(text)} chars) {snippet!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmscore", required=True, help="the lmscore binary")
    parser.add_argument("--model", default=str(REPO / "Models" / "lmscore-gpt2-small-en"),
                        help="model directory with gpt2.tiktoken (passed to lmscore too)")
    parser.add_argument("--corpus", default=os.environ.get("LMSCORE_SHARED_CORPUS", str(REPO.parent / "shared" / "corpus")),
                        help="directory of .txt files (default: $LMSCORE_SHARED_CORPUS or ../shared/corpus)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.time()
    ranks_file = Path(args.model) / "gpt2.tiktoken"
    digest = hashlib.sha256(ranks_file.read_bytes()).hexdigest()
    if digest != RANKS_SHA256:
        sys.exit(f"check_tokenizer: {ranks_file}: SHA-256 {digest}, expected {RANKS_SHA256}")
    version, encodings = make_encodings(ranks_file)
    enc = encodings[0]
    print(f"check_tokenizer: tiktoken {version}, ranks {ranks_file}, "
          f"{len(encodings)} pattern{'s' if len(encodings) > 1 else ''}, binary {args.lmscore}")
    checker = Checker([args.lmscore])
    model_args = ["--model", args.model]
    rng = random.Random(args.seed)

    texts: list[tuple[str, str]] = []
    corpus = Path(args.corpus)
    if corpus.is_dir():
        files = sorted(p for p in corpus.iterdir() if p.is_file())
        # bytes → str ourselves: read_text() would turn \r\n into \n (some corpus files have \r\n)
        texts += [(f"corpus {p.name}", p.read_bytes().decode("utf-8")) for p in files]
        print(f"check_tokenizer: corpus {corpus}: {len(files)} files, {sum(len(t) for _, t in texts)} characters")
    else:
        print(f"check_tokenizer: SKIPPED the corpus: {corpus} does not exist (set LMSCORE_SHARED_CORPUS=DIR)")
    texts += generated_texts(rng)
    texts += codepoint_texts()
    lines = [json.dumps(t) for _, t in texts]
    tokens = 0

    # 1. encode_ordinary
    ours_all = checker.run(model_args, lines)
    ordinary_ids = []
    for (label, text), ours in zip(texts, ours_all):
        theirs = enc.encode_ordinary(text)
        ordinary_ids.append(theirs)
        tokens += len(theirs)
        for other in encodings[1:]:
            if other.encode_ordinary(text) != theirs:
                checker.fail(f"[tiktoken patterns disagree] {label}")
        if ours != theirs:
            checker.fail(f"[encode_ordinary] {label}: {describe(text, ours, theirs, enc)}")
    print(f"check_tokenizer: encode_ordinary: {len(texts)} texts, {tokens} tokens, {time.time() - started:.1f} s")

    # 2. encode(allowed_special="all") with byte offsets
    ours_all = checker.run(model_args + ["--allow-special", "--byte-offsets"], lines)
    for (label, text), ours in zip(texts, ours_all):
        theirs = enc.encode(text, allowed_special="all")
        tokens += len(theirs)
        if ours["ids"] != theirs:
            checker.fail(f"[encode allowed_special=all] {label}: {describe(text, ours['ids'], theirs, enc)}")
            continue
        expected, at = [], 0
        for t in theirs:
            expected.append(at)
            at += len(enc.decode_single_token_bytes(t))
        if ours["byte_offsets"] != expected:
            checker.fail(f"[byte offsets] {label}: lmscore {ours['byte_offsets'][:20]} vs {expected[:20]}")
    print(f"check_tokenizer: encode(allowed_special='all') + byte offsets: {len(texts)} texts, {time.time() - started:.1f} s")

    # 3. decode and decode_with_offsets
    id_lists: list[tuple[str, list[int]]] = []
    generated = [(label, ids) for (label, _), ids in zip(texts, ordinary_ids) if not label.startswith("corpus")]
    id_lists += [(f"round trip {label}", ids) for label, ids in generated]
    unicode_heavy = [(label, ids) for label, ids in generated if len(ids) > 2]
    for i in range(3000):
        label, ids = rng.choice(unicode_heavy)
        a = rng.randrange(len(ids))
        b = rng.randrange(a, min(len(ids), a + 30) + 1)
        id_lists.append((f"slice {label}[{a}:{b}]", ids[a:b]))
    partial = [t for t in range(50256) if not is_utf8(enc.decode_single_token_bytes(t))]
    for i in range(3000):
        n = rng.randint(0, 40)
        ids = [rng.choice(partial) if rng.random() < 0.5 else rng.randrange(50257) for _ in range(n)]
        id_lists.append((f"random ids[{i}]", ids))
    for bad in ([-1], [50257], [0, 99999], [2**31 - 1], [-(2**31)], [15496, 50257, 995]):
        id_lists.append((f"unknown ids {bad}", bad))
    id_lists.append(("empty", []))

    ours_all = checker.run(model_args + ["--decode"], [json.dumps(ids) for _, ids in id_lists])
    originals = {f"round trip {label}": text for label, text in texts}
    for (label, ids), ours in zip(id_lists, ours_all):
        try:
            text = enc.decode(ids)
        except Exception as error:  # unknown id: KeyError / OverflowError / ValueError
            if "error" not in ours:
                checker.fail(f"[decode] {label}: tiktoken raised {type(error).__name__}: {error}, lmscore gave {ours}")
            continue
        if "error" in ours:
            checker.fail(f"[decode] {label}: lmscore error {ours['error']!r}, tiktoken decodes {text!r}")
            continue
        if ours["text"] != text:
            checker.fail(f"[decode] {label}: {ours['text']!r} vs tiktoken {text!r}")
        if label in originals and ours["text"] != originals[label]:
            checker.fail(f"[round trip] {label}: decode(encode(text)) != text")
        try:
            offsets = enc.decode_with_offsets(ids)[1]
        except UnicodeDecodeError:
            offsets = None
        if ours["offsets"] != offsets:
            checker.fail(f"[decode_with_offsets] {label} ids {ids[:20]}: lmscore {ours['offsets']} vs tiktoken {offsets}")
    print(f"check_tokenizer: decode + decode_with_offsets: {len(id_lists)} id lists, {time.time() - started:.1f} s")

    print(f"check_tokenizer: {len(texts)} texts, {tokens} tokens, {len(id_lists)} id lists, {checker.mismatches} mismatches")
    sys.exit(1 if checker.mismatches else 0)


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


if __name__ == "__main__":
    main()
