#!/usr/bin/env python3
"""Train lmscore's default model, Models/lmscore-gpt2-small-en.

What: a small GPT-2 (4 layers x 128 wide, 4 heads, 256-token context, the full 50,257-token GPT-2
vocabulary, tied embeddings, gelu_new; ~7.3M parameters, 6.4M of them the token embedding)
trained from scratch on the public-domain English texts in shared/corpus. It writes a Hugging
Face GPT-2 directory that lmscore loads like any other checkpoint:

    config.json  model.safetensors (F16, tensor names as GPT2LMHeadModel saves them)
    gpt2.tiktoken (the GPT-2 BPE ranks)  MODEL_CARD.md

Why: lmscore needs a model it can ship and use when none is named. Real GPT-2 weights cannot be
fetched here and are too large to commit; this one is ~15 MB, has the full GPT-2 vocabulary (so
clients' token ids keep their meaning) and is good enough to tell English from shuffled words
from noise. It is not a language model to generate text with.

How:
  1. The BPE ranks come from the PyPI source distribution of openai-whisper
     (whisper/assets/gpt2.tiktoken, MIT): `pip download --no-deps --no-binary :all:
     openai-whisper==WHISPER_VERSION` into the cache dir (reused when already there); the file's
     sha256 is checked. The tiktoken encoding is built offline from it with the r50k_base
     pattern of the installed tiktoken.
  2. Each corpus file (sorted by name) is one document: CRLF -> LF, BOM removed, Project
     Gutenberg header (up to and including the `*** START OF` line) and footer (from the
     `*** END OF` line on) stripped when present. Each document is tokenized; its last 5 % of
     tokens are held out, so every source is in both parts. Training and held-out streams are
     the documents' parts, each preceded by <|endoftext|> (50256).
  3. Training: GPT2LMHeadModel, no dropout, AdamW (betas 0.9/0.95, weight decay 0.1 on matrices
     and embeddings), linear warmup then cosine decay to 10 % of the peak; sequences of 256
     tokens cut from the training stream at a seeded random offset per epoch, in a seeded random
     order. The loss is the exact full-vocabulary cross-entropy, computed in chunks of tokens so
     the tokens x 50,257 logits never exist at once (see ChunkedLMLoss); this is ~1.5x faster on
     CPU than materializing them.
  4. Evaluation on the F16-rounded weights (what lmscore loads), upcast to float32: held-out
     loss = token-weighted mean over windows of 256 tokens starting every 255 tokens, each token
     after the first scored once, exactly as `lmscore perplexity --stride 255` does. A unigram
     baseline (add-one smoothed frequencies of the training tokens over all 50,257 ids) is
     scored on the same tokens.
  5. Writes the model directory and MODEL_CARD.md. Scripts/model_card_sanity.py then adds the
     numbers measured with the lmscore binary itself.

Reproducible: fixed seeds, deterministic data order, torch.set_num_threads(2), CPU only. The same
machine gives the same weights.

How long: 23 minutes measured on 2 CPU cores shared with other work (22.4 of them training; the
issue's budget is 60; expect up to ~35 when the cores are busy). The measured time goes into the
model card.

Command (from the repository root; the venv comes from Scripts/setup_venv.sh):
    VENV=$(Scripts/setup_venv.sh) && "$VENV/bin/python" Scripts/train_default_model.py
Options: --corpus DIR (default ../shared/corpus relative to the repository root),
--out DIR (default Models/lmscore-gpt2-small-en), --cache-dir DIR (default
~/.cache/lmscore), --steps N, --seed N.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "lmscore-gpt2-small-en"

WHISPER_VERSION = "20250625"
RANKS_MEMBER = "whisper/assets/gpt2.tiktoken"
RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
# tiktoken's r50k_base ("gpt2") pattern, as in tiktoken_ext/openai_public.py (tiktoken 0.14.0).
# It splits text exactly as the original GPT-2 pattern
# r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""" does.
R50K_PAT_STR = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
EOT = 50256
VOCAB = 50257

ARCH = dict(n_layer=4, n_embd=128, n_head=4, n_positions=256)
HOLDOUT_FRACTION = 0.05
EVAL_STRIDE = 255  # lmscore: windows start every 255 tokens, each token scored once

