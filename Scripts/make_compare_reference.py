#!/usr/bin/env python3
"""Generate the two-model reference (Tests/Fixtures/compare/expected.json + logits.f32).

What: the model p = tiny-perturbed (Tests/Fixtures/compare/, made by
`make_reference.py --perturb ../shared/reference/tiny Tests/Fixtures/compare/tiny-perturbed`) and the
reference q = shared/reference/tiny, two GPT-2 checkpoints with one vocabulary, on two seeded token
sequences (64 and 40 tokens). HF transformers runs both in float64 (make_reference.load_float64_model);
their logits are rounded to float32 (what lmscore's LM head folds) and stored in logits.f32; every
expected number is float64 numpy on those float32 logits:

  per position (aligned with the scored targets, tokens 1…n−1):
    logprobs, reference_logprobs    log_softmax(·)[target]
    entropy, rank                   of p (rank: 1 + #{v: a_v > a_t} + #{v < t: a_v = a_t})
    kl                              KL(q‖p) = Σ q (log q − log p)
    delta_p                         p(target) − q(target)
    same_top                        argmax p = argmax q (first index)
    cross_entropy                   −Σ q log p
    logprob_variance                Σ q (log p)² − (Σ q log p)²
  per row: binoculars (the reference implementation's `perplexity` and `entropy` functions, ahans30/Binoculars
    binoculars/metrics.py, written out below in torch float64, performer p, observer q, on the scored
    positions' logits) and fast_detect_gpt (Fast-DetectGPT's get_sampling_discrepancy_analytic, reference q,
    scoring p); binoculars_all_positions: their `entropy` over every position as their detector calls it
    (it also averages the prediction after the last token, which lmscore does not score);
  per request: kld, llama.cpp's `--kl-divergence` summary (tools/perplexity/perplexity.cpp) in numpy.

logits.f32: little-endian float32, [model p | reference q][row][position 0…n−2][vocab].

Usage:  VENV=$(Scripts/setup_venv.sh); $VENV/bin/python Scripts/make_compare_reference.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_reference as mr  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "Tests" / "Fixtures" / "compare"
MODEL = OUT / "tiny-perturbed"
REFERENCE = REPO.parent / "shared" / "reference" / "tiny"
LENGTHS = [64, 40]
SEED = 2024


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def rank_of(row: np.ndarray, t: int) -> int:
    return int(1 + (row > row[t]).sum() + (row[:t] == row[t]).sum())


# ------------------------------------------------ the reference implementations' formulas (torch)

def binoculars_perplexity(ids: torch.Tensor, logits: torch.Tensor) -> float:
    """Binoculars' `perplexity` (batch of one, no padding): mean CE of logits[:-1] on ids[1:]."""
    shifted_logits = logits[..., :-1, :]
    shifted_labels = ids[..., 1:]
    ce = torch.nn.CrossEntropyLoss(reduction="none")(shifted_logits.transpose(1, 2), shifted_labels)
    return float(ce.sum(1) / ce.shape[1])


def binoculars_entropy(p_logits: torch.Tensor, q_logits: torch.Tensor) -> float:
    """Binoculars' `entropy` (observer p_logits, performer q_logits; no padding): mean over positions
    of the cross-entropy of softmax(observer) against log_softmax(performer)."""
    vocab = p_logits.shape[-1]
    positions = q_logits.shape[-2]
    p_proba = torch.softmax(p_logits, dim=-1).view(-1, vocab)
    ce = torch.nn.CrossEntropyLoss(reduction="none")(input=q_logits.reshape(-1, vocab), target=p_proba).view(-1, positions)
    return float(ce.sum(1) / positions)


def fast_detect_gpt(logits_ref: torch.Tensor, logits_score: torch.Tensor, labels: torch.Tensor) -> float:
    """Fast-DetectGPT's get_sampling_discrepancy_analytic."""
    labels = labels.unsqueeze(-1)
    lprobs_score = torch.log_softmax(logits_score, dim=-1)
    probs_ref = torch.softmax(logits_ref, dim=-1)
    log_likelihood = lprobs_score.gather(dim=-1, index=labels).squeeze(-1)
    mean_ref = (probs_ref * lprobs_score).sum(dim=-1)
    var_ref = (probs_ref * torch.square(lprobs_score)).sum(dim=-1) - torch.square(mean_ref)
    discrepancy = (log_likelihood.sum(dim=-1) - mean_ref.sum(dim=-1)) / var_ref.sum(dim=-1).sqrt()
    return float(discrepancy.mean())


