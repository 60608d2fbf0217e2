#!/usr/bin/env python3
"""ONNX Runtime vs clipcap on the SAME full-size weights and the SAME work, in one invocation.

    pip install onnxruntime onnx      # a development tool: CI never runs it
    python3 tools/bench_onnx.py --model-dir /work/bench-models/full --ccm /work/bench-models/full-auto.ccm \
        --image IMG [--threads 2] [--runs 5] [--tokens 20] [--candidates 5] [--clipcapctl PATH]

The PyTorch models of tools/make_fullsize_model.py are exported to ONNX (fp32; the CLIP weights
hold their fp16-rounded values, as in the .ccm) under --work:

- ``clip.onnx``: ``clip_model.encode_image`` on [1, 3, 224, 224];
- ``mapper.onnx``: the MLP mapper, CLIP embedding -> [1, 10, 768] prefix;
- ``gpt2.onnx``: one GPT-2 call with an explicit KV cache (inputs_embeds [B, T, 768], past keys
  and values [L, B, H, P, 64]; returns the last position's logits and the grown cache). It is
  written here from the Hugging Face weights (the HF module's cache classes do not export), and
  checked against HF's logits before anything is timed.

ONNX Runtime runs with ``intra_op_num_threads = --threads``, ``inter_op_num_threads = 1``,
sequential execution and all graph optimisations. Timed phases (medians of --runs after a
warm-up): CLIP encode; mapper; prefill (10 prefix rows); greedy decode per token (B = 1);
JPEG -> greedy caption, warm (PIL decode + CLIP preprocessing + the above, [UNK] and [SEP]
banned so every run decodes --tokens tokens); the seed loop (--candidates rows decoded as one
batch over the cache, top-p 0.8 sampling). clipcap's figures come from ``clipcapctl bench
--backends blas --json`` (greedy and --candidates) run in the same invocation. The greedy
token ids of both ([UNK] banned, stop at [SEP], at most --tokens) are compared.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_common import add_shared_arguments, ours_bench, run_json  # noqa: E402

UNK, SEP = 100, 102
TOP_P = 0.8


def ms(t0, t1):
    return (t1 - t0) * 1e3


def med(values):
    return statistics.median(values) if values else float("nan")


def export(model_dir, work, threads):
    """Writes clip.onnx, mapper.onnx and gpt2.onnx (once); returns (preprocess, vocab size, layers, heads)."""
    import torch
    import make_fullsize_model as mfm

    clip_model, preprocess, model, _ = mfm.load_models(model_dir, threads)
    gpt2 = model.gpt2
    cfg = gpt2.config
    layers, heads, width = cfg.n_layer, cfg.n_head, cfg.n_embd
    os.makedirs(work, exist_ok=True)

    class Visual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.clip = clip_model

        def forward(self, x):
            return self.clip.encode_image(x)

    class Mapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, emb):
            return self.m.prefix(emb)

    class GPT2Step(torch.nn.Module):
        """GPT-2 over an explicit cache: the HF weights, the HF arithmetic (gelu_new, pre-norm)."""

        def __init__(self):
            super().__init__()
            self.t = gpt2.transformer
            self.head = gpt2.lm_head

        def forward(self, x, past_k, past_v):
            b, t, _ = x.shape
            p = past_k.shape[3]
            pos = torch.arange(p, p + t).unsqueeze(0)
            h = x + self.t.wpe(pos)
            ks, vs = [], []
            hd = width // heads
            mask = torch.ones(t, p + t, dtype=torch.bool).tril(diagonal=p)
            for i, blk in enumerate(self.t.h):
                a = blk.ln_1(h)
                qkv = blk.attn.c_attn(a)
                q, k, v = qkv.split(width, dim=2)
                q = q.view(b, t, heads, hd).transpose(1, 2)
                k = torch.cat([past_k[i], k.view(b, t, heads, hd).transpose(1, 2)], dim=2)
                v = torch.cat([past_v[i], v.view(b, t, heads, hd).transpose(1, 2)], dim=2)
                ks.append(k)
                vs.append(v)
                att = (q @ k.transpose(-1, -2)) / (hd ** 0.5)
                att = att.masked_fill(~mask, float("-inf")).softmax(-1)
                o = (att @ v).transpose(1, 2).reshape(b, t, width)
                h = h + blk.attn.c_proj(o)
                h = h + blk.mlp(blk.ln_2(h))
            h = self.t.ln_f(h[:, -1, :])
            return self.head(h), torch.stack(ks), torch.stack(vs)

    paths = {n: os.path.join(work, n + ".onnx") for n in ("clip", "mapper", "gpt2")}
    with torch.inference_mode():
        step = GPT2Step().eval()
        # Check the hand-written step against Hugging Face's model before trusting it.
        x = torch.randn(1, 10, width) * 0.1
        empty = torch.zeros(layers, 1, heads, 0, width // heads)
        ours, k, v = step(x, empty, empty)
        ref = gpt2(inputs_embeds=x).logits[:, -1, :]
        err = float((ours - ref).abs().max())
        if err > 1e-3:
            raise SystemExit(f"the exported GPT-2 step differs from Hugging Face's by {err}")
        y = torch.randn(1, 1, width) * 0.1
        ours2, _, _ = step(y, k, v)
        ref2 = gpt2(inputs_embeds=torch.cat([x, y], dim=1)).logits[:, -1, :]
        err2 = float((ours2 - ref2).abs().max())
        if err2 > 1e-3:
            raise SystemExit(f"the exported GPT-2 cached step differs from Hugging Face's by {err2}")
        print(f"onnx: GPT-2 step matches Hugging Face (max |diff| {max(err, err2):.2e})", flush=True)
        if not os.path.exists(paths["clip"]):
            torch.onnx.export(Visual().eval(), torch.randn(1, 3, 224, 224), paths["clip"], opset_version=17,
                              input_names=["pixels"], output_names=["embedding"], dynamo=False)
        if not os.path.exists(paths["mapper"]):
            torch.onnx.export(Mapper().eval(), torch.randn(1, clip_model.visual.output_dim), paths["mapper"],
                              opset_version=17, input_names=["embedding"], output_names=["prefix"], dynamo=False)
        if not os.path.exists(paths["gpt2"]):
            torch.onnx.export(step, (x, empty, empty), paths["gpt2"], opset_version=17,
                              input_names=["x", "past_k", "past_v"], output_names=["logits", "k", "v"],
                              dynamic_axes={"x": {0: "B", 1: "T"}, "past_k": {1: "B", 3: "P"},
                                            "past_v": {1: "B", 3: "P"}, "logits": {0: "B"},
                                            "k": {1: "B", 3: "PT"}, "v": {1: "B", 3: "PT"}},
                              dynamo=False)
    wte = gpt2.transformer.wte.weight.detach().numpy().copy()
    return preprocess, wte, layers, heads, width // heads, paths


class OrtRunner:
    def __init__(self, paths, threads, preprocess, wte, layers, heads, head_dim):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.clip = ort.InferenceSession(paths["clip"], opts, providers=["CPUExecutionProvider"])
        self.mapper = ort.InferenceSession(paths["mapper"], opts, providers=["CPUExecutionProvider"])
        self.gpt2 = ort.InferenceSession(paths["gpt2"], opts, providers=["CPUExecutionProvider"])
        self.preprocess, self.wte = preprocess, wte
        self.layers, self.heads, self.head_dim = layers, heads, head_dim

    def empty_cache(self, b):
        z = np.zeros((self.layers, b, self.heads, 0, self.head_dim), dtype=np.float32)
        return z, z

    def encode(self, path):
        from PIL import Image
        t0 = time.perf_counter()
        img = Image.open(path)
        img.load()
        img = img.convert("RGB")
        x = self.preprocess(img).unsqueeze(0).numpy()
        t1 = time.perf_counter()
        emb = self.clip.run(None, {"pixels": x})[0]
        t2 = time.perf_counter()
        prefix = self.mapper.run(None, {"embedding": emb})[0]
        t3 = time.perf_counter()
        return prefix, {"pre": ms(t0, t1), "clip": ms(t1, t2), "mapper": ms(t2, t3)}

    def step(self, x, k, v):
        return self.gpt2.run(None, {"x": x, "past_k": k, "past_v": v})

    def caption_ids(self, path, tokens):
        """Greedy ids as `clipcapctl caption` chooses them: [UNK] banned, stop at [SEP]."""
        prefix, _ = self.encode(path)
        k, v = self.empty_cache(1)
        logits, k, v = self.step(prefix, k, v)
        ids = []
        while len(ids) < tokens:
            logits[:, UNK] = -np.inf
            tok = int(np.argmax(logits[0]))
            if tok == SEP:
                break
            ids.append(tok)
            logits, k, v = self.step(self.wte[[tok]][None, :, :], k, v)
        return ids

    def greedy(self, path, tokens):
        t0 = time.perf_counter()
        prefix, t = self.encode(path)
        k, v = self.empty_cache(1)
        p0 = time.perf_counter()
        logits, k, v = self.step(prefix, k, v)
        p1 = time.perf_counter()
        ids, steps = [], []
        while True:
            logits[:, UNK] = -np.inf
            logits[:, SEP] = -np.inf
            tok = int(np.argmax(logits[0]))
            ids.append(tok)
            if len(ids) >= tokens:
                break
            s0 = time.perf_counter()
            logits, k, v = self.step(self.wte[[tok]][None, :, :], k, v)
            steps.append(ms(s0, time.perf_counter()))
        t["prefill"] = ms(p0, p1)
        t["ms_per_token"] = sum(steps) / max(len(steps), 1)
        t["total"] = ms(t0, time.perf_counter())
        return ids, t

    def seed_loop(self, path, candidates, tokens, rng):
        t0 = time.perf_counter()
        prefix, _ = self.encode(path)
        k, v = self.empty_cache(1)
        logits, k, v = self.step(prefix, k, v)
        logits = np.repeat(logits, candidates, axis=0)
        k, v = np.repeat(k, candidates, axis=1), np.repeat(v, candidates, axis=1)
        for step in range(tokens):
            logits[:, UNK] = -np.inf
            logits[:, SEP] = -np.inf
            nxt = [top_p_sample(row, rng) for row in logits]
            if step + 1 == tokens:
                break
            logits, k, v = self.step(self.wte[nxt][:, None, :], k, v)
        return ms(t0, time.perf_counter())


def top_p_sample(logits, rng):
    z = logits - logits.max()
    p = np.exp(z)
    p /= p.sum()
    order = np.argsort(-p)
    cum = np.cumsum(p[order])
    keep = order[: int(np.searchsorted(cum, TOP_P)) + 1]
    q = p[keep] / p[keep].sum()
    return int(keep[rng.choice(len(keep), p=q)])


def ours_ids(exe, ccm, image, threads, tokens):
    cmd = [exe, "caption", image, "--model", ccm, "--threads", str(threads), "--max-tokens", str(tokens), "--json"]
    return run_json(cmd)[-1]["token_ids"][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_arguments(ap)
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--work", default="/tmp/clipcap-onnx", help="folder for the exported .onnx files")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    preprocess, wte, layers, heads, head_dim, paths = export(args.model_dir, args.work, args.threads)
    runner = OrtRunner(paths, args.threads, preprocess, wte, layers, heads, head_dim)
    runner.greedy(args.image, args.tokens)  # warm-up
    samples = {}
    for _ in range(args.runs):
        _, t = runner.greedy(args.image, args.tokens)
        for key, value in t.items():
            samples.setdefault(key, []).append(value)
    rng = np.random.default_rng(1)
    runner.seed_loop(args.image, args.candidates, args.tokens, rng)
    samples["seed"] = [runner.seed_loop(args.image, args.candidates, args.tokens, rng) for _ in range(args.runs)]
    o = {k: med(v) for k, v in samples.items()}

    greedy, cmd1 = ours_bench(args.clipcapctl, args.ccm, args.image, "blas", args.threads, args.runs, args.tokens, 1)
    seed, cmd2 = ours_bench(args.clipcapctl, args.ccm, args.image, "blas", args.threads, args.runs, args.tokens,
                            args.candidates)
    p = greedy["phases"]
    rows = [
        ("CLIP encode (ms)", o["clip"], p["image_encoder"]["median"]),
        ("mapper (ms)", o["mapper"], p["mapper"]["median"]),
        ("GPT-2 prefill, 10 rows (ms)", o["prefill"], p["prefill"]["median"]),
        ("GPT-2 decode (ms/token)", o["ms_per_token"], p["ms_per_token"]["median"]),
        ("JPEG -> greedy caption, warm (ms)", o["total"], p["total"]["median"]),
        (f"seed loop: {args.candidates} cand., top-p {TOP_P}, {args.tokens} tok (ms)", o["seed"],
         seed["phases"]["total"]["median"]),
    ]
    same = None
    try:
        same = ours_ids(args.clipcapctl, args.ccm, args.image, args.threads, args.tokens) == \
            runner.caption_ids(args.image, args.tokens)
    except (subprocess.CalledProcessError, KeyError, IndexError) as e:
        print(f"note: could not compare token ids ({e})", file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"\nONNX Runtime {__import__('onnxruntime').__version__} vs clipcap blas, {args.threads} threads, "
          f"{args.runs} runs, load {load:.1f}; x = ORT / ours (above 1: we are faster)")
    print("| phase | ONNX Runtime | clipcap blas | x |\n| --- | ---: | ---: | ---: |")
    for name, a, b in rows:
        print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
    print(f"greedy token ids identical: {same}")
    print(f"ours: {cmd1}\n      {cmd2}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "same_ids": same, "load": load}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
