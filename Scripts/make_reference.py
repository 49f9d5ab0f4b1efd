#!/usr/bin/env python3
"""Generate lmscore's own reference fixtures (Tests/Fixtures/reference/).

What: tiny random checkpoints in Hugging Face layout, each chosen to exercise a loader
path or a model option the shared acceptance fixtures (shared/reference/) do not. GPT-2:

  bf16-untied-erf      BF16 storage, tensor names without the `transformer.` prefix,
                       untied `lm_head.weight`, exact-erf GELU ("gelu"), n_inner != 4*n_embd,
                       layer_norm_epsilon 1e-3.
  f16-legacy-buffers   F16 storage, `transformer.` prefix, tied embeddings, gelu_new,
                       odd head size (5), plus the legacy causal-mask buffers
                       `transformer.h.N.attn.bias` (BOOL / U8) and `...attn.masked_bias`
                       (F32 scalar) that a loader must ignore.
  sharded-untied-f32   F32 storage, no prefix, untied lm_head, 3 shards +
                       model.safetensors.index.json.

Other families (config.json in the Hub's legacy form unless said otherwise):

  mistral-sliding-window  Mistral, sliding_window 8 < n_positions 32, GQA, untied, F32.
  llama3-rope-scaling     Llama, rope_scaling llama3 (all three wavelength bands), explicit
                          head_dim 16 != 48/4, attention_bias and mlp_bias, tied, BF16.
  neox-sequential         GPT-NeoX, use_parallel_residual false, rotary_pct 0.5, linear rope
                          scaling, gelu_new, untied embed_out, F16.
  qwen3-rope-parameters   Qwen3, config.json as transformers 5 writes it (`rope_parameters`
                          with rope_theta 5e5), q/k norm, MQA, untied, F32.
  qwen2-untied            Qwen2, q/k/v biases, untied lm_head, 2 shards, F32.
  gemma-legacy-act        Gemma, RMSNorm (1 + w), embeddings x sqrt(hidden), the legacy
                          `hidden_act: "gelu"` (which transformers runs as tanh GELU), gated MLP with
                          intermediate_size % 8 != 0, MQA, head_dim 16 != 48/4, tied, F32.
  gemma3-local-global     Gemma 3 text, q/k norms, local/global layers from
                          `sliding_window_pattern` 3 (no `layer_types`), sliding_window 6, local
                          theta `rope_local_base_freq` 1e3, global theta 5e4 with linear scaling 2,
                          query_pre_attn_scalar 20 != head_dim 16, GQA, tied, BF16.

and, for each, an expected.json in exactly the format of shared/reference/*/expected.json.

Why / how the truth is made: the checkpoint is written first in its storage dtype, then the
stored tensors are read back, upcast to float64 and run through transformers'
GPT2LMHeadModel (AutoModelForCausalLM for the other families) in float64 (eager attention). So the expected numbers are what an exact
engine computes from the values a loader actually sees (e.g. BF16-rounded weights), not from
the float32 values they were drawn as.

Every parameter is random (LayerNorm gains 1 + N(0, 0.1), all biases N(0, 0.1), matrices
N(0, 0.3), embeddings / lm_head N(0, 0.5)) so a bug in any of them shows, and logits are
spread out. Parameters are re-drawn (next seed) until, at every position that has a `top`
list, the 6 largest log-probabilities are pairwise more than MIN_TOP_GAP apart, so the top-5
ids and `greedy` cannot flip under float32 rounding. Everything is seeded: rerunning the
script reproduces the files byte for byte.

Usage:
  python Scripts/make_reference.py            # (re)generate all fixtures, then self-check
  python Scripts/make_reference.py --check DIR [DIR ...]
        # recompute DIR/expected.json from DIR's stored weights and compare (works on the
        # shared fixtures too)
  python Scripts/make_reference.py --perturb SRC DST [--scale S] [--seed N]
        # a perturbed copy of fixture SRC in DST: every stored tensor t becomes
        # t + S·std(t)·N(0, 1) (stored in t's dtype, seeded), config.json copied, and DST/expected.json
        # recomputed on SRC's cases — a second model with the same vocabulary, for lmscore's
        # two-model comparisons (Scripts/make_compare_reference.py)
"""

import argparse
import copy
import dataclasses
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from transformers import CONFIG_MAPPING, AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

REPO = Path(__file__).resolve().parent.parent
OUT_ROOT = REPO / "Tests" / "Fixtures" / "reference"

MIN_TOP_GAP = 1e-3  # minimum distance between consecutive top-6 log-probabilities
TOP_K = 5
IGNORE = -100
MAX_DIR_BYTES = 400 * 1024
MAX_ATTEMPTS = 50

STORAGE_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
CONFIG_DTYPE_NAMES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}

SIGMA_MATRIX = 0.3  # attention / MLP weights
SIGMA_EMBED = 0.5  # wte, wpe, untied lm_head
SIGMA_BIAS = 0.1
SIGMA_GAIN = 0.1  # LayerNorm gain = 1 + N(0, SIGMA_GAIN)


