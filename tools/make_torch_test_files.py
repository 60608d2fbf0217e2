#!/usr/bin/env python3
"""Writes the small PyTorch / safetensors fixtures used by Tests/TorchTests.

Run from the repository root:  python3 tools/make_torch_test_files.py
Needs torch, transformers, safetensors and OpenAI's `clip` package. CI never runs this:
the outputs are committed under Tests/Fixtures/torch/ together with expected.json, which
records for every tensor its name, dtype, shape and the sha256 of its contiguous
row-major little-endian bytes (as the Swift reader must return them).

Everything is seeded, but torch.jit.save embeds a random serialization id, so re-running
changes the bytes of the archives (never the tensors).
"""
import collections
import hashlib
import json
import os
import shutil
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "torch")
OUT = os.path.normpath(OUT)

DTYPE_NAMES = {
    torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.int64: "i64",
    torch.int32: "i32", torch.uint8: "u8", torch.int8: "i8",
}


def describe(t: torch.Tensor) -> dict:
    """What the Swift reader must produce for this tensor (float64 is narrowed to f32, bool is u8)."""
    t = t.detach().contiguous()
    if t.dtype == torch.float64:
        t = t.to(torch.float32)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    if t.dtype == torch.int16:
        t = t.to(torch.int32)
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "sha256": hashlib.sha256(raw).hexdigest()}


def describe_all(named) -> list:
    return [dict(name=k, **describe(v)) for k, v in named]


