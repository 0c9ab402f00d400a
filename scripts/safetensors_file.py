"""safetensors files by hand (the `safetensors` package is not in Debian): u64 LE header length,
JSON header space-padded to a multiple of 8 bytes, then the raw little-endian tensor bytes.
Shared by the fixture scripts."""
import json
import pathlib
import struct

import torch

DTYPES = {torch.float16: "F16", torch.float32: "F32", torch.int64: "I64"}
TORCH_DTYPES = {"F16": torch.float16, "F32": torch.float32, "I64": torch.int64}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        buf = bytearray(raw[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(buf, dtype=TORCH_DTYPES[entry["dtype"]]).reshape(entry["shape"]).clone()
    return out
