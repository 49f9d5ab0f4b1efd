#!/usr/bin/env python3
"""A BF16 copy of a safetensors checkpoint: every F16/F32 tensor rounded to bfloat16 (round to nearest
even), config.json and the tokenizer files copied. A second model with the same vocabulary and tokenizer,
for `lmscore compare` and `/score`'s `reference` (docs/api.md's examples compare the bundled F16 model
with its BF16 copy, as one would check a quantized model against its F16 source). Standard library only.

    Scripts/make_bf16_copy.py SRC_DIR DST_DIR      (single-file model.safetensors)
"""
import json
import shutil
import struct
import sys
from pathlib import Path

TOKENIZER_FILES = ["gpt2.tiktoken", "tokenizer.json", "tokenizer_config.json"]


def to_bf16(raw: bytes, dtype: str) -> bytes:
    """Little-endian F16/F32 values → BF16, rounded to nearest even."""
    code, size = {"F16": ("e", 2), "F32": ("f", 4)}[dtype]
    values = struct.unpack(f"<{len(raw) // size}{code}", raw)
    bits = struct.unpack(f"<{len(values)}I", struct.pack(f"<{len(values)}f", *values))
    return struct.pack(f"<{len(bits)}H", *(((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF for b in bits))


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    data = (src / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out_header, chunks, offset = {}, [], 0
    for name, entry in header.items():
        if name == "__metadata__":
            out_header[name] = entry
            continue
        begin, end = entry["data_offsets"]
        raw = body[begin:end]
        if entry["dtype"] in ("F16", "F32"):
            raw, dtype = to_bf16(raw, entry["dtype"]), "BF16"
        else:
            dtype = entry["dtype"]
        out_header[name] = {"dtype": dtype, "shape": entry["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(out_header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    dst.mkdir(parents=True, exist_ok=True)
    with open(dst / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for chunk in chunks:
            f.write(chunk)
    config = json.loads((src / "config.json").read_text())
    config["dtype"] = "bfloat16"
    (dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)
    print(f"{dst}: {src.name} in BF16 ({offset} bytes of tensors)")


if __name__ == "__main__":
    main()