# Training recipe (sized for ~20-30 minutes of training on 2 shared CPU cores).
SEQ_LEN = 256
BATCH = 8                # sequences per step: 2,048 tokens
STEPS = 900
PEAK_LR = 2e-3
MIN_LR_FRACTION = 0.1
WARMUP = 40
WEIGHT_DECAY = 0.1
BETAS = (0.9, 0.95)
GRAD_CLIP = 1.0
LOSS_CHUNK = 512         # tokens per chunk of the chunked cross-entropy
SEED = 1234


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Tokenizer: the GPT-2 BPE ranks from openai-whisper's sdist, built into a tiktoken Encoding.

def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fetch_ranks(cache_dir):
    """Path of a verified gpt2.tiktoken under cache_dir, downloading openai-whisper's sdist if needed."""
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    ranks = cache_dir / "gpt2.tiktoken"
    if ranks.exists() and sha256_of(ranks) == RANKS_SHA256:
        return ranks
    sdist = cache_dir / f"openai_whisper-{WHISPER_VERSION}.tar.gz"
    if not sdist.exists():
        log(f"downloading the openai-whisper=={WHISPER_VERSION} sdist into {cache_dir}")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--dest", str(cache_dir), f"openai-whisper=={WHISPER_VERSION}"]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0 or not sdist.exists():
            sys.exit(f"error: could not download openai-whisper=={WHISPER_VERSION} "
                     f"({' '.join(command)}):\n{result.stdout[-2000:]}")
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.endswith("/" + RANKS_MEMBER)]
        if len(members) != 1:
            sys.exit(f"error: {sdist} has no single {RANKS_MEMBER}")
        data = archive.extractfile(members[0]).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != RANKS_SHA256:
        sys.exit(f"error: {sdist}:{members[0].name} has sha256 {digest}, expected {RANKS_SHA256}")
    ranks.write_bytes(data)
    return ranks


def check_pattern():
    """Fail if the installed tiktoken's r50k_base pattern differs from R50K_PAT_STR."""
    try:
        from tiktoken_ext import openai_public
    except ImportError:
        return
    installed = getattr(openai_public, "r50k_pat_str", None)
    if installed is not None and installed != R50K_PAT_STR:
        sys.exit(f"error: tiktoken's r50k_base pattern changed: {installed!r}")


def gpt2_encoding(ranks_path):
    import tiktoken
    import tiktoken.load

    if sha256_of(ranks_path) != RANKS_SHA256:
        sys.exit(f"error: {ranks_path} does not have sha256 {RANKS_SHA256}")
    check_pattern()
    encoding = tiktoken.Encoding(
        name="gpt2", pat_str=R50K_PAT_STR,
        mergeable_ranks=tiktoken.load.load_tiktoken_bpe(str(ranks_path)),
        special_tokens={"<|endoftext|>": EOT}, explicit_n_vocab=VOCAB)
    return encoding


# ---------------------------------------------------------------------------------------------
# Corpus: documents, Gutenberg stripping, the 95 / 5 split.