@dataclasses.dataclass
class Fixture:
    name: str
    storage: str  # key of STORAGE_DTYPES
    prefix: bool  # tensor names start with "transformer."
    tied: bool
    config: dict  # GPT2Config keyword arguments, or a Hub config.json (with "model_type")
    shards: int = 1
    legacy_buffers: bool = False
    seed: int = 0
    window_stride_odd: int = 3  # stride of the `sliding-window-stride3` case
    # "hub": config.json as given (legacy keys); "transformers": as transformers 5 saves it
    config_form: str = "hub"
    notes: str = ""

    @property
    def is_gpt2(self) -> bool:
        return "model_type" not in self.config


FIXTURES = [
    Fixture(
        name="bf16-untied-erf",
        storage="bf16",
        prefix=False,
        tied=False,
        config=dict(vocab_size=300, n_embd=30, n_head=5, n_layer=2, n_positions=24,
                    n_inner=40, activation_function="gelu", layer_norm_epsilon=1e-3),
        seed=1000,
    ),
    Fixture(
        name="f16-legacy-buffers",
        storage="f16",
        prefix=True,
        tied=True,
        legacy_buffers=True,
        config=dict(vocab_size=500, n_embd=40, n_head=8, n_layer=3, n_positions=32,
                    n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5),
        seed=2000,
    ),
    Fixture(
        name="sharded-untied-f32",
        storage="f32",
        prefix=False,
        tied=False,
        shards=3,
        config=dict(vocab_size=200, n_embd=24, n_head=2, n_layer=2, n_positions=16,
                    n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5),
        seed=3000,
    ),
    Fixture(
        name="mistral-sliding-window",
        storage="f32", prefix=False, tied=False,
        config=dict(model_type="mistral", vocab_size=300, hidden_size=32, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    max_position_embeddings=32, rms_norm_eps=1e-5, rope_theta=10000.0,
                    sliding_window=8, hidden_act="silu"),
        seed=4000,
        notes="`sliding_window: 8` (a token sees itself and the 7 before), GQA 4/2, untied `lm_head`",
    ),
    Fixture(
        name="llama3-rope-scaling",
        storage="bf16", prefix=False, tied=True,
        config=dict(model_type="llama", vocab_size=300, hidden_size=48, intermediate_size=80,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                    max_position_embeddings=32, rms_norm_eps=1e-5, rope_theta=10000.0,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0, original_max_position_embeddings=16),
                    attention_bias=True, mlp_bias=True, hidden_act="silu"),
        seed=5000,
        notes="`rope_scaling` llama3 (original context 16: frequencies in all three bands); "
              "`head_dim: 16` ≠ 48/4; `attention_bias` and `mlp_bias`; tied",
    ),
    Fixture(
        name="neox-sequential",
        storage="f16", prefix=False, tied=False,
        config=dict(model_type="gpt_neox", vocab_size=300, hidden_size=32, intermediate_size=96,
                    num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=32,
                    rotary_pct=0.5, rotary_emb_base=10000, rope_scaling=dict(type="linear", factor=2.0),
                    layer_norm_eps=1e-5, use_parallel_residual=False, hidden_act="gelu_new"),
        seed=6000,
        notes="`use_parallel_residual: false`; `rotary_pct: 0.5`; `rope_scaling` linear 2 "
              "(legacy `type` key); tanh GELU; untied `embed_out`",
    ),
    Fixture(
        name="qwen3-rope-parameters",
        storage="f32", prefix=False, tied=False, config_form="transformers",
        config=dict(model_type="qwen3", vocab_size=300, hidden_size=32, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                    max_position_embeddings=32, rms_norm_eps=1e-6,
                    rope_parameters=dict(rope_type="default", rope_theta=500000.0), hidden_act="silu"),
        seed=7000,
        notes="config.json as transformers 5 saves it (`rope_parameters`, `layer_types`); "
              "q/k norm; MQA; `head_dim: 16` ≠ 32/4; untied",
    ),
    Fixture(
        name="qwen2-untied",
        storage="f32", prefix=False, tied=False, shards=2,
        config=dict(model_type="qwen2", vocab_size=300, hidden_size=32, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
                    use_sliding_window=False, hidden_act="silu"),
        seed=8000,
        notes="q/k/v biases (none on o_proj); untied `lm_head`; 2 shards",
    ),
    Fixture(
        name="gemma-legacy-act",
        storage="f32", prefix=False, tied=True,
        config=dict(model_type="gemma", vocab_size=300, hidden_size=48, intermediate_size=84,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                    max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=10000.0, hidden_act="gelu"),
        seed=9000,
        notes="RMSNorm (1 + w); embeddings × √hidden; legacy `hidden_act: \"gelu\"` (run as tanh GELU); "
              "gated MLP, `intermediate_size` 84 (not a multiple of 8); MQA; `head_dim: 16` ≠ 48/4; tied",
    ),
    Fixture(
        name="gemma3-local-global",
        storage="bf16", prefix=False, tied=True,
        config=dict(model_type="gemma3_text", vocab_size=300, hidden_size=32, intermediate_size=60,
                    num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                    max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=50000.0,
                    rope_local_base_freq=1000.0, rope_scaling=dict(rope_type="linear", factor=2.0),
                    sliding_window=6, sliding_window_pattern=3, query_pre_attn_scalar=20,
                    hidden_activation="gelu_pytorch_tanh"),
        seed=10000,
        notes="q/k norms (1 + w); `sliding_window_pattern: 3` without `layer_types` (layers 0, 1, 3 local "
              "with window 6 and θ `rope_local_base_freq` 1000; layer 2 global, θ 5e4, linear scaling 2); "
              "`query_pre_attn_scalar` 20 ≠ head_dim 16; pre- and post-norms; GQA 4/2; tied",
    ),
]


