#!/usr/bin/env python3
"""Measure the default model with the lmscore binary itself and put the numbers in its model card.

What: two checks of Models/lmscore-gpt2-small-en, both run through the real CLI (subprocess):
  1. Held-out loss: the held-out token stream of Scripts/train_default_model.py (rebuilt from the
     corpus the same way) scored with `lmscore perplexity --stride 255`, compared with PyTorch
     (transformers' GPT2LMHeadModel on the same F16 weights upcast to float32, same windows).
     They must agree to within 1e-3 nats/token.
  2. Sanity table: ordinary English sentences, the same words shuffled, and as many random token
     ids, each prefixed with <|endoftext|> (50256) so the first word is scored too, scored with
     `lmscore score`. Expected: ordinary > shuffled > random in log-likelihood.
The results replace the part of MODEL_CARD.md between the lmscore-sanity markers.

Why: the card's numbers should be what lmscore computes, not only what PyTorch computes.

How long: about a minute (plus `swift build -c release` if the binary is missing).

Command (from the repository root, after `swift build -c release`):
    VENV=$(Scripts/setup_venv.sh) && "$VENV/bin/python" Scripts/model_card_sanity.py
Options: --model DIR, --lmscore PATH (default .build/release/lmscore), --corpus DIR,
--request-out FILE (also save the sanity request JSON), --no-write (print only).
"""

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # no Scripts/__pycache__ from the import below
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_default_model as training  # noqa: E402

REPO = training.REPO
BEGIN, END = "<!-- lmscore-sanity:begin -->", "<!-- lmscore-sanity:end -->"
SEED = 7
TOLERANCE = 1e-3

SENTENCES = [
    "The children walked to school together on a cold morning in early winter.",
    "We must work together to build a stronger economy and a safer world for our families.",
    "She was very glad to see her sister again after so many months away from home.",
    "The committee will meet next week to discuss the new budget and the plans for the coming year.",
    "He opened the letter slowly, read it twice, and then put it back into his pocket.",
]


def relative(path):
    path = Path(path).absolute()  # not resolve(): .build/release is a symlink
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_lmscore(lmscore, arguments):
    command = [str(lmscore), *arguments]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return result.stdout


# ---------------------------------------------------------------------------------------------
# 1. Held-out loss: lmscore perplexity vs PyTorch.

def pytorch_heldout_loss(model_dir, stream):
    import torch
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(2)
    model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32)  # F16 stored, upcast
    return training.heldout_loss(model, stream)


def heldout_check(lmscore, model_dir, corpus, encoding):
    _, heldout, _ = training.corpus_streams(corpus, encoding)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="heldout-") as tokens:
        tokens.write(" ".join(map(str, heldout.tolist())) + "\n")
        tokens.flush()
        arguments = ["perplexity", "--model", str(model_dir), "--tokens", tokens.name,
                     "--stride", str(training.EVAL_STRIDE), "--threads", "2", "--json"]
        measured = json.loads(run_lmscore(lmscore, arguments))
    torch_loss, torch_scored = pytorch_heldout_loss(model_dir, heldout)
    return dict(tokens=len(heldout), scored=measured["scored_tokens"], windows=measured["windows"],
                lmscore_loss=measured["loss"], torch_loss=torch_loss, torch_scored=torch_scored)


# ---------------------------------------------------------------------------------------------
# 2. Sanity table: ordinary vs shuffled vs random ids.

def sanity_rows(encoding):
    """[(label, sentence, kind, ids)] with ids prefixed by <|endoftext|>."""
    words_rng, ids_rng = random.Random(SEED), np.random.default_rng(SEED)
    rows = []
    for number, sentence in enumerate(SENTENCES, 1):
        ordinary = encoding.encode_ordinary(sentence)
        words = sentence.split()
        words_rng.shuffle(words)
        shuffled = " ".join(words)
        noise = ids_rng.integers(0, training.EOT, size=len(ordinary)).tolist()
        rows.append((number, sentence, "ordinary", [training.EOT] + ordinary))
        rows.append((number, shuffled, "shuffled", [training.EOT] + encoding.encode_ordinary(shuffled)))
        rows.append((number, "", "random", [training.EOT] + noise))
    return rows


def score_rows(lmscore, model_dir, rows, request_out):
    request = {"sequences": [ids for *_, ids in rows]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="sanity-") as file:
        json.dump(request, file)
        file.flush()
        response = json.loads(run_lmscore(lmscore, ["score", "--model", str(model_dir), "--threads", "2", file.name]))
    if request_out:
        Path(request_out).write_text(json.dumps(request) + "\n")
    return response["results"]


def summarize(rows, results):
    """Per kind: token-weighted loss over all sentences; per sentence: perplexity per kind."""
    table, totals = {}, {}
    for (number, text, kind, _), result in zip(rows, results):
        table.setdefault(number, {})[kind] = (text, result)
        total = totals.setdefault(kind, [0.0, 0])
        total[0] += result["sum_logprob"]
        total[1] += result["scored_tokens"]
    means = {kind: s / n for kind, (s, n) in totals.items()}  # mean log-prob per token
    return table, means, totals