def strip_gutenberg(text):
    """Drop a Project Gutenberg header (through the `*** START OF` line) and footer (from `*** END OF`)."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("*** START OF")), None)
    if start is not None:
        lines = lines[start + 1:]
    end = next((i for i, line in enumerate(lines) if line.startswith("*** END OF")), None)
    if end is not None:
        lines = lines[:end]
    return "\n".join(lines).strip("\n") + "\n"


def read_documents(corpus_dir):
    """[(name, text)] for every *.txt in corpus_dir, sorted by name, cleaned."""
    paths = sorted(Path(corpus_dir).glob("*.txt"))
    if not paths:
        sys.exit(f"error: no *.txt files in {corpus_dir}")
    documents = []
    for path in paths:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n").lstrip("\ufeff")
        documents.append((path.name, strip_gutenberg(text)))
    return documents


def split_corpus(documents, encoding):
    """Token streams (train, held-out) and per-document statistics.

    Each document's tokens are cut at floor(95 %): the head goes to training, the tail is held out.
    Both streams are the documents' parts in order, each part preceded by <|endoftext|>.
    """
    train, heldout, stats = [EOT], [EOT], []
    for index, (name, text) in enumerate(documents):
        ids = encoding.encode_ordinary(text)
        cut = int(len(ids) * (1 - HOLDOUT_FRACTION))
        if index > 0:
            train.append(EOT)
            heldout.append(EOT)
        train.extend(ids[:cut])
        heldout.extend(ids[cut:])
        stats.append(dict(name=name, characters=len(text), tokens=len(ids),
                          train_tokens=cut, heldout_tokens=len(ids) - cut))
    return np.array(train, dtype=np.int64), np.array(heldout, dtype=np.int64), stats


def corpus_streams(corpus_dir, encoding):
    return split_corpus(read_documents(corpus_dir), encoding)


# ---------------------------------------------------------------------------------------------
# Model and the chunked full-vocabulary cross-entropy.

def make_model(seed):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, activation_function="gelu_new", tie_word_embeddings=True,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=EOT, eos_token_id=EOT, **ARCH)
    return GPT2LMHeadModel(config)


class ChunkedLMLoss(torch.autograd.Function):
    """mean_i cross_entropy(hidden_i @ weight.T, target_i) over the full vocabulary.

    The forward pass computes the loss and both gradients chunk by chunk in one reusable
    (chunk x vocab) buffer: logits, softmax, (softmax - onehot) / N, then grad_hidden and
    grad_weight. Mathematically what F.cross_entropy(lm_head(hidden), targets) gives.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk):
        count, vocab = hidden.shape[0], weight.shape[0]
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        buffer = torch.empty(min(chunk, count), vocab)
        total = torch.zeros((), dtype=torch.float64)
        for begin in range(0, count, chunk):
            h, t = hidden[begin:begin + chunk], targets[begin:begin + chunk]
            rows = torch.arange(h.shape[0])
            p = buffer[:h.shape[0]]
            torch.mm(h, weight.t(), out=p)
            target_logit = p[rows, t]
            peak = p.amax(dim=1, keepdim=True)
            p.sub_(peak).exp_()
            norm = p.sum(dim=1, keepdim=True)
            total += (peak.squeeze(1) + norm.squeeze(1).log() - target_logit).double().sum()
            p.div_(norm * count)
            p[rows, t] -= 1.0 / count
            torch.mm(p, weight, out=grad_hidden[begin:begin + chunk])
            grad_weight.addmm_(p.t(), h)
        ctx.save_for_backward(grad_hidden, grad_weight)
        return (total / count).float()

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None


def training_loss(model, batch):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    hidden = model.transformer(input_ids=inputs, use_cache=False).last_hidden_state
    weight = model.transformer.wte.weight  # tied: the lm_head is the token embedding
    return ChunkedLMLoss.apply(hidden.reshape(-1, hidden.shape[-1]), weight,
                               targets.reshape(-1), LOSS_CHUNK)


# ---------------------------------------------------------------------------------------------
# Training.

def batches(stream, steps, seed):
    """`steps` batches of BATCH sequences of SEQ_LEN + 1 tokens, in a seeded, deterministic order.

    Each epoch cuts the stream into non-overlapping pieces starting at a random offset in
    [0, SEQ_LEN), shuffles them, and deals them out; epochs follow one another.
    """
    rng = np.random.default_rng(seed)
    order = []
    while len(order) < steps * BATCH:
        offset = int(rng.integers(SEQ_LEN))
        starts = np.arange(offset, len(stream) - SEQ_LEN - 1, SEQ_LEN)
        order.extend(rng.permutation(starts).tolist())
    for step in range(steps):
        starts = order[step * BATCH:(step + 1) * BATCH]
        yield torch.from_numpy(np.stack([stream[s:s + SEQ_LEN + 1] for s in starts]))


def learning_rate(step, steps):
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    progress = (step - WARMUP) / max(1, steps - WARMUP)
    return PEAK_LR * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [dict(params=decay, weight_decay=WEIGHT_DECAY), dict(params=no_decay, weight_decay=0.0)]
    return torch.optim.AdamW(groups, lr=PEAK_LR, betas=BETAS, fused=True)


def train(model, stream, steps, seed):
    """Train in place; returns (seconds, smoothed final training loss)."""
    model.train()
    optimizer = make_optimizer(model)
    start, smoothed = time.time(), None
    for step, batch in enumerate(batches(stream, steps, seed)):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps)
        loss = training_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        smoothed = loss.item() if smoothed is None else 0.95 * smoothed + 0.05 * loss.item()
        if step % 25 == 0 or step == steps - 1:
            elapsed = time.time() - start
            log(f"step {step:4d}/{steps}  loss {loss.item():.4f}  (smoothed {smoothed:.4f})  "
                f"lr {learning_rate(step, steps):.2e}  {elapsed / 60:5.1f} min  "
                f"{(step + 1) * BATCH * SEQ_LEN / elapsed:5.0f} tok/s")
    return time.time() - start, smoothed


# ---------------------------------------------------------------------------------------------
# Evaluation.