def context_length(config) -> int:
    """The positions a checkpoint has: n_positions (GPT-2) or max_position_embeddings."""
    return getattr(config, "n_positions", None) or config.max_position_embeddings


# --------------------------------------------------------------------------- checkpoint


def make_config(fx: Fixture):
    vocab = fx.config["vocab_size"]
    if not fx.is_gpt2:
        # a deep copy: the config classes rewrite rope_scaling in place into transformers 5's form
        kwargs = {k: copy.deepcopy(v) for k, v in fx.config.items() if k != "model_type"}
        return CONFIG_MAPPING[fx.config["model_type"]](
            **kwargs, tie_word_embeddings=fx.tied, dtype=CONFIG_DTYPE_NAMES[fx.storage],
            bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    return GPT2Config(
        **fx.config,
        tie_word_embeddings=fx.tied,
        architectures=["GPT2LMHeadModel"],
        dtype=CONFIG_DTYPE_NAMES[fx.storage],
        # GPT2Config's default 50256 is outside these tiny vocabularies.
        bos_token_id=vocab - 1,
        eos_token_id=vocab - 1,
    )


def canonical_shapes(config, tied: bool) -> dict:
    """HF parameter names ("transformer." prefixed for GPT-2) -> shapes, in state-dict order."""
    if not isinstance(config, GPT2Config):
        model = AutoModelForCausalLM.from_config(config)
        shapes = {n: tuple(t.shape) for n, t in model.state_dict().items()}
        if tied:
            shapes.pop("lm_head.weight")
        elif config.model_type == "gpt_neox":  # Pythia's files name the head embed_out (transformers 5 renames it)
            shapes["embed_out.weight"] = shapes.pop("lm_head.weight")
        return shapes
    e, v, p = config.n_embd, config.vocab_size, config.n_positions
    inner = config.n_inner or 4 * e
    shapes = {"transformer.wte.weight": (v, e), "transformer.wpe.weight": (p, e)}
    for i in range(config.n_layer):
        h = f"transformer.h.{i}."
        shapes.update({
            h + "ln_1.weight": (e,), h + "ln_1.bias": (e,),
            h + "attn.c_attn.weight": (e, 3 * e), h + "attn.c_attn.bias": (3 * e,),
            h + "attn.c_proj.weight": (e, e), h + "attn.c_proj.bias": (e,),
            h + "ln_2.weight": (e,), h + "ln_2.bias": (e,),
            h + "mlp.c_fc.weight": (e, inner), h + "mlp.c_fc.bias": (inner,),
            h + "mlp.c_proj.weight": (inner, e), h + "mlp.c_proj.bias": (e,),
        })
    shapes["transformer.ln_f.weight"] = (e,)
    shapes["transformer.ln_f.bias"] = (e,)
    if not tied:
        shapes["lm_head.weight"] = (v, e)
    return shapes


def draw_parameters(shapes: dict, seed: int, offset_gains: bool = False) -> dict:
    """Random float32 values for every parameter (canonical names). With `offset_gains` (Gemma, whose
    norms multiply by 1 + w) a norm's stored w is drawn around 0, so the gain it applies is 1 + N(0,
    SIGMA_GAIN) as in the other families."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in shapes.items():
        if name.endswith("bias"):
            x = rng.normal(0.0, SIGMA_BIAS, shape)
        elif ".ln_" in name or "norm" in name:  # LayerNorm / RMSNorm gain
            x = (0.0 if offset_gains else 1.0) + rng.normal(0.0, SIGMA_GAIN, shape)
        elif name.endswith(("wte.weight", "wpe.weight")) or name.startswith(("lm_head", "embed_out")) \
                or "embed_tokens" in name or "embed_in" in name:
            x = rng.normal(0.0, SIGMA_EMBED, shape)
        else:
            x = rng.normal(0.0, SIGMA_MATRIX, shape)
        params[name] = torch.from_numpy(x.astype(np.float32))
    return params


def stored_name(canonical: str, prefix: bool) -> str:
    if prefix or not canonical.startswith("transformer."):
        return canonical
    return canonical[len("transformer."):]


def legacy_buffers(config: GPT2Config) -> dict:
    """The causal-mask buffers old GPT-2 checkpoints carry (BOOL, U8 alternating by layer)."""
    p = config.n_positions
    tril = torch.tril(torch.ones(p, p, dtype=torch.bool)).view(1, 1, p, p)
    out = {}
    for i in range(config.n_layer):
        mask = tril if i % 2 == 0 else tril.to(torch.uint8)
        out[f"transformer.h.{i}.attn.bias"] = mask.clone()
        out[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4, dtype=torch.float32)
    return out


def split_into_shards(names: list, tensors: dict, count: int) -> list:
    """Consecutive groups of tensors (state-dict order) of roughly equal byte size."""
    sizes = [tensors[n].numel() * tensors[n].element_size() for n in names]
    target = sum(sizes) / count
    groups, current, acc = [], [], 0
    for name, size in zip(names, sizes):
        if current and acc + size / 2 > target * (len(groups) + 1) and len(groups) < count - 1:
            groups.append(current)
            current = []
        current.append(name)
        acc += size
    groups.append(current)
    assert len(groups) == count, f"could not make {count} shards"
    return groups


def write_checkpoint(fx: Fixture, config, params: dict, out: Path) -> None:
    """Write config.json and the safetensors file(s) in the fixture's storage layout."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if fx.is_gpt2 or fx.config_form == "transformers":
        config.to_json_file(out / "config.json")
    else:  # the keys as given, the way Hub checkpoints carry them
        vocab = fx.config["vocab_size"]
        hub = dict(fx.config, architectures=config.architectures or [type(AutoModelForCausalLM.from_config(config)).__name__],
                   tie_word_embeddings=fx.tied, torch_dtype=CONFIG_DTYPE_NAMES[fx.storage],
                   bos_token_id=vocab - 1, eos_token_id=vocab - 1)
        (out / "config.json").write_text(json.dumps(hub, indent=2, sort_keys=True) + "\n")

    dtype = STORAGE_DTYPES[fx.storage]
    tensors = {stored_name(n, fx.prefix): t.to(dtype).contiguous() for n, t in params.items()}
    if fx.legacy_buffers:
        tensors.update({stored_name(n, fx.prefix): t for n, t in legacy_buffers(config).items()})
    names = list(tensors)
    meta = {"format": "pt"}

    if fx.shards == 1:
        safetensors.torch.save_file(tensors, out / "model.safetensors", metadata=meta)
        return
    weight_map = {}
    for k, group in enumerate(split_into_shards(names, tensors, fx.shards), start=1):
        file = f"model-{k:05d}-of-{fx.shards:05d}.safetensors"
        safetensors.torch.save_file({n: tensors[n] for n in group}, out / file, metadata=meta)
        weight_map.update({n: file for n in group})
    index = {
        "metadata": {
            "total_parameters": sum(t.numel() for t in tensors.values()),
            "total_size": sum(t.numel() * t.element_size() for t in tensors.values()),
        },
        "weight_map": dict(sorted(weight_map.items())),
    }
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


# --------------------------------------------------------------------------- loading


def read_stored_tensors(d: Path) -> dict:
    """All tensors of a single-file or sharded checkpoint, as stored."""
    index = d / "model.safetensors.index.json"
    if not index.exists():
        return safetensors.torch.load_file(d / "model.safetensors")
    files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    tensors = {}
    for f in files:
        tensors.update(safetensors.torch.load_file(d / f))
    return tensors


def load_float64_model(d: Path):
    """The HF model in float64 holding exactly the stored values of checkpoint dir `d`."""
    if json.loads((d / "config.json").read_text())["model_type"] != "gpt2":
        return load_float64_auto_model(d)
    config = GPT2Config.from_json_file(d / "config.json")
    config._attn_implementation = "eager"
    stored = read_stored_tensors(d)

    state = {}
    for name, t in stored.items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # legacy causal-mask buffers: not parameters
        if not name.startswith(("transformer.", "lm_head.")):
            name = "transformer." + name
        state[name] = t.to(torch.float64)
    if config.tie_word_embeddings:
        assert "lm_head.weight" not in state, "tied checkpoint should not store lm_head"
        state["lm_head.weight"] = state["transformer.wte.weight"]

    model = GPT2LMHeadModel(config).to(torch.float64).eval()
    model.load_state_dict(state, strict=True)
    if config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    return model


def load_float64_auto_model(d: Path):
    """AutoModelForCausalLM (Llama, Mistral, Qwen2/3, GPT-NeoX) in float64 on the stored values."""
    config = AutoConfig.from_pretrained(d)
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config).to(torch.float64).eval()
    # transformers 5 loads GPT-NeoX's `embed_out` as `lm_head` (conversion_mapping.py).
    state = {("lm_head.weight" if n == "embed_out.weight" else n): t.to(torch.float64)
             for n, t in read_stored_tensors(d).items()}
    head = "lm_head.weight"
    if config.tie_word_embeddings:
        assert head not in state, "tied checkpoint should not store its head"
        embedding = next(n for n in state if n.endswith(("embed_tokens.weight", "embed_in.weight")))
        state[head] = state[embedding]
    model.load_state_dict(state, strict=True)
    return model


