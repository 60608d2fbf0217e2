#!/usr/bin/env python3
"""Builds a FULL-SIZE ClipCap-Chinese model (MLP mapper) with random weights, for benchmarks.

Nothing here is committed: the files are ~1.3 GB. Everything comes from fixed seeds, so two runs
give the same tensors (the TorchScript archive's bytes differ: torch.jit.save embeds a random id).

    python3 tools/make_fullsize_model.py [--out /work/bench-models] [--seed-dir /work/shared/seed]
                                         [--clipcapctl .build-perfbench/release/clipcapctl]

Writes into OUT/full/:
  ViT-B-32-random.pt   OpenAI CLIP ViT-B/32 (visual AND text tower, like ViT-B-32.pt) traced with
                       torch.jit.trace, then .half(): the layout of OpenAI's shipped archive
  clipcap-zh-mlp.pt    torch.save(state_dict) of ClipCap-Chinese's ClipCaptionModel: keys
                       clip_project.model.{0,2}.* (512 -> 3840 -> Tanh -> 7680, prefix 10) and
                       gpt2.* (GPT2LMHeadModel from the seed's config: 12 layers, 768, vocab 21128)
  gpt2/                the seed's config.json and vocab.txt (the GPT2_DIR of `clipcapctl convert`)
  model_stats.json     seeds, weight scales, file sizes, and how peaked the logits are
and, unless --no-convert, OUT/full.ccm via `clipcapctl convert` with its defaults (uncompressed;
`--dtype auto`: CLIP's matrices f16 as in the archive, the rest f32, 677 MiB; the first two
sessions' f32 file is `convert ... --dtype f32`, 845 MiB).

Weight scaling (PyTorch's default init gives GPT-2 logits with std ~0.55 over 21128 tokens, i.e.
a near-uniform distribution where top-p 0.8 keeps most of the vocabulary):
  * GPT-2 token embeddings (tied LM head) ~ N(0, 0.1): with ln_f's ~unit-variance output the
    logits have std ~0.1*sqrt(768) ~ 2.8 and span ~25 units; over 20 greedy steps on 3 seed
    photos the top token has median probability 0.51 (0.04-0.90) and the top-p 0.8 nucleus a
    median of 184 tokens (1-613): peaked, not one-hot, not uniform. Measured figures go to model_stats.json. (Std 0.25 made
    every step one-hot, top-1 probability 0.9999: the tied head then scores the token just fed
    in far above the rest, because its embedding's self dot product grows with the square of
    the std while the other logits grow linearly);
  * GPT-2 position embeddings ~ N(0, 0.1); every GPT-2 matrix ~ N(0, 1/sqrt(fan_in)) (variance
    preserving, so every layer changes the residual stream and attention is not flat);
  * mapper matrices ~ N(0, 1.5/sqrt(fan_in)) (the prefix depends clearly on the image);
  * every bias and LayerNorm parameter of all three parts gets N(0, 0.1) noise;
  * CLIP keeps clip.model's own initialisation (plus that noise) and is rounded to fp16, so the
    fp16 archive and the fp32 PyTorch reference (clip.load(jit=False).float()) hold equal values.
The GPT-2 and mapper weights stay fp32 (as the seed's checkpoints are).
"""
import argparse
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import time

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX_LEN = 10
CLIP_EMBED = 512
CLIP_SEED = 1234
GPT2_SEED = 4321
NOISE_SEED = 7
WTE_STD = 0.1
WPE_STD = 0.1
MAPPER_GAIN = 1.5
NOISE = 0.1
CLIP_FILE = "ViT-B-32-random.pt"
CHECKPOINT_FILE = "clipcap-zh-mlp.pt"