def sliding_windows(length, context=ARCH["n_positions"], stride=EVAL_STRIDE):
    """(begin, end) of lmscore's windows: start every `stride` tokens, each token after the first scored once."""
    windows, begin = [], 0
    while True:
        end = min(begin + context, length)
        windows.append((begin, end))
        if end == length:
            return windows
        begin += stride


@torch.no_grad()
def heldout_loss(model, stream):
    """(token-weighted mean loss, scored tokens) of `stream` with lmscore's sliding window."""
    model.eval()
    total, count, previous_end = 0.0, 0, 0
    for begin, end in sliding_windows(len(stream)):
        window = torch.from_numpy(stream[begin:end]).unsqueeze(0)
        logits = model(input_ids=window, use_cache=False).logits[0].double()
        logprobs = torch.log_softmax(logits, dim=-1)
        first = max(previous_end, begin + 1)  # first scored token (absolute position)
        targets = window[0, first - begin:]
        picked = logprobs[first - begin - 1:end - begin - 1].gather(1, targets.unsqueeze(1))
        total -= picked.sum().item()
        count += len(targets)
        previous_end = end
    return total / count, count


def unigram_loss(train_stream, heldout_stream):
    """Cross-entropy of add-one smoothed training unigram frequencies on the scored held-out tokens."""
    counts = np.bincount(train_stream, minlength=VOCAB).astype(np.float64) + 1.0
    logprobs = np.log(counts / counts.sum())
    scored = heldout_stream[1:]  # the first token is context only, as in the model's evaluation
    return float(-logprobs[scored].mean())


def round_to_f16(model):
    """Round every parameter to float16 and back (what lmscore computes with after loading F16)."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())


# ---------------------------------------------------------------------------------------------
# Output.

def save_model(model, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json", "generation_config.json"):
        (out_dir / name).unlink(missing_ok=True)
    model.half().save_pretrained(out_dir)
    model.float()
    (out_dir / "generation_config.json").unlink(missing_ok=True)
    (out_dir / "model.safetensors").chmod(0o644)  # save_pretrained leaves it 0600
    with safe_open(out_dir / "model.safetensors", "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes == {torch.float16}, dtypes


def directory_bytes(path):
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())


def write_model_card(out_dir, facts):
    (out_dir / "MODEL_CARD.md").write_text(MODEL_CARD.format(**facts))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--out", default=str(REPO / "Models" / MODEL_NAME))
    parser.add_argument("--cache-dir", default=os.environ.get("LMSCORE_CACHE", "~/.cache/lmscore"))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    out_dir = Path(args.out)

    wall_start = time.time()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    ranks = fetch_ranks(args.cache_dir)
    encoding = gpt2_encoding(ranks)
    train_stream, heldout_stream, stats = corpus_streams(args.corpus, encoding)
    log(f"corpus: {len(train_stream)} training tokens, {len(heldout_stream)} held-out tokens")
    for s in stats:
        log(f"  {s['name']}: {s['tokens']} tokens ({s['train_tokens']} train / {s['heldout_tokens']} held out)")

    model = make_model(args.seed)
    parameters = sum(p.numel() for p in model.parameters())
    log(f"model: {parameters} parameters")
    train_seconds, final_train_loss = train(model, train_stream, args.steps, args.seed)

    round_to_f16(model)
    loss, scored = heldout_loss(model, heldout_stream)
    baseline = unigram_loss(train_stream, heldout_stream)
    log(f"held-out loss {loss:.6f} (perplexity {math.exp(loss):.2f}) on {scored} tokens; "
        f"unigram baseline {baseline:.6f} (perplexity {math.exp(baseline):.2f})")

    save_model(model, out_dir)
    shutil.copyfile(ranks, out_dir / "gpt2.tiktoken")
    wall_seconds = time.time() - wall_start

    results = dict(
        parameters=parameters, steps=args.steps, seed=args.seed,
        train_tokens=int(len(train_stream)), heldout_tokens=int(len(heldout_stream)),
        heldout_scored_tokens=scored, heldout_loss=loss, heldout_perplexity=math.exp(loss),
        unigram_loss=baseline, unigram_perplexity=math.exp(baseline),
        final_train_loss=final_train_loss, train_seconds=train_seconds, wall_seconds=wall_seconds,
        documents=stats, torch=torch.__version__,
    )
    facts = card_facts(results)
    write_model_card(out_dir, facts)
    size = directory_bytes(out_dir)
    log(f"wrote {out_dir} ({size / 1e6:.2f} MB) in {wall_seconds / 60:.1f} min "
        f"(training {train_seconds / 60:.1f} min)")
    if size > 20_000_000:
        sys.exit(f"error: {out_dir} is {size} bytes, over the 20 MB budget")
    print(json.dumps(results, indent=2))


def card_facts(r):
    """The values MODEL_CARD.md's template is filled with."""
    from transformers import __version__ as transformers_version
    import tiktoken

    rows = "\n".join(
        f"| `{d['name']}` | {d['characters']:,} | {d['tokens']:,} | {d['train_tokens']:,} | {d['heldout_tokens']:,} |"
        for d in r["documents"])
    total = sum(d["tokens"] for d in r["documents"])
    tokens_per_step = BATCH * SEQ_LEN
    return dict(
        name=MODEL_NAME, parameters=f"{r['parameters']:,}", parameters_m=f"{r['parameters'] / 1e6:.2f}",
        embedding_parameters=f"{VOCAB * ARCH['n_embd']:,}",
        document_rows=rows, total_tokens=f"{total:,}",
        train_tokens=f"{r['train_tokens']:,}", heldout_tokens=f"{r['heldout_tokens']:,}",
        heldout_scored=f"{r['heldout_scored_tokens']:,}",
        steps=r["steps"], batch=BATCH, seq_len=SEQ_LEN, tokens_per_step=f"{tokens_per_step:,}",
        tokens_seen=f"{r['steps'] * tokens_per_step:,}",
        epochs=f"{r['steps'] * tokens_per_step / r['train_tokens']:.2f}",
        peak_lr=f"{PEAK_LR:g}", min_lr=f"{PEAK_LR * MIN_LR_FRACTION:g}", warmup=WARMUP,
        weight_decay=WEIGHT_DECAY, beta1=BETAS[0], beta2=BETAS[1], grad_clip=GRAD_CLIP, seed=r["seed"],
        train_minutes=f"{r['train_seconds'] / 60:.1f}", wall_minutes=f"{r['wall_seconds'] / 60:.1f}",
        final_train_loss=f"{r['final_train_loss']:.3f}",
        heldout_loss=f"{r['heldout_loss']:.4f}", heldout_ppl=f"{r['heldout_perplexity']:.1f}",
        unigram_loss=f"{r['unigram_loss']:.4f}", unigram_ppl=f"{r['unigram_perplexity']:.1f}",
        whisper_version=WHISPER_VERSION, ranks_sha256=RANKS_SHA256,
        torch_version=r["torch"], transformers_version=transformers_version,
        tiktoken_version=tiktoken.__version__, pattern=R50K_PAT_STR,
    )