# --------------------------------------------------------------------------- scoring


@torch.no_grad()
def log_probs(model: GPT2LMHeadModel, ids: list) -> torch.Tensor:
    """[len(ids), vocab] float64 log-probabilities of the next token at each position."""
    logits = model(torch.tensor([ids]), use_cache=False).logits[0]
    assert logits.dtype == torch.float64
    return torch.log_softmax(logits, dim=-1)


def top_entries(lp_row: torch.Tensor) -> list:
    values, ids = torch.topk(lp_row, TOP_K)
    return [[int(i), float(v)] for i, v in zip(ids, values)]


def min_top_gap(lp_row: torch.Tensor) -> float:
    """Smallest gap among the TOP_K + 1 largest log-probabilities (ids 1..5 and the 6th)."""
    values = torch.topk(lp_row, TOP_K + 1).values
    return float((values[:-1] - values[1:]).min())


def summarize(row: dict) -> dict:
    """Add scored_tokens / sum_logprob / loss / perplexity from row['target_logprobs']."""
    scored = [x for x in row["target_logprobs"] if x is not None]
    total = math.fsum(scored)
    loss = -total / len(scored)
    row.update(scored_tokens=len(scored), sum_logprob=total, loss=loss, perplexity=math.exp(loss))
    return row


def batch_summary(rows: list) -> dict:
    scored = [x for r in rows for x in r["target_logprobs"] if x is not None]
    loss = -math.fsum(scored) / len(scored)
    return {"scored_tokens": len(scored), "loss": loss, "perplexity": math.exp(loss)}