# ---------------------------------------------------------------------------------------------
# The card section.

def card_section(model_dir, lmscore, heldout, table, means, totals):
    model, binary = relative(model_dir), relative(lmscore)
    difference = abs(heldout["lmscore_loss"] - heldout["torch_loss"])
    lines = [
        "### Held-out loss measured with lmscore",
        "",
        "| | held-out loss (nats/token) | perplexity | scored tokens |",
        "|---|---:|---:|---:|",
        f"| `lmscore perplexity --stride 255` | {heldout['lmscore_loss']:.6f} | "
        f"{math.exp(heldout['lmscore_loss']):.2f} | {heldout['scored']:,} |",
        f"| PyTorch (transformers, same F16 weights upcast to float32, same windows) | "
        f"{heldout['torch_loss']:.6f} | {math.exp(heldout['torch_loss']):.2f} | {heldout['torch_scored']:,} |",
        "",
        f"Difference {difference:.1e} nats/token ({heldout['windows']} windows over {heldout['tokens']:,} tokens). "
        f"The held-out ids are written to a temporary file, whitespace separated, and scored with",
        "",
        "```sh",
        f"{binary} perplexity --model {model} --tokens HELDOUT.txt --stride 255",
        "```",
        "",
        "### Sanity check: English vs shuffled words vs random ids",
        "",
        "Perplexity per sentence as `lmscore score` reports it (exp of the mean negative log-probability "
        "of the scored tokens). Each row is prefixed with `<|endoftext|>` (50256) so its first word is "
        f"scored too; *shuffled* is the same words in a random order (seed {SEED}); *random* is as many "
        "ids as the English sentence has tokens, drawn uniformly from 0-50255.",
        "",
        "| # | sentence (ordinary / shuffled) | ordinary | shuffled | random ids |",
        "|---|---|---:|---:|---:|",
    ]
    for number, kinds in table.items():
        ordinary, shuffled = kinds["ordinary"][0], kinds["shuffled"][0]
        ppl = {kind: kinds[kind][1]["perplexity"] for kind in ("ordinary", "shuffled", "random")}
        lines.append(f"| {number} | {ordinary}<br>*{shuffled}* | {ppl['ordinary']:,.1f} | "
                     f"{ppl['shuffled']:,.1f} | {ppl['random']:,.1f} |")
    lines.append("| all | token-weighted | " + " | ".join(
        f"**{math.exp(-means[kind]):,.1f}**" for kind in ("ordinary", "shuffled", "random")) + " |")
    order_ok = means["ordinary"] > means["shuffled"] > means["random"]
    lines += [
        "",
        "Mean log-probability per token: ordinary {:.3f} ({} tokens), shuffled {:.3f} ({} tokens), "
        "random {:.3f} ({} tokens): {}.".format(
            means["ordinary"], totals["ordinary"][1], means["shuffled"], totals["shuffled"][1],
            means["random"], totals["random"][1],
            "ordinary > shuffled > random, as it should be" if order_ok else "NOT in the expected order"),
        "",
        "Made by `Scripts/model_card_sanity.py`, which builds the request "
        "`{\"sequences\": [[50256, ...], ...]}` (15 rows) with the model's `gpt2.tiktoken` and runs",
        "",
        "```sh",
        f"{binary} score --model {model} REQUEST.json",
        "```",
        "",
        "(`--request-out FILE` saves that request.) Reproduce everything in this section with "
        "`swift build -c release && \"$VENV/bin/python\" Scripts/model_card_sanity.py`.",
    ]
    return "\n".join(lines), order_ok, difference


def update_card(card_path, section):
    card = card_path.read_text()
    if BEGIN not in card or END not in card:
        sys.exit(f"error: {card_path} has no {BEGIN} ... {END} section")
    head, rest = card.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    card_path.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "Models" / training.MODEL_NAME))
    parser.add_argument("--lmscore", default=str(REPO / ".build" / "release" / "lmscore"))
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--request-out")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    model_dir, lmscore = Path(args.model), Path(args.lmscore)
    if not lmscore.exists():
        sys.exit(f"error: {lmscore} not found; run `swift build -c release` first")

    encoding = training.gpt2_encoding(model_dir / "gpt2.tiktoken")
    heldout = heldout_check(lmscore, model_dir, args.corpus, encoding)
    rows = sanity_rows(encoding)
    table, means, totals = summarize(rows, score_rows(lmscore, model_dir, rows, args.request_out))
    section, order_ok, difference = card_section(model_dir, lmscore, heldout, table, means, totals)
    print(section)
    if not args.no_write:
        update_card(model_dir / "MODEL_CARD.md", section)
    if difference > TOLERANCE:
        sys.exit(f"error: lmscore and PyTorch held-out losses differ by {difference:.2e} (> {TOLERANCE})")
    if not order_ok:
        sys.exit("error: log-likelihood is not ordinary > shuffled > random")


if __name__ == "__main__":
    main()
