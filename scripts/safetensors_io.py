"""safetensors files for the PyTorch fixture generators and read-back references (no safetensors package needed):
write_safetensors writes F32/I32 tensors atomically, read_safetensors reads F32/F64/BF16/F16 tensors as float64."""
import json, os, struct
import torch

DT = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype 'F32'|'I32', torch tensor)."""
    header, blobs, pos = {"__metadata__": metadata}, [], 0
    for name, dt, t in tensors:
        t = t.detach().contiguous().to(torch.float32 if dt == "F32" else torch.int32)
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    js = json.dumps(header, separators=(",", ":"))
    js += " " * ((8 - (len(js.encode()) + 8) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js.encode())) + js.encode() + b"".join(blobs))
    os.replace(tmp, path)


def read_safetensors(path):
    """Every tensor of the file as a float64 torch tensor, by name."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = bytearray(raw[8 + n + a: 8 + n + b])
        t = torch.frombuffer(buf, dtype=DT[e["dtype"]]) if b > a else torch.zeros(0, dtype=DT[e["dtype"]])
        out[name] = t.reshape(e["shape"]).double()
    return out