class MLP(nn.Module):
    """ClipCap-Chinese `MLP`: Linear -> Tanh -> Linear (keys model.0, model.2)."""

    def __init__(self, sizes):
        super().__init__()
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class ClipCaptionModel(nn.Module):
    """ClipCap-Chinese `ClipCaptionModel` with the MLP mapper (keys gpt2.*, clip_project.*)."""

    def __init__(self, gpt2_config, prefix_len=PREFIX_LEN, clip_size=CLIP_EMBED):
        super().__init__()
        from transformers import GPT2LMHeadModel
        self.gpt2 = GPT2LMHeadModel(gpt2_config)
        self.prefix_size = gpt2_config.n_embd
        self.prefix_len = prefix_len
        self.clip_project = MLP((clip_size, (self.prefix_size * prefix_len) // 2, self.prefix_size * prefix_len))

    def prefix(self, clip_embeds):
        """[B, 512] CLIP embeddings -> [B, prefix_len, 768] GPT-2 input embeddings."""
        return self.clip_project(clip_embeds).view(-1, self.prefix_len, self.prefix_size)


def gpt2_config(gpt2_dir):
    """The seed's GPT-2 config with dropout off (inference)."""
    from transformers import GPT2Config
    cfg = GPT2Config.from_pretrained(gpt2_dir)
    cfg.attn_pdrop = cfg.embd_pdrop = cfg.resid_pdrop = 0.0
    return cfg


def load_models(model_dir, threads=None):
    """Loads the PyTorch side exactly as a user would: clip.load(jit=False) on the TorchScript
    archive (fp16 widened to fp32), and the ClipCap state dict into ClipCaptionModel (strict).
    Returns (clip_model, preprocess, clipcap_model, vocab list)."""
    import clip
    if threads:
        torch.set_num_threads(threads)
    clip_model, preprocess = clip.load(os.path.join(model_dir, CLIP_FILE), device="cpu", jit=False)
    clip_model = clip_model.float().eval()
    gdir = os.path.join(model_dir, "gpt2")
    model = ClipCaptionModel(gpt2_config(gdir))
    state = torch.load(os.path.join(model_dir, CHECKPOINT_FILE), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    with open(os.path.join(gdir, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")
    return clip_model, preprocess, model, vocab


def perturb(module, generator, noise=NOISE):
    """Biases and LayerNorm parameters get noise (PyTorch initialises many to exactly 0 or 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or p.dim() == 1:
                p.add_(noise * torch.randn(p.shape, generator=generator))


def make_clip(generator):
    import clip.model
    torch.manual_seed(CLIP_SEED)
    model = clip.model.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                            vision_patch_size=32, context_length=77, vocab_size=49408, transformer_width=512,
                            transformer_heads=8, transformer_layers=12)
    perturb(model, generator)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    # OpenAI's archives carry these three entries (build_model deletes them on load).
    for name, value in (("input_resolution", 224), ("context_length", 77), ("vocab_size", 49408)):
        if hasattr(model, name):
            delattr(model, name)
        model.register_buffer(name, torch.tensor(value))
    return model.eval()


def save_clip_archive(model, path):
    """Trace the whole CLIP (image and text towers) as OpenAI did, halve it, save TorchScript."""
    image = torch.zeros(1, 3, 224, 224)
    text = torch.zeros(1, 77, dtype=torch.long)
    with torch.no_grad():
        traced = torch.jit.trace(copy.deepcopy(model), (image, text), check_trace=False)
    traced = traced.half()
    tmp = path + ".tmp"
    torch.jit.save(traced, tmp)
    os.replace(tmp, path)


def make_clipcap(gdir, generator):
    torch.manual_seed(GPT2_SEED)
    model = ClipCaptionModel(gpt2_config(gdir))
    lm = model.gpt2
    with torch.no_grad():
        lm.transformer.wte.weight.normal_(0.0, WTE_STD, generator=generator)
        lm.transformer.wpe.weight.normal_(0.0, WPE_STD, generator=generator)
        for name, p in lm.transformer.h.named_parameters():
            if p.dim() == 2:  # Conv1D: [in, out]
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[0]), generator=generator)
        for name, p in model.clip_project.named_parameters():
            if p.dim() == 2:  # Linear: [out, in]
                p.normal_(0.0, MAPPER_GAIN / math.sqrt(p.shape[1]), generator=generator)
    perturb(lm.transformer, generator)
    perturb(model.clip_project, generator)
    return model.eval()


@torch.no_grad()
def logit_stats(clip_model, preprocess, model, images, steps=20, unk=100, sep=102):
    """How peaked the greedy steps' distributions are, over a few photos."""
    from PIL import Image
    stds, spans, top1, gaps, nucleus = [], [], [], [], []
    captions = {}
    for path in images:
        x = preprocess(Image.open(path).convert("RGB")).unsqueeze(0)
        emb = clip_model.encode_image(x).float()
        out = model.gpt2(inputs_embeds=model.prefix(emb), use_cache=True)
        past, logits, ids = out.cache, out.logits[0, -1], []
        for _ in range(steps):
            logits = logits.clone()
            logits[unk] = -float("inf")
            finite = logits[torch.isfinite(logits)]
            stds.append(float(finite.std()))
            spans.append(float(finite.max() - finite.min()))
            probs = torch.softmax(logits, -1)
            top = torch.topk(probs, 2)
            top1.append(float(top.values[0]))
            gaps.append(float(logits[top.indices[0]] - logits[top.indices[1]]))
            nucleus.append(int((torch.cumsum(torch.sort(probs, descending=True).values, 0) < 0.8).sum()) + 1)
            tok = int(top.indices[0])
            ids.append(tok)
            out = model.gpt2(input_ids=torch.tensor([[tok]]), cache=past, use_cache=True)
            past, logits = out.cache, out.logits[0, -1]
        captions[os.path.basename(path)] = ids

    def summary(v):
        s = sorted(v)
        return {"median": s[len(s) // 2], "min": s[0], "max": s[-1]}
    return {"logit_std": summary(stds), "logit_span": summary(spans), "top1_prob": summary(top1),
            "top1_minus_top2_logit": summary(gaps), "top_p_0.8_nucleus_size": summary(nucleus),
            "greedy_ids_20_no_stop": captions}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="/work/bench-models")
    parser.add_argument("--seed-dir", default=os.environ.get("CLIPCAP_SEED", os.path.join(ROOT, "..", "shared", "seed")))
    parser.add_argument("--clipcapctl", default=os.path.join(ROOT, ".build-perfbench", "release", "clipcapctl"))
    parser.add_argument("--no-convert", action="store_true")
    parser.add_argument("--keep-clip", action="store_true", help="reuse an existing CLIP archive (it only depends on fixed seeds)")
    args = parser.parse_args()
    seed_dir = os.path.abspath(args.seed_dir)
    folder = os.path.join(args.out, "full")
    os.makedirs(folder, exist_ok=True)
    torch.set_num_threads(2)

    gdir = os.path.join(folder, "gpt2")
    os.makedirs(gdir, exist_ok=True)
    for name in ("config.json", "vocab.txt"):
        shutil.copyfile(os.path.join(seed_dir, "pretrained-configs", "gpt2", name), os.path.join(gdir, name))

    if not (args.keep_clip and os.path.exists(os.path.join(folder, CLIP_FILE))):
        t0 = time.time()
        clip_model = make_clip(torch.Generator().manual_seed(NOISE_SEED))
        save_clip_archive(clip_model, os.path.join(folder, CLIP_FILE))
        print(f"CLIP archive written ({time.time() - t0:.1f} s)", flush=True)
        del clip_model

    t0 = time.time()
    model = make_clipcap(gdir, torch.Generator().manual_seed(NOISE_SEED + 1))
    tmp = os.path.join(folder, CHECKPOINT_FILE + ".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, os.path.join(folder, CHECKPOINT_FILE))
    print(f"ClipCap checkpoint written ({time.time() - t0:.1f} s)", flush=True)
    del model

    # Statistics on the model as a user loads it (the archive, not the in-memory tensors).
    clip_model, preprocess, model, _ = load_models(folder)
    images = [os.path.join(seed_dir, "images", "dev", n) for n in sorted(os.listdir(os.path.join(seed_dir, "images", "dev")))][:3]
    stats = logit_stats(clip_model, preprocess, model, images)
    params = {"clip_visual": sum(p.numel() for n, p in clip_model.named_parameters() if n.startswith("visual.")),
              "clip_total": sum(p.numel() for p in clip_model.parameters()),
              "mapper": sum(p.numel() for p in model.clip_project.parameters()),
              "gpt2": sum(p.numel() for p in model.gpt2.parameters())}

    ccm = os.path.join(args.out, "full.ccm")
    convert = None
    if not args.no_convert:
        cmd = [args.clipcapctl, "convert", "--clip", os.path.join(folder, CLIP_FILE),
               "--checkpoint", os.path.join(folder, CHECKPOINT_FILE), "--gpt2", gdir, "-o", ccm]
        print(" ".join(cmd), flush=True)
        t0 = time.time()
        subprocess.run(cmd, check=True)
        convert = {"command": " ".join(cmd), "seconds": round(time.time() - t0, 1)}

    sizes = {}
    for rel in (CLIP_FILE, CHECKPOINT_FILE):
        sizes[rel] = os.path.getsize(os.path.join(folder, rel))
    if os.path.exists(ccm):
        sizes["../full.ccm"] = os.path.getsize(ccm)
    record = {"seeds": {"clip": CLIP_SEED, "gpt2": GPT2_SEED, "noise": NOISE_SEED},
              "scales": {"wte_std": WTE_STD, "wpe_std": WPE_STD, "gpt2_matrix_std": "1/sqrt(fan_in)",
                         "mapper_matrix_std": f"{MAPPER_GAIN}/sqrt(fan_in)", "bias_and_norm_noise": NOISE},
              "parameters": params, "file_bytes": sizes, "convert": convert,
              "stats_images": [os.path.basename(p) for p in images], "logit_stats": stats}
    with open(os.path.join(folder, "model_stats.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(json.dumps({k: record[k] for k in ("parameters", "file_bytes")}, indent=1))
    print(json.dumps({k: v for k, v in stats.items() if k != "greedy_ids_20_no_stop"}, indent=1))


if __name__ == "__main__":
    main()
