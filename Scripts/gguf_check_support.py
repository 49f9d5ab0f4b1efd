"""What the GGUF checks share (check_gguf_models.py, check_llama_cpp_q8.py, llama_cpp_numerics/): the
reference fixtures llama.cpp's converter is run on, how each is prepared for it, and the common
command-line arguments. Imported, not run.
"""
import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "Tests/Fixtures/reference"


class Fixture:
    def __init__(self, name, vocab=None, stored16=None, edits=None, shared=True):
        self.name, self.vocab, self.stored16, self.edits, self.shared = name, vocab, stored16, edits or {}, shared


# vocab: see llama_cpp_convert.py. edits: config.json values as llama.cpp reads the GGUF file.
FIXTURES = [
    Fixture("llama-gqa"),                              # SentencePiece-style: no pre-tokenizer hash involved
    Fixture("qwen2-bias-bf16", "pre:qwen2", "bf16"),
    Fixture("qwen3-qknorm-sharded", "pre:qwen2"),
    Fixture("tiny", "none", edits={"n_ctx": 64}),      # GPT-2's converter reads n_ctx (the model is unchanged)
    Fixture("gpt2vocab-f16", "gguf-gpt-2", "f16", edits={"n_ctx": 128}),
    Fixture("neox-pythia-f16", "pre:gpt-2", "f16"),
    Fixture("phi3-fused", "llama_hf"),
    Fixture("gemma2-softcap-bf16", "llama_hf", "bf16", edits={"query_pre_attn_scalar": 16}),   # llama.cpp: head_dim
    Fixture("gemma-legacy-act", "none", shared=False),
    # GGUF has no activation key; GPT-NeoX's converter writes no RoPE scaling (llama.cpp: none).
    Fixture("neox-sequential", "none", "f16", edits={"hidden_act": "gelu", "rope_scaling": None}, shared=False),
    Fixture("gemma3-local-global", "none", "bf16", shared=False,
            edits={"query_pre_attn_scalar": 16, "sliding_window_pattern": 6, "rope_local_base_freq": 10000.0}),
]


def rescored(directory, source_expected):
    """source_expected's cases with their truth recomputed from DIR's stored weights and config
    (Scripts/make_reference.py's float64 HF model), written to DIR/expected.json."""
    expected = json.loads(Path(source_expected).read_text())
    import make_reference  # torch, transformers: the venv of Scripts/setup_venv.sh
    model = make_reference.load_float64_model(directory)
    expected["cases"] = [make_reference.score_case(model, {k: v for k, v in c.items() if k not in ("rows", "batch")}, [])
                         for c in expected["cases"]]
    (directory / "expected.json").write_text(json.dumps(expected))
    return directory


def edited_copy(directory, edits, work):
    """DIR's files linked into WORK/NAME-edited with `edits` applied to config.json, and expected.json's
    truth recomputed from the edited config (Scripts/make_reference.py's float64 HF model)."""
    out = Path(work) / f"{directory.name}-edited"
    out.mkdir(exist_ok=True)
    for f in directory.iterdir():
        if f.name not in ("config.json", "expected.json") and not (out / f.name).exists():
            os.symlink(f, out / f.name)
    config = json.loads((directory / "config.json").read_text())
    config.update(edits)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    rescored(out, directory / "expected.json")
    return out


def gpt2_vocabulary(llama_cpp):
    """The converter's `vocab` for GPT-2's 50,257 tokens: llama.cpp's own GPT-2 vocabulary file."""
    return f"gguf:{Path(llama_cpp) / 'models/ggml-vocab-gpt-2.gguf'}"


def fixture_source(fixture, reference, llama_cpp, work):
    """(checkpoint directory, converter vocabulary) of `fixture`: the shared reference (or lmscore's
    committed one), an edited copy in WORK when llama.cpp reads the file with other config values."""
    directory = (Path(reference) if fixture.shared else COMMITTED) / fixture.name
    if fixture.edits:
        directory = edited_copy(directory, fixture.edits, work)
    vocab = gpt2_vocabulary(llama_cpp) if fixture.vocab == "gguf-gpt-2" else fixture.vocab
    return directory, vocab


def arguments(description):
    """The arguments every GGUF check takes; the caller adds its own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--lmscore", required=True, help="the lmscore binary")
    ap.add_argument("--llama-cpp", required=True,
                    help="vendor/llama.cpp of the llama-cpp-python sdist (convert_hf_to_gguf.py, conversion/, gguf-py/, models/)")
    ap.add_argument("--reference", required=True, help="../shared/reference")
    ap.add_argument("--work", required=True, help="a scratch directory")
    return ap