def score_targets(lp: torch.Tensor, targets: list, gaps: list) -> dict:
    """Row with target_logprobs / top / greedy for explicit targets (IGNORE -> null)."""
    row = {"target_logprobs": [], "top": [], "greedy": []}
    for t, target in enumerate(targets):
        if target == IGNORE:
            row["target_logprobs"].append(None)
            row["top"].append(None)
            row["greedy"].append(None)
            continue
        row["target_logprobs"].append(float(lp[t, target]))
        row["top"].append(top_entries(lp[t]))
        row["greedy"].append(bool(int(lp[t].argmax()) == target))
        gaps.append(min_top_gap(lp[t]))
    return summarize(row)


def sliding_window_logprobs(model: GPT2LMHeadModel, ids: list, stride: int) -> list:
    """Per-token log-probabilities (tokens 1..n-1) by the HF perplexity guide's windows."""
    max_len = context_length(model.config)
    n = len(ids)
    out = [None] * n
    prev_end = 0
    for begin in range(0, n, stride):
        end = min(begin + max_len, n)
        lp = log_probs(model, ids[begin:end])
        # tokens prev_end..end-1 are this window's targets; token `begin` has no context.
        for p in range(max(prev_end, begin + 1), end):
            assert out[p] is None
            out[p] = float(lp[p - 1 - begin, ids[p]])
        prev_end = end
        if end == n:
            break
    assert out[0] is None and all(x is not None for x in out[1:])
    return out[1:]


def score_case(model: GPT2LMHeadModel, case: dict, gaps: list) -> dict:
    """Fill case['rows'] and case['batch'] (case holds name + inputs/targets or sequences)."""
    if "window" in case:
        rows = []
        for seq in case["sequences"]:
            row = {"target_logprobs": sliding_window_logprobs(model, seq, case["window"]["stride"])}
            rows.append(summarize(row))
    elif "sequences" in case:
        rows = [score_targets(log_probs(model, seq), seq[1:], gaps) for seq in case["sequences"]]
    else:
        rows = [score_targets(log_probs(model, inp), tgt, gaps)
                for inp, tgt in zip(case["inputs"], case["targets"])]
    case["rows"] = rows
    case["batch"] = batch_summary(rows)
    if "window" not in case:
        check_batch_against_cross_entropy(model, case)
    return case


@torch.no_grad()
def check_batch_against_cross_entropy(model: GPT2LMHeadModel, case: dict) -> None:
    """The batch loss must equal F.cross_entropy over the flattened batch."""
    if "sequences" in case:
        pairs = [(s[:-1], s[1:]) for s in case["sequences"]]
    else:
        pairs = list(zip(case["inputs"], case["targets"]))
    logits = torch.cat([model(torch.tensor([i]), use_cache=False).logits[0][: len(t)]
                        for i, t in pairs])
    targets = torch.tensor([x for _, t in pairs for x in t])
    ce = float(F.cross_entropy(logits, targets, ignore_index=IGNORE))
    assert abs(ce - case["batch"]["loss"]) < 1e-12, (case["name"], ce, case["batch"]["loss"])


# --------------------------------------------------------------------------- cases


