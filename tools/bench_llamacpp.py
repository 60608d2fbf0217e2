#!/usr/bin/env python3
"""GPT-2 decode: llama.cpp vs clipcap on the SAME full-size GPT-2 weights, in one invocation.

    python3 tools/bench_llamacpp.py --model-dir /work/bench-models/full --ccm /work/bench-models/full-auto.ccm \
        --image IMG --llama-cpp LLAMA_DIR [--int8-ccm FULL_INT8.ccm] [--threads 2] [--runs 5] [--tokens 20]

LLAMA_DIR is a llama.cpp source tree built with `cmake -B build -DGGML_NATIVE=ON && cmake
--build build --target llama-bench llama-completion` (the llama-cpp-python sdist on PyPI carries one in
vendor/llama.cpp). Its `gguf-py` writes the GGUF files; nothing is downloaded.

The ClipCap GPT-2 (from tools/make_fullsize_model.py's folder) is written as GGUF files, once,
into --work: architecture `gpt2`, the Chinese WordPiece vocabulary as llama.cpp's `bert`
tokenizer, tensors named and laid out as llama.cpp's own converter writes them, in f32 (the
precision of our file's GPT-2), f16 and q8_0 (llama.cpp's int8, set against our int8 file).

llama-bench then measures, with --threads threads:
  - prefill: a 10-token prompt (`-p 10`), against our prefill of the 10 prefix vectors;
  - decode: --tokens tokens generated after a 10-token context (`-n T -d 10`), against our
    cached greedy decode (`clipcapctl bench`, ms_per_token).
llama.cpp's figures exclude sampling and detokenisation; ours include the argmax.
The loaded model's parameter count is checked against the PyTorch GPT-2's, and when llama.cpp's
`llama-completion` target is built too, the f32 GGUF's greedy continuation of a fixed prompt is
compared with Hugging Face's (same tokens: the same model). llama.cpp takes token ids, not the image prefix, so only the GPT-2
phases are compared (the image encoder needs a multimodal projector llama.cpp has no type for).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_common import add_shared_arguments, ours_bench  # noqa: E402

PREFIX_TOKENS = 10


def gguf_tensors(gpt2):
    """(llama.cpp name, float32 array in PyTorch's [out][in] order) for every GPT-2 tensor.
    HF's Conv1D stores [in][out]; llama.cpp's converter transposes those (gguf-py then writes the
    dims reversed, so ggml sees ne0 = in)."""
    state = {k: v.detach().float().numpy() for k, v in gpt2.state_dict().items()}
    names = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
             "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}
    per_layer = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
                 "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for key, value in state.items():  # the transformer's: lm_head is tied to wte (llama.cpp falls back to token_embd)
        if key.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers
        if key in names:
            yield names[key], value
            continue
        _, layer, rest = key.split(".", 2)
        part, kind = rest.rsplit(".", 1)
        if kind == "weight" and value.ndim == 2:
            value = value.T
        yield f"blk.{layer}.{per_layer[part]}.{kind}", np.ascontiguousarray(value)


def write_gguf(gguf, gpt2, vocab, path, dtype):
    """Writes one GGUF file; matrices in `dtype` ('f32', 'f16' or 'q8_0'), vectors in f32."""
    cfg = gpt2.config
    w = gguf.GGUFWriter(path + ".tmp", "gpt2")
    w.add_block_count(cfg.n_layer)
    w.add_context_length(cfg.n_positions)
    w.add_embedding_length(cfg.n_embd)
    w.add_feed_forward_length(4 * cfg.n_embd)
    w.add_head_count(cfg.n_head)
    w.add_layer_norm_eps(cfg.layer_norm_epsilon)
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype])
    # The seed's vocabulary is BERT WordPiece: llama.cpp's `bert` tokenizer, in its phantom-space form.
    control = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    types = [gguf.TokenType.CONTROL if t in control else gguf.TokenType.NORMAL for t in vocab]
    tokens = [t if t in control else (t[2:] if t.startswith("##") else "\u2581" + t) for t in vocab]
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_type_count(1)
    for name, value in gguf_tensors(gpt2):
        if value.ndim == 2 and dtype == "f16":
            w.add_tensor(name, value.astype(np.float16))
        elif value.ndim == 2 and dtype == "q8_0":
            q = gguf.quants.quantize(value, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, value.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(path + ".tmp", path)  # never a half-written model file


def export(model_dir, llama_dir, work, dtypes):
    """Writes gpt2-DTYPE.gguf for each dtype (once); returns ({dtype: path}, PyTorch parameter
    count, the PyTorch ClipCap model, the vocabulary)."""
    sys.path.insert(0, os.path.join(llama_dir, "gguf-py"))
    import gguf
    import make_fullsize_model as mfm

    _, _, model, vocab = mfm.load_models(model_dir)
    vocab = [t for t in vocab if t != ""][: model.gpt2.config.vocab_size]
    gpt2 = model.gpt2.transformer
    gpt2.config = model.gpt2.config
    n_params = sum(p.numel() for p in gpt2.parameters())
    os.makedirs(work, exist_ok=True)
    paths = {}
    for dtype in dtypes:
        paths[dtype] = os.path.join(work, f"gpt2-{dtype}.gguf")
        if not os.path.exists(paths[dtype]):
            print(f"writing {paths[dtype]}", file=sys.stderr, flush=True)
            write_gguf(gguf, gpt2, vocab, paths[dtype], dtype)
    return paths, n_params, model, vocab


def check_greedy(llama_dir, path, model, vocab, threads, new_tokens=8):
    """Greedy continuation of a fixed prompt by llama.cpp (`llama-completion`, if built) and by
    Hugging Face's GPT-2: the same tokens mean the GGUF holds the same model. Returns
    (same or None when llama-completion is missing, llama.cpp's text, Hugging Face's tokens)."""
    exe = os.path.join(llama_dir, "build", "bin", "llama-completion")
    if not os.access(exe, os.X_OK):
        return None, "", []
    import torch
    prompt = "一个男人在"
    cmd = [exe, "-m", path, "-p", prompt, "-n", str(new_tokens), "--temp", "0", "-no-cnv", "--no-warmup",
           "-t", str(threads), "--no-display-prompt"]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    # llama.cpp's `bert` tokenizer wraps the prompt in [CLS] ... [SEP], as BertTokenizer does.
    index = {t: i for i, t in enumerate(vocab)}
    ids = [index["[CLS]"]] + [index[c] for c in prompt] + [index["[SEP]"]]
    with torch.inference_mode():
        out = model.gpt2.generate(torch.tensor([ids]), max_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    words = [vocab[i] for i in out[0, len(ids):].tolist()]
    return text.split() == [w[2:] if w.startswith("##") else w for w in words], text, words


def llama_bench(exe, path, threads, runs, tokens):
    """(prefill ms for the 10-token prompt, decode ms/token, model parameter count, command)."""
    cmd = [exe, "-m", path, "-t", str(threads), "-r", str(runs), "-p", str(PREFIX_TOKENS), "-n", str(tokens),
           "-d", str(PREFIX_TOKENS), "-o", "json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    results = json.loads(out)
    prefill = next(r for r in results if r["n_prompt"] > 0)
    decode = next(r for r in results if r["n_gen"] > 0)
    return (prefill["avg_ns"] / 1e6, decode["avg_ns"] / 1e6 / decode["n_gen"], decode["model_n_params"],
            " ".join(cmd))


def ours(exe, ccm, image, threads, runs, tokens, backend):
    """Our prefill and decode medians (greedy, one candidate) and the command."""
    result, cmd = ours_bench(exe, ccm, image, backend, threads, runs, tokens, 1)
    return result["phases"]["prefill"]["median"], result["phases"]["ms_per_token"]["median"], cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_arguments(ap)
    ap.add_argument("--int8-ccm", help="our int8 file of the same weights (set against llama.cpp's q8_0)")
    ap.add_argument("--llama-cpp", required=True, help="llama.cpp source tree with build/bin/llama-bench")
    ap.add_argument("--work", default="/tmp/clipcap-gguf", help="folder for the GGUF files")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    exe = os.path.join(args.llama_cpp, "build", "bin", "llama-bench")
    if not os.access(exe, os.X_OK):
        sys.exit(f"error: {exe} not found: build llama.cpp first (see --help)")
    dtypes = ["f32", "f16"] + (["q8_0"] if args.int8_ccm else [])
    paths, n_params, model, vocab = export(args.model_dir, args.llama_cpp, args.work, dtypes)
    same, llama_text, hf_words = check_greedy(args.llama_cpp, paths["f32"], model, vocab, args.threads)
    rows, commands = [], []
    ours_float = ours(args.clipcapctl, args.ccm, args.image, args.threads, args.runs, args.tokens, "blas")
    ours_int8 = ours(args.clipcapctl, args.int8_ccm, args.image, args.threads, args.runs, args.tokens, "int8") \
        if args.int8_ccm else None
    for dtype in dtypes:
        prefill, decode, params, cmd = llama_bench(exe, paths[dtype], args.threads, args.runs, args.tokens)
        if params != n_params:
            sys.exit(f"error: llama.cpp loaded {params} parameters from {paths[dtype]}, PyTorch's GPT-2 has {n_params}")
        mine = ours_int8 if dtype == "q8_0" else ours_float
        label = "clipcap int8" if dtype == "q8_0" else "clipcap blas (f32)"
        rows.append((dtype, prefill, decode, label, mine[0], mine[1]))
        commands.append(cmd)
    load = os.getloadavg()[0]
    print(f"\nllama.cpp vs clipcap, GPT-2 {n_params / 1e6:.1f} M parameters, {args.threads} threads, "
          f"{args.runs} runs, load {load:.1f}; x = llama.cpp / ours (above 1: we are faster)")
    print("| llama.cpp weights | prefill 10 (ms) | decode (ms/token) | ours | prefill (ms) | decode (ms/token) "
          "| x prefill | x decode |\n| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for dtype, lp, ld, label, op, od in rows:
        print(f"| {dtype} | {lp:.2f} | {ld:.2f} | {label} | {op:.2f} | {od:.2f} | {lp / op:.2f} | {ld / od:.2f} |")
    if same is None:
        print("greedy check skipped: build llama.cpp's llama-completion target to compare its tokens with Hugging Face's")
    else:
        print(f"greedy continuation of a fixed prompt, f32 GGUF vs Hugging Face: identical {same} "
              f"(llama.cpp: {llama_text}; HF: {' '.join(hf_words)})")
    print("commands:\n  " + "\n  ".join(commands + [ours_float[2]] + ([ours_int8[2]] if ours_int8 else [])))
    if args.json:
        with open(args.json + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "load": load, "threads": args.threads}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