def state_dict_fixture(expected):
    torch.manual_seed(1)
    base = torch.randn(4, 6)
    sd = collections.OrderedDict()
    sd["base"] = base                                   # owns storage 0
    sd["rows_view"] = base[1:3]                         # shares storage 0 with an offset
    sd["transposed"] = torch.randn(3, 5).t()            # non-contiguous strides (1, 5)
    sd["strided_slice"] = torch.arange(24, dtype=torch.float32).reshape(4, 6)[:, ::2]  # stride 2
    sd["half"] = torch.randn(7).half()
    sd["bf16"] = torch.randn(2, 3).bfloat16()
    sd["long"] = torch.arange(-3, 5, dtype=torch.int64)
    sd["int32"] = torch.tensor([1, -2, 3], dtype=torch.int32)
    sd["bytes"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    sd["int8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["double"] = torch.tensor([0.1, -2.5, 1e-3], dtype=torch.float64)   # narrowed to f32
    sd["mask"] = torch.tensor([True, False, True])                         # read as u8
    sd["scalar"] = torch.tensor(3.25)
    sd["empty"] = torch.zeros(0, 4)
    sd["nested"] = collections.OrderedDict(inner=torch.ones(2, 2), deeper={"leaf": torch.full((3,), 2.0)})
    sd["param"] = torch.nn.Parameter(torch.linspace(0, 1, 5))
    sd["epoch"] = 7                                     # non-tensor entries are skipped
    sd["name"] = "tiny"
    torch.save(sd, os.path.join(OUT, "state_dict.pt"))
    flat = [("base", base), ("rows_view", sd["rows_view"]), ("transposed", sd["transposed"]),
            ("strided_slice", sd["strided_slice"]), ("half", sd["half"]), ("bf16", sd["bf16"]),
            ("long", sd["long"]), ("int32", sd["int32"]), ("bytes", sd["bytes"]), ("int8", sd["int8"]),
            ("double", sd["double"]), ("mask", sd["mask"]), ("scalar", sd["scalar"]), ("empty", sd["empty"]),
            ("nested.inner", sd["nested"]["inner"]), ("nested.deeper.leaf", sd["nested"]["deeper"]["leaf"]),
            ("param", sd["param"])]
    expected["state_dict.pt"] = {"kind": "torchZip", "tensors": describe_all(flat)}


def big_endian_fixture(expected):
    """torch cannot write big-endian files on this machine: rewrite a little-endian save by hand."""
    torch.manual_seed(2)
    sd = {"a": torch.randn(3, 2), "b": torch.arange(5, dtype=torch.float32)}
    tmp = os.path.join(OUT, "_le.pt")
    torch.save(sd, tmp)
    dst = os.path.join(OUT, "big_endian.pt")
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:   # every storage here is float32
                data = b"".join(struct.pack(">f", x) for x in struct.unpack("<%df" % (len(data) // 4), data))
            out.writestr(info.filename, data)
    os.remove(tmp)
    expected["big_endian.pt"] = {"kind": "torchZip", "tensors": describe_all(sd.items())}


def gpt2_fixtures(expected):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(3)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16)).eval()
    sd = model.state_dict()

    folder = os.path.join(OUT, "hf-gpt2-bin")
    os.makedirs(folder, exist_ok=True)
    model.config.to_json_file(os.path.join(folder, "config.json"))
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))     # what save_pretrained did before safetensors
    expected["hf-gpt2-bin/pytorch_model.bin"] = {"kind": "torchZip", "tensors": describe_all(sd.items())}

    folder = os.path.join(OUT, "hf-gpt2-safetensors")
    model.save_pretrained(folder)                                 # model.safetensors (drops the tied lm_head)
    with open(os.path.join(folder, "vocab.json"), "w") as f:      # a tokenizer file for HFModelFolder.files
        json.dump({"a": 0, "b": 1}, f)
    from safetensors.torch import load_file
    st = load_file(os.path.join(folder, "model.safetensors"))
    expected["hf-gpt2-safetensors/model.safetensors"] = {
        "kind": "safetensors", "tensors": describe_all(sorted(st.items(), key=lambda kv: offsets(folder, kv[0])))}

    folder = os.path.join(OUT, "hf-gpt2-sharded")
    model.save_pretrained(folder, max_shard_size="8KB")
    index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
    expected["hf-gpt2-sharded"] = {"kind": "safetensors", "names": sorted(index["weight_map"].keys())}


def offsets(folder, name):
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return header[name]["data_offsets"][0]


def clip_fixture(expected):
    """A tiny OpenAI CLIP traced like the released JIT archives (ViT-B-32.pt).

    OpenAI's archives come from torch.jit.trace with forward/encode_image/encode_text, hold
    fp16 weights from clip.model.convert_weights (LayerNorms and embeddings stay fp32) and carry
    the int64 buffers input_resolution, context_length and vocab_size that clip.load() reads.
    CLIP's VisionTransformer fixes heads = width // 64, so a 32-wide vision tower is built directly.
    """
    from clip.model import CLIP, VisionTransformer, convert_weights
    torch.manual_seed(4)
    m = CLIP(embed_dim=32, image_resolution=16, vision_layers=1, vision_width=64, vision_patch_size=8,
             context_length=8, vocab_size=100, transformer_width=32, transformer_heads=2, transformer_layers=1)
    m.visual = VisionTransformer(input_resolution=16, patch_size=8, width=32, layers=1, heads=2, output_dim=32)
    for key, value in [("input_resolution", 16), ("context_length", 8), ("vocab_size", 100)]:
        if hasattr(m, key):
            delattr(m, key)
        m.register_buffer(key, torch.tensor(value))
    m.initialize_parameters()
    convert_weights(m)
    m.eval()
    image = torch.randn(1, 3, 16, 16).half()
    text = torch.randint(0, 100, (1, 8))
    traced = torch.jit.trace_module(m, {"forward": (image, text), "encode_image": (image,), "encode_text": (text,)})
    path = os.path.join(OUT, "clip_tiny_jit.pt")
    torch.jit.save(traced, path)
    expected["clip_tiny_jit.pt"] = {"kind": "torchScript", "tensors": describe_all(traced.state_dict().items())}


def legacy_fixture(expected):
    torch.save({"a": torch.ones(2)}, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)
    expected["legacy.pt"] = {"error": "legacy"}


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/clipcap-pwned",))


def hostile_fixture(expected):
    torch.save({"weight": torch.ones(2), "payload": Evil()}, os.path.join(OUT, "hostile.pt"))
    expected["hostile.pt"] = {"error": "posix.system"}


def text_fixtures(expected):
    with open(os.path.join(OUT, "lfs_pointer.pt"), "w") as f:
        f.write("version https://git-lfs.github.com/spec/v1\n"
                "oid sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904e1dd9b6f7ea5f1b8e1a1a1a1\n"
                "size 351454802\n")
    with open(os.path.join(OUT, "download_page.pt"), "w") as f:
        f.write("<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in.</body></html>\n")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    expected = {}
    state_dict_fixture(expected)
    big_endian_fixture(expected)
    gpt2_fixtures(expected)
    clip_fixture(expected)
    legacy_fixture(expected)
    hostile_fixture(expected)
    text_fixtures(expected)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {OUT}: {total} bytes")


if __name__ == "__main__":
    main()