# ------------------------------------------------ llama.cpp's KLD summary (perplexity.cpp), numpy

def mean_and_uncertainty(s: float, s2: float, n: int):
    f = s / n
    df = s2 / n - f * f
    return f, (np.sqrt(df / (n - 1)) if df > 0 and n > 10 else 0.0)


def covariance(sa: float, sb: float, sab: float, n: int) -> float:
    if n < 10:
        return 0.0
    return (sab / n - (sa / n) * (sb / n)) / (n - 1)


def percentile(v: np.ndarray, fraction: float) -> float:
    if fraction <= 0:
        return float(v[0])
    if fraction >= 1:
        return float(v[-1])
    p = fraction * (len(v) - 1)
    i = int(p)
    p -= i
    return float((1 - p) * v[i] + p * v[min(i + 1, len(v) - 1)])


def median(v: np.ndarray) -> float:
    n = len(v)
    return float(0.5 * (v[n // 2] + v[n // 2 - 1]) if n % 2 == 0 else v[n // 2])


def kld_summary(kl, dp, same, lp, lp_base) -> dict:
    n = len(kl)
    nll, nll_base = -np.asarray(lp), -np.asarray(lp_base)
    kl, dp = np.asarray(kl), np.asarray(dp)
    ln_ppl = mean_and_uncertainty(nll.sum(), (nll * nll).sum(), n)
    ln_base = mean_and_uncertainty(nll_base.sum(), (nll_base * nll_base).sum(), n)
    cov = covariance(nll.sum(), nll_base.sum(), (nll * nll_base).sum(), n)
    ppl, ppl_base = np.exp(ln_ppl[0]), np.exp(ln_base[0])
    ratio_unc = np.sqrt(ln_ppl[1] ** 2 + ln_base[1] ** 2 - 2 * cov)
    ratio = np.exp(ln_ppl[0] - ln_base[0])
    ppl_unc, base_unc = ppl * ln_ppl[1], ppl_base * ln_base[1]
    kl_mean = mean_and_uncertainty(kl.sum(), (kl * kl).sum(), n)
    dp_mean = mean_and_uncertainty(dp.sum(), (dp * dp).sum(), n)
    mse = mean_and_uncertainty((dp * dp).sum(), (dp ** 4).sum(), n)
    rms = np.sqrt(mse[0])
    f = sum(same) / n
    ks, ds = np.sort(kl), np.sort(dp)
    kl_fractions = {"99.9": 0.999, "99": 0.99, "95": 0.95, "90": 0.90, "10": 0.10, "5": 0.05, "1": 0.01, "0.1": 0.001}
    dp_fractions = {"99.9": 0.999, "99": 0.99, "95": 0.95, "90": 0.90, "75": 0.75, "25": 0.25, "10": 0.10, "5": 0.05,
                    "1": 0.01, "0.1": 0.001}
    return {
        "positions": n,
        "kl_divergence": {"mean": kl_mean[0], "uncertainty": kl_mean[1], "median": median(ks), "minimum": float(ks[0]),
                          "maximum": float(ks[-1]), "percentiles": {k: percentile(ks, v) for k, v in kl_fractions.items()}},
        "delta_p": {"mean": dp_mean[0], "uncertainty": dp_mean[1], "rms": float(rms), "rms_uncertainty": float(0.5 / rms * mse[1]),
                    "median": median(ds), "minimum": float(ds[0]), "maximum": float(ds[-1]),
                    "percentiles": {k: percentile(ds, v) for k, v in dp_fractions.items()}},
        "same_top": {"fraction": f, "uncertainty": float(np.sqrt(f * (1 - f) / (n - 1)))},
        "perplexity": {"value": float(ppl), "uncertainty": float(ppl_unc)},
        "reference_perplexity": {"value": float(ppl_base), "uncertainty": float(base_unc)},
        "ln_perplexity_ratio": {"value": float(ln_ppl[0] - ln_base[0]), "uncertainty": float(ratio_unc)},
        "perplexity_ratio": {"value": float(ratio), "uncertainty": float(ratio * ratio_unc)},
        "perplexity_difference": {"value": float(ppl - ppl_base),
                                  "uncertainty": float(np.sqrt(ppl_unc ** 2 + base_unc ** 2 - 2 * ppl * ppl_base * cov))},
        "ln_perplexity_correlation": float(cov / (ln_ppl[1] * ln_base[1])),
    }


@torch.no_grad()
def main() -> None:
    torch.set_num_threads(1)
    if not REFERENCE.exists():
        sys.exit(f"{REFERENCE} not found (the shared fixtures)")
    p_model, q_model = mr.load_float64_model(MODEL), mr.load_float64_model(REFERENCE)
    vocab = p_model.config.vocab_size
    assert vocab == q_model.config.vocab_size
    rng = np.random.RandomState(SEED)
    sequences = [rng.randint(0, vocab, size=n).tolist() for n in LENGTHS]

    blobs = {"p": [], "q": []}
    rows = []
    all_kl, all_dp, all_same, all_lp, all_lp_base = [], [], [], [], []
    for seq in sequences:
        ids = torch.tensor([seq])
        # float64 logits, rounded to float32 (what the fold reads), then float64 again for the truth
        a32 = p_model(ids, use_cache=False).logits[0].numpy().astype(np.float32)
        b32 = q_model(ids, use_cache=False).logits[0].numpy().astype(np.float32)
        blobs["p"].append(a32[:-1])
        blobs["q"].append(b32[:-1])
        a, b = a32[:-1].astype(np.float64), b32[:-1].astype(np.float64)
        targets = seq[1:]
        lp, lq = log_softmax(a), log_softmax(b)
        p, q = np.exp(lp), np.exp(lq)
        t = np.arange(len(targets))
        logprobs, reference_logprobs = lp[t, targets], lq[t, targets]
        mean = (q * lp).sum(-1)
        row = {
            "logprobs": logprobs.tolist(),
            "reference_logprobs": reference_logprobs.tolist(),
            "entropy": (-(p * lp).sum(-1)).tolist(),
            "rank": [rank_of(a[i], targets[i]) for i in t],
            "kl": (q * (lq - lp)).sum(-1).tolist(),
            "delta_p": (np.exp(logprobs) - np.exp(reference_logprobs)).tolist(),
            "same_top": (a.argmax(-1) == b.argmax(-1)).tolist(),
            "cross_entropy": (-mean).tolist(),
            "logprob_variance": ((q * lp * lp).sum(-1) - mean * mean).tolist(),
        }
        A, B = torch.from_numpy(a32.astype(np.float64))[None], torch.from_numpy(b32.astype(np.float64))[None]
        ppl = binoculars_perplexity(ids, A)                      # performer p
        row["binoculars"] = ppl / binoculars_entropy(B[:, :-1], A[:, :-1])   # observer q → performer p, scored positions
        row["binoculars_all_positions"] = ppl / binoculars_entropy(B, A)
        row["fast_detect_gpt"] = fast_detect_gpt(B[:, :-1], A[:, :-1], ids[:, 1:])
        rows.append(row)
        all_kl += row["kl"]; all_dp += row["delta_p"]; all_same += row["same_top"]
        all_lp += row["logprobs"]; all_lp_base += row["reference_logprobs"]

    doc = {
        "model": "tiny-perturbed", "reference": "tiny",
        "note": "generated by Scripts/make_compare_reference.py; numbers in float64 on the float32 logits in logits.f32",
        "vocab_size": vocab, "sequences": sequences, "rows": rows,
        "kld": kld_summary(all_kl, all_dp, all_same, all_lp, all_lp_base),
    }
    (OUT / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    blob = np.concatenate([np.concatenate(blobs["p"]), np.concatenate(blobs["q"])]).astype("<f4")
    (OUT / "logits.f32").write_bytes(blob.tobytes())
    s = doc["kld"]
    print(f"wrote {OUT}/expected.json, logits.f32 ({blob.nbytes} bytes); mean KLD {s['kl_divergence']['mean']:.6f}, "
          f"same top {100 * s['same_top']['fraction']:.1f}%, binoculars {[round(r['binoculars'], 4) for r in rows]}")


if __name__ == "__main__":
    main()
