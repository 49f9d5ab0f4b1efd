#!/usr/bin/env python3
"""Checks lmscore's tokenizer.json reader against llama.cpp's vocabulary tests and HF `tokenizers`.

llama.cpp ships, for each vocabulary it supports, a GGUF file holding only the tokenizer
(models/ggml-vocab-NAME.gguf), ~46 hard test strings (.inp) and the ids HF's tokenizer gives them
(.out). For each vocabulary named below this script:
  1. turns the GGUF vocabulary into a tokenizer.json with the `tokenizers` package, following HF's own
     converters (LlamaConverter for SentencePiece vocabularies; the published tokenizer.json layouts of
     Llama 3, Qwen2, GPT-2 and StarCoder for byte-level ones);
  2. encodes every .inp string with `lmscore tokenize --tokenizer FILE --jsonl --allow-special` and with
     `tokenizers` (add_special_tokens=False, as llama.cpp's test-tokenizer-0.py), and compares both with
     the .out ids;
  3. encodes the corpus (../shared/corpus, in chunks of lines) with both, and decodes every id list
     with both (`--decode`);
  4. encodes the same texts with lmscore reading the .gguf file itself (`--tokenizer FILE.gguf`: the
     vocabulary from GGUF metadata, as for a GGUF model) and compares with the .out ids and with
     lmscore's ids from the tokenizer.json; and for vocabularies this script does not convert
     (GGUF_ONLY), the .gguf file against the .out ids alone.
Prints each mismatch, and a line per vocabulary; exit status 0 only with zero mismatches between
lmscore and `tokenizers` and between lmscore and the .out files. Where the .out files disagree with
`tokenizers` itself, that is reported as such (it is a fact about the reference, not about lmscore).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import struct

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

VOCABULARIES = ["llama-bpe", "qwen2", "llama-spm", "gpt-2", "starcoder"]
# Read by lmscore from the .gguf file only (Phi-3's SentencePiece, MPT's GPT-2 split, Refact's and
# Command-R's StarCoder split): checked against llama.cpp's .out files.
GGUF_ONLY = ["phi-3", "mpt", "refact", "command-r"]
SEPARATOR = "\n__ggml_vocab_test__\n"

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

CONTROL, USER_DEFINED = 3, 4  # llama.cpp token types


def read_gguf_metadata(path):
    """The key/value section of a GGUF file (llama.cpp's format; the vocabulary files hold no tensors).
    Read here rather than with the `gguf` package's GGUFReader, which took 45 s for llama-bpe's 280k
    merges on the 2-core CI machine (it builds numpy views of every string); this takes about a second."""
    data = Path(path).read_bytes()
    at = 0

    def take(fmt):
        nonlocal at
        values = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return values[0]

    def string():
        nonlocal at
        n = take("Q")
        text = data[at:at + n].decode("utf-8")
        at += n
        return text

    scalars = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(kind):
        if kind == 8:
            return string()
        if kind == 9:
            item_kind, count = take("I"), take("Q")
            return [value(item_kind) for _ in range(count)]
        return take(scalars[kind])

    if data[:4] != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    at = 4
    version, _tensors, count = take("I"), take("Q"), take("Q")
    if version < 2:
        raise SystemExit(f"{path}: GGUF version {version} not read by this script")
    metadata = {}
    for _ in range(count):
        key = string()
        metadata[key] = value(take("I"))
    return metadata


def spm_merges(vocab, scores):
    """HF's SentencePieceExtractor.extract(vocab_scores): every split of every piece into two pieces,
    ordered by the piece's score (highest first), ties in vocabulary order."""
    merges = []
    for piece, score in scores:
        local = [(piece[:i], piece[i:], score) for i in range(1, len(piece))
                 if piece[:i] in vocab and piece[i:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    return [(left, right) for left, right, _ in merges]


def convert(gguf_path):
    """The GGUF vocabulary as a `tokenizers.Tokenizer`."""
    metadata = read_gguf_metadata(gguf_path)
    kind, pre = metadata["tokenizer.ggml.model"], metadata.get("tokenizer.ggml.pre")
    tokens = metadata["tokenizer.ggml.tokens"]
    types = metadata["tokenizer.ggml.token_type"]
    vocab = {token: i for i, token in enumerate(tokens)}
    if kind == "llama":  # SentencePiece BPE, as HF's LlamaConverter (legacy normalizer form)
        scores = metadata["tokenizer.ggml.scores"]
        merges = spm_merges(vocab, list(zip(tokens, scores)))
        unk = tokens[metadata["tokenizer.ggml.unknown_token_id"]]
        tokenizer = Tokenizer(models.BPE(vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
        tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                               decoders.Strip(" ", 1, 0)])
        specials = [tokens[i] for i, t in enumerate(types) if t in (CONTROL, 2)]  # 2: unknown
    elif kind == "gpt2":  # byte-level BPE
        merges = [tuple(m.split(" ")) for m in metadata["tokenizer.ggml.merges"]]
        tokenizer = Tokenizer(models.BPE(vocab, merges, ignore_merges=(pre == "llama-bpe")))
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        if pre == "llama-bpe":
            tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"), byte_level])
        elif pre == "qwen2":
            tokenizer.normalizer = normalizers.NFC()
            tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"), byte_level])
        elif pre == "gpt-2":
            tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        elif pre == "starcoder":
            tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        else:
            raise SystemExit(f"{gguf_path}: pre-tokenizer {pre!r} not converted by this script")
        tokenizer.decoder = decoders.ByteLevel()
        specials = [tokens[i] for i, t in enumerate(types) if t == CONTROL]
    else:
        raise SystemExit(f"{gguf_path}: tokenizer model {kind!r} not converted by this script")
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    user = [tokens[i] for i, t in enumerate(types) if t == USER_DEFINED]
    if user:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])
    return tokenizer


def lmscore_jsonl(lmscore, tokenizer_file, lines, decode=False):
    """One lmscore process for many inputs: a JSON value per line in, one per line out."""
    args = [lmscore, "tokenize", "--tokenizer", str(tokenizer_file), "--jsonl"]
    args += ["--decode"] if decode else ["--allow-special"]
    data = "".join(json.dumps(line) + "\n" for line in lines)
    out = subprocess.run(args, input=data.encode(), capture_output=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"lmscore tokenize failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


def differing_encodings(name, texts, first, second, shown=10):
    """How many texts the two (label, ids per text) encodings differ on; the first `shown` are printed."""
    count = 0
    for i, text in enumerate(texts):
        if first[1][i] != second[1][i]:
            count += 1
            if count <= shown:
                print(f"{name} text {i} {text[:200]!r}: {first[0]} {first[1][i][:40]} {second[0]} {second[1][i][:40]}")
    return count


def corpus_texts(directory, files, lines_per_text):
    texts = []
    paths = sorted(Path(directory).glob("*.txt")) if files == "all" else [Path(directory) / f for f in files.split(",")]
    for path in paths:
        lines = path.read_text(encoding="utf-8").split("\n")
        for i in range(0, len(lines), lines_per_text):
            text = "\n".join(lines[i:i + lines_per_text])
            if text:
                texts.append(text)
    return texts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lmscore", required=True)
    parser.add_argument("--models", required=True, help="llama.cpp's models/ folder (from the sdist)")
    parser.add_argument("--work", required=True, help="where the tokenizer.json files are written")
    parser.add_argument("--corpus", help="folder of .txt files (../shared/corpus); omitted: .inp tests only")
    parser.add_argument("--corpus-files", default="all", help="comma-separated file names in --corpus, or all")
    parser.add_argument("--lines-per-text", type=int, default=8)
    parser.add_argument("--vocabularies", default=",".join(VOCABULARIES))
    parser.add_argument("--gguf-only", default=",".join(GGUF_ONLY), help="vocabularies checked from the .gguf file alone")
    args = parser.parse_args()

    failures = 0
    for name in args.vocabularies.split(","):
        gguf_path = Path(args.models) / f"ggml-vocab-{name}.gguf"
        tokenizer = convert(gguf_path)
        tokenizer_file = Path(args.work) / name / "tokenizer.json"
        tokenizer_file.parent.mkdir(parents=True, exist_ok=True)
        tokenizer.save(str(tokenizer_file))

        inputs = Path(f"{gguf_path}.inp").read_text(encoding="utf-8").split(SEPARATOR)
        expected = [[int(x) for x in line.split()] for line in Path(f"{gguf_path}.out").read_text(encoding="utf-8").split("\n")]
        inputs = inputs[:len(expected)] if len(expected) < len(inputs) else inputs
        corpus = corpus_texts(args.corpus, args.corpus_files, args.lines_per_text) if args.corpus else []
        texts = inputs + corpus
        ours_all = lmscore_jsonl(args.lmscore, tokenizer_file, texts)  # one process: the file loads once
        theirs_all = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
        ours, theirs = ours_all[:len(inputs)], theirs_all[:len(inputs)]
        out_vs_ours = out_vs_theirs = 0
        for i, text in enumerate(inputs):
            if ours[i] != expected[i]:
                out_vs_ours += 1
                print(f"{name} .inp[{i}] {text!r}: lmscore {ours[i]} .out {expected[i]} tokenizers {theirs[i]}")
            if theirs[i] != expected[i]:
                out_vs_theirs += 1
                print(f"{name} .inp[{i}] {text!r}: the .out file {expected[i]} differs from tokenizers {theirs[i]}")

        encode_mismatches = differing_encodings(name, texts, ("lmscore", ours_all), ("tokenizers", theirs_all))
        decoded = lmscore_jsonl(args.lmscore, tokenizer_file, theirs_all, decode=True)
        reference_decoded = tokenizer.decode_batch(theirs_all, skip_special_tokens=False)
        decode_mismatches = 0
        for i, ids in enumerate(theirs_all):
            if decoded[i].get("text") != reference_decoded[i]:
                decode_mismatches += 1
                if decode_mismatches <= 10:
                    print(f"{name} decode {i} {ids[:20]}: lmscore {decoded[i]!r:.200} tokenizers {reference_decoded[i]!r:.200}")
        tokens = sum(len(ids) for ids in theirs_all)
        print(f"check_hf_tokenizers: {name}: {len(inputs)} llama.cpp tests ({out_vs_ours} lmscore ≠ .out, "
              f"{out_vs_theirs} .out ≠ tokenizers), {len(texts)} texts / {tokens} tokens: "
              f"{encode_mismatches} encode and {decode_mismatches} decode mismatches with tokenizers", flush=True)
        failures += out_vs_ours + encode_mismatches + decode_mismatches

        gguf_all = lmscore_jsonl(args.lmscore, gguf_path, texts)
        gguf_vs_out = sum(1 for i in range(len(inputs)) if gguf_all[i] != expected[i])
        gguf_vs_json = differing_encodings(name, texts, ("lmscore from .gguf", gguf_all), ("from tokenizer.json", ours_all))
        print(f"check_hf_tokenizers: {name}.gguf read directly: {gguf_vs_out} ≠ .out of {len(inputs)}, "
              f"{gguf_vs_json} ≠ its tokenizer.json of {len(texts)} texts", flush=True)
        failures += gguf_vs_out + gguf_vs_json

    for name in (args.gguf_only.split(",") if args.gguf_only else []):
        gguf_path = Path(args.models) / f"ggml-vocab-{name}.gguf"
        inputs = Path(f"{gguf_path}.inp").read_text(encoding="utf-8").split(SEPARATOR)
        expected = [[int(x) for x in line.split()] for line in Path(f"{gguf_path}.out").read_text(encoding="utf-8").split("\n")]
        inputs = inputs[:len(expected)] if len(expected) < len(inputs) else inputs
        ours = lmscore_jsonl(args.lmscore, gguf_path, inputs)
        mismatches = 0
        for i, text in enumerate(inputs):
            if ours[i] != expected[i]:
                mismatches += 1
                print(f"{name} .inp[{i}] {text!r}: lmscore from .gguf {ours[i]} .out {expected[i]}")
        print(f"check_hf_tokenizers: {name}.gguf read directly: {mismatches} ≠ .out of {len(inputs)}", flush=True)
        failures += mismatches
    print(f"check_hf_tokenizers: {failures} mismatches")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
