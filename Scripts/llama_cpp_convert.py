"""llama.cpp's convert_hf_to_gguf.py run on a checkpoint, for the GGUF checks (check_gguf_models.py,
check_llama_cpp_q8.py, compare_bench.sh). Imported, not run.

The reference fixtures carry small synthetic tokenizers (or none) that the converter cannot take as is;
`vocab` says what the converter writes as the file's vocabulary, nothing else about it changes:
  None            the converter's own choice;
  "pre:NAME"      its own choice, with the pre-tokenizer it does not recognize by hash named;
  "llama_hf"      SentencePiece-style tokenizer.json read as Llama's (`_set_vocab_llama_hf`; Gemma, Phi-3
                  fixtures have no tokenizer.model), no more tokens than the model has rows;
  "gguf:PATH"     the vocabulary of a llama.cpp vocabulary file (models/ggml-vocab-gpt-2.gguf: GPT-2's,
                  for checkpoints with GPT-2's 50,257 tokens and no tokenizer files);
  "none"          no vocabulary (GPT-2 fixtures with made-up vocabularies; lmscore scores ids without one).
With transformers 5 the converter misses legacy config keys it still reads (GPT-NeoX's rotary_pct): the
config.json's own keys fill in what transformers' loaded config lacks.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import sys, runpy
llama_cpp, model, outtype, out, vocab = sys.argv[1:6]
sys.path[:0] = [llama_cpp + "/gguf-py", llama_cpp]
sys.argv = ["convert_hf_to_gguf.py", model, "--outtype", outtype, "--outfile", out]
import gguf
import conversion.base, conversion.gemma, conversion.phi, conversion.gpt2, conversion.gptneox
classes = [conversion.base.TextModel, conversion.gemma.GemmaModel, conversion.gemma.Gemma2Model, conversion.gemma.Gemma3Model,
           conversion.phi.Phi3MiniModel, conversion.gpt2.GPT2Model, conversion.gptneox.GPTNeoXModel]

def from_vocabulary_file(self, path=vocab[5:]):
    reader = gguf.GGUFReader(path)
    field = lambda key: reader.fields[key].contents() if key in reader.fields else None
    self.gguf_writer.add_tokenizer_model(field("tokenizer.ggml.model"))
    self.gguf_writer.add_tokenizer_pre(field("tokenizer.ggml.pre"))
    self.gguf_writer.add_token_list(field("tokenizer.ggml.tokens"))
    self.gguf_writer.add_token_types(field("tokenizer.ggml.token_type"))
    if field("tokenizer.ggml.merges") is not None:
        self.gguf_writer.add_token_merges(field("tokenizer.ggml.merges"))
    for key, add in [("tokenizer.ggml.bos_token_id", self.gguf_writer.add_bos_token_id),
                     ("tokenizer.ggml.eos_token_id", self.gguf_writer.add_eos_token_id)]:
        if field(key) is not None:
            add(field(key))

# transformers 5's AutoConfig moves legacy keys (GPT-NeoX's rotary_pct, rotary_emb_base) into rope_parameters;
# the converter still reads some of them: config.json's own keys fill in what the loaded config lacks.
load_hparams = conversion.base.ModelBase.load_hparams
def load_hparams_with_legacy_keys(dir_model, is_mistral_format):
    import json
    config = load_hparams(dir_model, is_mistral_format)
    for key, value in json.loads((dir_model / "config.json").read_text()).items():
        config.setdefault(key, value)
    return config
conversion.base.ModelBase.load_hparams = staticmethod(load_hparams_with_legacy_keys)

def llama_hf_vocabulary(self):
    # Trimmed to the model's rows: for Gemma's model type transformers' tokenizer class adds tokens past them.
    n, writer = self.hparams["vocab_size"], self.gguf_writer
    for name in ("add_token_list", "add_token_scores", "add_token_types"):
        add = getattr(writer, name)
        setattr(writer, name, lambda values, add=add: add(list(values)[:n]))
    self._set_vocab_llama_hf()

if vocab.startswith("pre:"):
    conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: vocab[4:]
elif vocab != "auto":
    set_vocab = {"llama_hf": llama_hf_vocabulary, "none": lambda self: None}.get(vocab, from_vocabulary_file)
    for cls in classes:
        cls.set_vocab = set_vocab
module = runpy.run_path(llama_cpp + "/convert_hf_to_gguf.py", run_name="lmscore_check")
module["main"]()
'''


def convert(llama_cpp, model_dir, out, outtype, vocab=None, python=sys.executable):
    """convert_hf_to_gguf.py MODEL_DIR --outtype OUTTYPE --outfile OUT in a child process."""
    model_dir = Path(model_dir)
    with tempfile.TemporaryDirectory() as work:
        if vocab == "none" and not any((model_dir / f).exists() for f in ("tokenizer.json", "tokenizer.model")):
            # Gemma 3's converter counts a tokenizer's entries for the embedding rows it keeps: one with as
            # many entries as the model has rows, for the converter only (linked copy of the checkpoint).
            config = json.loads((model_dir / "config.json").read_text())
            copy = Path(work) / "model"
            copy.mkdir()
            for f in model_dir.iterdir():
                os.symlink(f.resolve(), copy / f.name)
            (copy / "tokenizer.json").write_text(json.dumps(
                {"model": {"vocab": {f"t{i}": i for i in range(config["vocab_size"])}}, "added_tokens": []}))
            model_dir = copy
        result = subprocess.run([python, "-c", CHILD, str(llama_cpp), str(model_dir), outtype, str(out), vocab or "auto"],
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"converting {model_dir} to {outtype} failed:\n{result.stderr[-3000:]}")
    return Path(out)


def vocabulary_of_size(llama_cpp, size, python=sys.executable):
    """'gguf:PATH' of a models/ggml-vocab-*.gguf file with exactly `size` tokens (llama.cpp wants the
    vocabulary to match the embedding's rows), or "none"."""
    code = ("import sys; sys.path.insert(0, sys.argv[1] + '/gguf-py'); import gguf, glob\n"
            "for path in sorted(glob.glob(sys.argv[1] + '/models/ggml-vocab-*.gguf')):\n"
            "    field = gguf.GGUFReader(path).fields.get('tokenizer.ggml.tokens')\n"
            "    if field is not None and len(field.data) == int(sys.argv[2]):\n"
            "        print(path); break\n")
    found = subprocess.run([python, "-c", code, str(llama_cpp), str(size)], capture_output=True, text=True).stdout.strip()
    return f"gguf:{found}" if found else "none"


def main():
    """CLI for compare_bench.sh: MODEL_DIR → OUT (OUTTYPE), the vocabulary a llama.cpp file of the same size."""
    import argparse
    ap = argparse.ArgumentParser(description="convert_hf_to_gguf.py on a checkpoint, with a matching llama.cpp vocabulary")
    ap.add_argument("--llama-cpp", required=True)
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("outtype")
    args = ap.parse_args()
    config = json.loads((Path(args.model_dir) / "config.json").read_text())
    vocab = vocabulary_of_size(args.llama_cpp, config["vocab_size"])
    with tempfile.TemporaryDirectory() as work:
        model_dir = Path(args.model_dir)
        if config.get("model_type") == "gpt2" and "n_ctx" not in config:
            # GPT-2's converter reads n_ctx (transformers 5 no longer writes it): a linked copy that has it.
            copy = Path(work) / "model"
            copy.mkdir()
            for f in model_dir.iterdir():
                if f.name != "config.json":
                    os.symlink(f.resolve(), copy / f.name)
            (copy / "config.json").write_text(json.dumps(dict(config, n_ctx=config["n_positions"])))
            model_dir = copy
        convert(args.llama_cpp, model_dir, args.out, args.outtype, vocab)
    print(f"{args.out}: {args.outtype}, vocabulary {vocab}")


if __name__ == "__main__":
    main()