# MODEL_CARD.md, filled in by card_facts(); Scripts/model_card_sanity.py replaces the part between
# the lmscore-sanity markers with numbers measured by the lmscore binary.
MODEL_CARD = """\
# {name}

lmscore's default model: a small GPT-2 trained from scratch, on this project's machine, on
{train_tokens} tokens of public-domain English. It exists so that lmscore has a real (if small) language model
to ship and to use when no `--model` is given. It scores English prose far better than chance and
clearly prefers real sentences to shuffled ones; it is not a good language model in absolute terms.

## What it is

| | |
|---|---|
| architecture | GPT-2 (`GPT2LMHeadModel`, `model_type` `gpt2`): 4 layers, n_embd 128, 4 heads, n_positions 256, `gelu_new`, LayerNorm eps 1e-5 |
| vocabulary | the full GPT-2 vocabulary, 50,257 ids (50256 = `<|endoftext|>`): ids mean what they mean for GPT-2 |
| embeddings | tied (`lm_head` = `transformer.wte`; no `lm_head.weight` stored) |
| parameters | {parameters} (~{parameters_m}M), of which {embedding_parameters} are the token embedding |
| files | `config.json`, `model.safetensors` (F16; tensor names as `GPT2LMHeadModel.save_pretrained` writes them, `transformer.` prefix), `gpt2.tiktoken`, this card |

## Tokenizer

`gpt2.tiktoken` is the GPT-2 byte-level BPE (tiktoken's `r50k_base`): base64 token bytes and rank per
line, sha256 `{ranks_sha256}`. It is taken from the PyPI source distribution of
`openai-whisper=={whisper_version}` (`whisper/assets/gpt2.tiktoken`) and its hash checked. To encode
text for lmscore offline:

```python
import tiktoken, tiktoken.load
enc = tiktoken.Encoding(
    name="gpt2",
    pat_str=r\"\"\"{pattern}\"\"\",
    mergeable_ranks=tiktoken.load.load_tiktoken_bpe("Models/{name}/gpt2.tiktoken"),
    special_tokens={{"<|endoftext|>": 50256}})
ids = [50256] + enc.encode_ordinary("The quick brown fox.")  # 50256 first, so the first word is scored
```

## Training data

The five files of the project's public-domain corpus, each one document:

| file | characters (after cleaning) | tokens | training | held out |
|---|---:|---:|---:|---:|
{document_rows}

- State of the Union addresses 1945-2006 and US inaugural addresses (works of the US government),
  *Pride and Prejudice* (J. Austen, 1813, Project Gutenberg), *The Verdict* (E. Wharton, 1908),
  *The Devil's Dictionary* (A. Bierce, 1911 edition; Internet Wiretap text). {total_tokens} GPT-2 tokens in all.
- Cleaning: CRLF -> LF, the byte-order mark dropped; a Project Gutenberg header (everything up to and
  including the `*** START OF ...` line) and footer (from the `*** END OF ...` line on) are removed
  where present (only *Pride and Prejudice* has them). Nothing else is changed.
- Split: the last 5 % of each document's tokens are held out, so every source is represented in
  both parts. Training stream: the documents' first 95 %, each preceded by `<|endoftext|>`
  ({train_tokens} tokens); held-out stream: the last 5 %, likewise ({heldout_tokens} tokens).

## Training recipe

- From scratch (GPT-2 initialization, seed {seed}), float32 on CPU, 2 threads, no dropout.
- Sequences of {seq_len} tokens cut from the training stream at a seeded random offset per epoch, in a
  seeded random order; batch {batch} sequences ({tokens_per_step} tokens) per step; {steps} steps =
  {tokens_seen} tokens, {epochs} epochs.
- Loss: full-vocabulary cross-entropy (computed in chunks of tokens, exactly equal to
  `F.cross_entropy` on the logits).
- AdamW, betas ({beta1}, {beta2}), weight decay {weight_decay} on matrices and embeddings (none on
  biases and LayerNorm), gradient clipping at {grad_clip}; learning rate: linear warmup over {warmup}
  steps to {peak_lr}, then cosine decay to {min_lr}.
- Final smoothed training loss {final_train_loss}.
- Wall time measured on this machine (2 shared CPU cores): {train_minutes} min training,
  {wall_minutes} min for the whole script (download check, tokenization, training, evaluation, writing).
- Software: torch {torch_version}, transformers {transformers_version}, tiktoken {tiktoken_version}.

Reproduce (from the repository root; same machine, same weights):

```sh
VENV=$(Scripts/setup_venv.sh) && "$VENV/bin/python" Scripts/train_default_model.py
"$VENV/bin/python" Scripts/model_card_sanity.py   # needs .build/release/lmscore (swift build -c release)
```

## Evaluation

Held-out loss: the token-weighted mean negative log-likelihood (nats per token) of the held-out stream,
windows of 256 tokens starting every 255 tokens so that every token after the first is scored exactly
once with as much context as the window allows, which is what `lmscore perplexity --stride 255` does.
Computed on the F16 weights (upcast to float32), i.e. on exactly what lmscore loads.

| model | held-out loss (nats/token) | perplexity |
|---|---:|---:|
| {name}, PyTorch | {heldout_loss} | {heldout_ppl} |
| unigram baseline (add-one smoothed training-token frequencies over all 50,257 ids) | {unigram_loss} | {unigram_ppl} |

{heldout_scored} tokens scored. The lmscore figure for the same stream is below.

<!-- lmscore-sanity:begin -->
(Not measured yet: run `Scripts/model_card_sanity.py`.)
<!-- lmscore-sanity:end -->

## Licence

- Training texts: public domain.
- Model weights and this card: MIT, same as the rest of lmscore.
- `gpt2.tiktoken`: from openai-whisper, MIT licence (Copyright (c) 2022 OpenAI).

## Limitations

- Tiny: {parameters_m}M parameters, 0.8M non-embedding; trained on under a million tokens for
  {epochs} epochs. Its perplexity on text unlike the corpus is far higher than GPT-2's.
- English only, and narrow: 19th- and 20th-century prose, a satirical dictionary and American
  political speeches. Token ids that never occur in the corpus (code, other languages and scripts,
  most rare words) were only ever pushed down during training and get very low probabilities.
- Context is 256 tokens; lmscore scores longer sequences with its sliding window.
- Useful for relative comparisons (this text vs that text, English vs noise) and as a realistic test
  model; not for generation quality, not as a proxy for a real GPT-2's scores.
"""


if __name__ == "__main__":
    main()