def make_cases(fx: Fixture) -> list:
    """Case definitions (token ids only), seeded per fixture; same names as shared/."""
    vocab = fx.config["vocab_size"]
    n_pos = fx.config["n_positions"] if fx.is_gpt2 else fx.config["max_position_embeddings"]
    rng = np.random.default_rng(fx.seed + 7)

    def ids(n):
        return [int(x) for x in rng.integers(0, vocab, n)]

    seed_rows = [ids(4) for _ in range(2)]
    # the last sequence starts with the smallest and largest ids (embedding edge rows)
    sequences = [ids(2), ids(n_pos // 2 + 3), ids(n_pos), [0, vocab - 1] + ids(5)]
    ignore_targets = ids(12)
    for i in (0, 5, 11):
        ignore_targets[i] = IGNORE
    long_len = int(4.5 * n_pos) + 1
    return [
        {"name": "seed-form", "inputs": [r[:-1] for r in seed_rows],
         "targets": [r[1:] for r in seed_rows]},
        {"name": "sequences", "sequences": sequences},
        {"name": "ignore-index", "inputs": [ids(12)], "targets": [ignore_targets]},
        {"name": "sliding-window", "sequences": [ids(long_len)],
         "window": {"stride": n_pos // 2}},
        {"name": "sliding-window-stride3", "sequences": [ids(long_len + 2)],
         "window": {"stride": fx.window_stride_odd}},
    ]


def plant_greedy_targets(model: GPT2LMHeadModel, case: dict) -> None:
    """Random targets are almost never the argmax; make some be (greedy == true coverage).

    Targets 2 and 7 become the most likely next token, target 9 the second most likely.
    """
    inputs, targets = case["inputs"][0], case["targets"][0]
    lp = log_probs(model, inputs)
    for t, rank in ((2, 0), (7, 0), (9, 1)):
        targets[t] = int(torch.topk(lp[t], rank + 1).indices[rank])


def expected_document(name: str, storage: str, config, cases: list) -> dict:
    keys = (("vocab_size", "n_embd", "n_head", "n_layer", "n_positions") if isinstance(config, GPT2Config)
            else ("model_type", "vocab_size", "hidden_size", "num_attention_heads", "num_hidden_layers",
                  "max_position_embeddings"))
    return {
        "model": name,
        "dtype": storage,
        "config": {k: getattr(config, k) for k in keys},
        "cases": cases,
    }


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


# --------------------------------------------------------------------------- generation


def generate(fx: Fixture) -> None:
    out = OUT_ROOT / fx.name
    config = make_config(fx)
    shapes = canonical_shapes(config, fx.tied)
    for attempt in range(MAX_ATTEMPTS):
        seed = fx.seed + attempt
        write_checkpoint(fx, config, draw_parameters(shapes, seed, offset_gains=fx.config.get("model_type", "").startswith("gemma")), out)
        model = load_float64_model(out)
        gaps = []
        cases = make_cases(fx)
        plant_greedy_targets(model, next(c for c in cases if c["name"] == "ignore-index"))
        cases = [score_case(model, c, gaps) for c in cases]
        if min(gaps) > MIN_TOP_GAP:
            break
        print(f"  {fx.name}: parameter seed {seed}: top-6 gap {min(gaps):.2e} too small, re-drawing")
    else:
        sys.exit(f"{fx.name}: no parameter draw with well separated top-5 in {MAX_ATTEMPTS} tries")

    write_json(out / "expected.json", expected_document(fx.name, fx.storage, config, cases))
    greedy = sum(bool(g) for c in cases for r in c["rows"] for g in r.get("greedy", []) if g)
    print(f"  {fx.name}: parameter seed {seed}, min top-6 gap {min(gaps):.3e}, "
          f"greedy hits {greedy}, {dir_bytes(out)} bytes")


def write_readme() -> None:
    lines = [
        "# Reference fixtures for lmscore's own tests",
        "",
        "Generated by `Scripts/make_reference.py`; do not edit by hand. They complement the",
        "acceptance fixtures in `shared/reference/` with loader paths those do not cover.",
        "",
        "| folder | stored as | vocab | width / heads / layers / positions | covers |",
        "|---|---|---|---|---|",
    ]
    notes = {
        "bf16-untied-erf": "names without `transformer.` prefix; untied `lm_head.weight`; "
                           "`activation_function: gelu` (exact erf); `n_inner: 40` "
                           "(not 4·n_embd); `layer_norm_epsilon: 1e-3`",
        "f16-legacy-buffers": "`transformer.` prefix; tied embeddings; gelu_new; head size 5; "
                              "legacy `h.N.attn.bias` causal masks [1,1,32,32] (BOOL in layers "
                              "0 and 2, U8 in layer 1) and F32 scalar `h.N.attn.masked_bias` = "
                              "-1e4, which a loader must ignore",
        "sharded-untied-f32": "`model.safetensors.index.json` + 3 shards (a layer's tensors "
                              "span shards); no prefix; untied lm_head",
    }
    for fx in FIXTURES:
        c = fx.config
        shape = ([c["n_embd"], c["n_head"], c["n_layer"], c["n_positions"]] if fx.is_gpt2 else
                 [c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"], c["max_position_embeddings"]])
        family = "" if fx.is_gpt2 else f"{c['model_type']}: "
        lines.append(f"| {fx.name} | {fx.storage.upper()} | {c['vocab_size']} | "
                     f"{' / '.join(map(str, shape))} | {family}{notes.get(fx.name, fx.notes)} |")
    lines += [
        "",
        "Every parameter is random (LayerNorm gains and all biases included). At every position",
        f"with a `top` list the six largest log-probabilities are more than {MIN_TOP_GAP:g} apart,",
        "so top-5 ids and `greedy` are stable under float32 arithmetic.",
        "`config.json` sets `bos_token_id` / `eos_token_id` to vocab_size - 1 (inside the vocabulary).",
        "",
        "## Truth",
        "",
        "HF transformers' `GPT2LMHeadModel` (`AutoModelForCausalLM` for the other families) in float64",
        "(eager attention) on exactly the stored",
        "values: the checkpoint is written in its storage dtype, read back, and upcast to float64.",
        "",
        "## Format",
        "",
        "`expected.json` has exactly the format of `shared/reference/*/expected.json` (see",
        "`shared/README.md`), with the same case names `seed-form`, `sequences` (lengths include 2",
        "and n_positions; the last one starts with ids 0 and vocab_size-1), `ignore-index` (-100",
        "at targets 0, 5 and 11; targets 2 and 7 are the model's argmax, so `greedy` is true",
        "there, and target 9 its second choice) and `sliding-window` (length 4.5·n_positions + 1, stride",
        "n_positions/2), plus `sliding-window-stride3`: the same procedure with stride 3 on a",
        "sequence of length 4.5·n_positions + 3. Sliding-window rows have no `top` / `greedy`,",
        "as in the shared files.",
        "",
        "## Regenerate",
        "",
        "```sh",
        "VENV=$(Scripts/setup_venv.sh)               # creates/reuses the venv, prints its path",
        "$VENV/bin/python Scripts/make_reference.py  # rewrites this folder, then self-checks",
        "$VENV/bin/python Scripts/make_reference.py --check Tests/Fixtures/reference/*/",
        "```",
        "",
        "The output is deterministic (fixed seeds); with the pinned torch/transformers on the same",
        "CPU the files come out byte-identical. Not across CPUs: on an AMD EPYC Zen 4 (AVX-512) the",
        "rotary fixtures made on a Zen 2 recompute up to ~1e-6 apart (`--check` reports them, and the",
        "shared gemma2/phi3 alike; the GPT-2 ones stay within 1e-9), presumably because",
        "transformers computes RoPE's cos/sin and the eager softmax in float32 even in a float64 model,",
        "with torch's ISA-specific vector code. Keep the committed files of fixtures whose inputs did not",
        "change. `--check` recomputes an existing fixture (these or `shared/reference/*`) from its stored",
        "weights and compares within 1e-9.",
    ]
    (OUT_ROOT / "README.md").write_text("\n".join(lines) + "\n")


def dir_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.iterdir() if f.is_file())


# --------------------------------------------------------------------------- checks


def check_consistency(doc: dict) -> None:
    """loss == -sum/scored, perplexity == exp(loss), batch token-weighted, shapes of lists."""
    for case in doc["cases"]:
        windowed = "window" in case
        if "sequences" in case:
            lengths = [len(s) - 1 for s in case["sequences"]]
        else:
            lengths = [len(t) for t in case["targets"]]
            assert all(len(i) == len(t) for i, t in zip(case["inputs"], case["targets"]))
        all_scored = []
        for row, n, k in zip(case["rows"], lengths, range(len(lengths))):
            lps = row["target_logprobs"]
            assert len(lps) == n, (case["name"], k)
            scored = [x for x in lps if x is not None]
            if "targets" in case:
                assert [x is None for x in lps] == [t == IGNORE for t in case["targets"][k]]
            assert all(x <= 0 for x in scored)
            assert row["scored_tokens"] == len(scored)
            assert close(row["sum_logprob"], math.fsum(scored))
            assert close(row["loss"], -row["sum_logprob"] / len(scored))
            assert close(row["perplexity"], math.exp(row["loss"]))
            if windowed:
                assert "top" not in row and "greedy" not in row
            else:
                check_top(row, case, k)
            all_scored += scored
        b = case["batch"]
        assert b["scored_tokens"] == len(all_scored) == sum(r["scored_tokens"] for r in case["rows"])
        weighted = -sum(r["sum_logprob"] for r in case["rows"]) / b["scored_tokens"]
        assert close(b["loss"], weighted) and close(b["perplexity"], math.exp(b["loss"]))


def check_top(row: dict, case: dict, k: int) -> None:
    targets = case["sequences"][k][1:] if "sequences" in case else case["targets"][k]
    for lp, top, greedy, target in zip(row["target_logprobs"], row["top"], row["greedy"], targets):
        if lp is None:
            assert top is None and greedy is None
            continue
        values = [v for _, v in top]
        assert len(top) == TOP_K and values == sorted(values, reverse=True)
        assert greedy == (top[0][0] == target)
        assert lp <= values[0] and (lp >= values[-1]) == (target in [i for i, _ in top])


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(b))


def compare_docs(got, want, path="") -> list:
    """Differences between two expected.json trees (floats within 1e-9 relative)."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return [f"{path}: keys {sorted(got) if isinstance(got, dict) else got} != {sorted(want)}"]
        return [d for k in want for d in compare_docs(got[k], want[k], f"{path}.{k}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: length differs"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in compare_docs(g, w, f"{path}[{i}]")]
    if isinstance(want, float) and not isinstance(want, bool):
        ok = isinstance(got, (int, float)) and abs(got - want) <= 1e-9 * max(1.0, abs(want))
        return [] if ok else [f"{path}: {got} != {want}"]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def rescore(d: Path) -> list:
    """Recompute d/expected.json from d's stored weights; return differences."""
    want = json.loads((d / "expected.json").read_text())
    model = load_float64_model(d)
    cases = []
    for c in want["cases"]:
        bare = {k: v for k, v in c.items() if k not in ("rows", "batch")}
        cases.append(score_case(model, bare, []))
    got = expected_document(want["model"], want["dtype"], model.config, cases)
    check_consistency(want)
    return compare_docs(got, want)


@torch.no_grad()
def check_with_from_pretrained(d: Path) -> float:
    """Load d with from_pretrained (float64) and compare logits to ours."""
    ours = load_float64_model(d)
    hf = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float64, attn_implementation="eager").eval()
    # Gemma's embedding scale is a float32 buffer (hidden_size**0.5 rounded to float32, then cast to the
    # weights' dtype): what HF multiplies by in float32/bfloat16, what the truth here uses, and what
    # lmscore computes. from_pretrained(dtype=float64) alone re-initialises it to the exact double.
    for a, b in zip(ours.modules(), hf.modules()):
        if hasattr(a, "embed_scale") and hasattr(b, "embed_scale"):
            b.embed_scale.copy_(a.embed_scale)
    ids = torch.arange(context_length(ours.config)).remainder(ours.config.vocab_size)[None]
    a = ours(ids, use_cache=False).logits
    b = hf(ids, use_cache=False).logits
    return float((a - b).abs().max())


@torch.no_grad()
def float32_deviation(d: Path) -> float:
    """Largest |float32 - float64| target log-probability on the sequences case (tolerance hint)."""
    doc = json.loads((d / "expected.json").read_text())
    model = load_float64_model(d).to(torch.float32)
    case = next(c for c in doc["cases"] if c["name"] == "sequences")
    worst = 0.0
    for seq, row in zip(case["sequences"], case["rows"]):
        lp = torch.log_softmax(model(torch.tensor([seq]), use_cache=False).logits[0], -1)
        for t, want in enumerate(row["target_logprobs"]):
            worst = max(worst, abs(float(lp[t, seq[t + 1]]) - want))
    return worst


def self_check() -> None:
    for fx in FIXTURES:
        d = OUT_ROOT / fx.name
        doc = json.loads((d / "expected.json").read_text())
        check_consistency(doc)
        size = dir_bytes(d)
        assert size < MAX_DIR_BYTES, f"{d} is {size} bytes"
        diff = check_with_from_pretrained(d)
        assert diff < 1e-9, f"{fx.name}: from_pretrained logits differ by {diff}"
        print(f"  {fx.name}: consistent; from_pretrained max |dlogit| {diff:.1e}; "
              f"float32 max |dlogprob| {float32_deviation(d):.1e}; {size} bytes")


def perturb(src: Path, dst: Path, scale: float, seed: int) -> None:
    """DST: SRC's checkpoint with seeded Gaussian noise of `scale` standard deviations on every tensor."""
    if (src / "model.safetensors.index.json").exists():
        sys.exit(f"{src}: --perturb copies single-file checkpoints only")
    stored = read_stored_tensors(src)
    generator = torch.Generator().manual_seed(seed)
    perturbed = {}
    for name in sorted(stored):
        t = stored[name]
        if not t.is_floating_point() or t.numel() < 2:
            perturbed[name] = t.clone()
            continue
        t64 = t.to(torch.float64)
        noise = torch.randn(t.shape, generator=generator, dtype=torch.float64)
        perturbed[name] = (t64 + scale * t64.std() * noise).to(t.dtype).contiguous()
    dst.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(perturbed, dst / "model.safetensors", metadata={"format": "pt"})
    shutil.copyfile(src / "config.json", dst / "config.json")
    want = json.loads((src / "expected.json").read_text())
    model = load_float64_model(dst)
    cases = [score_case(model, {k: v for k, v in c.items() if k not in ("rows", "batch")}, []) for c in want["cases"]]
    write_json(dst / "expected.json", expected_document(dst.name, want["dtype"], model.config, cases))
    for f in dst.iterdir():
        f.chmod(0o644)
    print(f"{dst}: {src.name} + {scale}·std·N(0, 1), seed {seed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--perturb", nargs=2, type=Path, metavar=("SRC", "DST"),
                        help="write a perturbed copy of fixture SRC to DST")
    parser.add_argument("--scale", type=float, default=0.05, help="--perturb: noise in standard deviations of each tensor")
    parser.add_argument("--seed", type=int, default=24, help="--perturb: the noise's seed")
    parser.add_argument("--check", nargs="+", type=Path, metavar="DIR",
                        help="recompute DIR/expected.json from DIR's weights and compare")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)  # deterministic reduction order

    if args.perturb:
        perturb(*args.perturb, args.scale, args.seed)
        return
    if args.check:
        bad = False
        for d in args.check:
            diffs = rescore(d)
            print(f"{d}: {'OK' if not diffs else f'{len(diffs)} differences'}")
            for line in diffs[:20]:
                print("   ", line)
            bad |= bool(diffs)
        sys.exit(1 if bad else 0)

    print("generating")
    OUT_ROOT.mkdir(parents=True, exist_ok=True)
    for fx in FIXTURES:
        generate(fx)
        for f in (OUT_ROOT / fx.name).iterdir():
            f.chmod(0o644)  # safetensors writes 0600
    write_readme()
    print("self-check")
    self_check()


if __name__ == "__main__":
    main()
