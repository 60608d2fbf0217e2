#!/usr/bin/env python3
"""Train the demo ClipCap model (tiny CLIP ViT + MLP mapper + tiny GPT-2) end to end on the
shape world, deterministically, on CPU.

    python3 tools/demo/train.py --out models/demo-src

Steps:
1. Pre-render ``--n-train`` images of world set ``--data-seed`` (random sizes and aspect ratios,
   JPEG at random qualities or PNG) and store their CLIP resize+centre-crop as uint8 in a memmap
   under ``--cache`` (reused if already there). JPEG images go through a real encode/decode so
   training sees compression artifacts; PNG is lossless, so its round trip is skipped.
2. Train all parameters with AdamW (warm-up + cosine), cross-entropy on caption tokens.
3. Evaluate greedy captions on ``--n-eval`` new images (world set ``--eval-seed``).
4. Write ViT-demo.pt (TorchScript CLIP archive), clip-visual-state.pt (CLIP state dict),
   clipcap-demo.pt (ClipCap state dict), gpt2/config.json, gpt2/vocab.txt, demo-model.json,
   then reload the written files and check they caption identically.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing as mp
import os
import random
import re
import sys
import time

# Two OpenMP threads that spin-wait collapse when the cores are shared with other jobs
# (measured: 200 ms/img spinning vs 24 ms/img passive under load); must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_model as dm  # noqa: E402
import world  # noqa: E402
from scoring import format_scores, score  # noqa: E402
from PIL import Image  # noqa: E402

CROP = 224
MAX_TOKENS = 28  # longest caption (26 chars) + [SEP], rounded up


def render_crop(seed: int, index: int):
    """uint8 CLIP crop and caption of one world image, after its file-format round trip."""
    image, caption, fmt, quality = world.make_sample(seed, index)
    if fmt == "jpeg":
        image = Image.open(io.BytesIO(world.encode(image, fmt, quality)))
        image.load()
    return dm.crop_uint8(image, CROP), caption


def _render_chunk(job):
    seed, start, stop = job
    crops, caps = [], []
    for i in range(start, stop):
        c, cap = render_crop(seed, i)
        crops.append(c)
        caps.append(cap)
    return start, np.stack(crops), caps


def load_lines(path: str, n: int):
    """The ``n`` lines of a cached caption list, or None when it is missing or of another size."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines if len(lines) == n else None


def save_lines(path: str, lines) -> None:
    """Writes a caption list atomically (temporary file, then rename)."""
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    os.replace(path + ".tmp", path)


def build_cache(cache_dir: str, seed: int, n: int, workers: int):
    """(memmap uint8 [n, 224, 224, 3], captions) for world set ``seed``; rendered once, then reused."""
    os.makedirs(cache_dir, exist_ok=True)
    stem = os.path.join(cache_dir, f"world-s{seed}-n{n}")
    data_path, caps_path = stem + ".u8", stem + ".tsv"
    caps = load_lines(caps_path, n)
    if caps is not None:
        print(f"cache: reusing {data_path}", flush=True)
        return np.memmap(data_path, dtype=np.uint8, mode="r", shape=(n, CROP, CROP, 3)), caps
    t0 = time.time()
    tmp = data_path + ".tmp"
    data = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(n, CROP, CROP, 3))
    caps = [""] * n
    chunk = 64
    jobs = [(seed, s, min(s + chunk, n)) for s in range(0, n, chunk)]
    done = 0
    with mp.get_context("fork").Pool(workers) as pool:
        for start, crops, cc in pool.imap_unordered(_render_chunk, jobs):
            data[start:start + len(cc)] = crops
            caps[start:start + len(cc)] = cc
            done += len(cc)
            if done % 4096 < chunk:
                print(f"cache: {done}/{n} images ({time.time() - t0:.0f}s)", flush=True)
    data.flush()
    del data
    os.replace(tmp, data_path)
    save_lines(caps_path, caps)
    print(f"cache: rendered {n} images in {time.time() - t0:.0f}s", flush=True)
    return np.memmap(data_path, dtype=np.uint8, mode="r", shape=(n, CROP, CROP, 3)), caps


def _patch_chunk(job):
    seed, start, stop = job
    return start, np.stack([world.patch_classes(seed, i) for i in range(start, stop)])


def build_patch_labels(cache_dir: str, seed: int, n: int, workers: int) -> torch.Tensor:
    """[n, 49] per-patch classes of world set ``seed`` (world.patch_classes), computed once from
    the scene geometry and cached next to the image memmap."""
    path = os.path.join(cache_dir, f"patches-s{seed}-n{n}.npy")
    if os.path.exists(path):
        return torch.from_numpy(np.load(path))
    jobs = [(seed, s, min(s + 1024, n)) for s in range(0, n, 1024)]
    out = np.zeros((n, 49), dtype=np.int64)
    with mp.get_context("fork").Pool(workers) as pool:
        for start, labels in pool.imap_unordered(_patch_chunk, jobs):
            out[start:start + len(labels)] = labels
    np.save(path + ".tmp.npy", out)
    os.replace(path + ".tmp.npy", path)
    return torch.from_numpy(out)


def _mirror_chunk(job):
    seed, start, stop = job
    return start, [world.mirrored_caption(seed, i) or "" for i in range(start, stop)]


def build_mirrored_captions(cache_dir: str, seed: int, n: int, workers: int) -> list:
    """Captions of world set ``seed`` flipped left-right ("" where the mirrored order would be
    ambiguous), from the scene geometry; cached next to the image memmap."""
    path = os.path.join(cache_dir, f"mirror-s{seed}-n{n}.tsv")
    cached = load_lines(path, n)
    if cached is not None:
        return cached
    jobs = [(seed, s, min(s + 1024, n)) for s in range(0, n, 1024)]
    caps = [""] * n
    with mp.get_context("fork").Pool(workers) as pool:
        for start, cc in pool.imap_unordered(_mirror_chunk, jobs):
            caps[start:start + len(cc)] = cc
    save_lines(path, caps)
    return caps


class JoinedSets:
    """Several sets' image memmaps addressed as one array by row index (an index array or a
    slice), so that training can draw from more distinct images than one cache holds."""

    def __init__(self, parts):
        self.parts = parts
        self.starts = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self):
        return int(self.starts[-1])

    def __getitem__(self, rows):
        rows = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        out = np.empty((len(rows),) + self.parts[0].shape[1:], dtype=self.parts[0].dtype)
        for part, start, stop in zip(self.parts, self.starts[:-1], self.starts[1:]):
            inside = (rows >= start) & (rows < stop)
            if inside.any():
                out[inside] = part[rows[inside] - start]
        return out


def build_training_sets(cache_dir: str, seeds: list, n: int, workers: int, hflip: bool):
    """The images, captions, patch labels and (with ``hflip``) mirrored captions of ``n`` images
    of each world set in ``seeds``, joined in that order."""
    images, caps, patches, mirrors = [], [], [], []
    for seed in seeds:
        x, c = build_cache(cache_dir, seed, n, workers)
        images.append(x)
        caps += c
        patches.append(build_patch_labels(cache_dir, seed, n, workers))
        if hflip:
            mirrors += build_mirrored_captions(cache_dir, seed, n, workers)
    joined = images[0] if len(images) == 1 else JoinedSets(images)
    return joined, caps, torch.cat(patches), mirrors


_SCALE = torch.tensor([1.0 / (255.0 * s) for s in dm.CLIP_STD])
_SHIFT = torch.tensor([-m / s for m, s in zip(dm.CLIP_MEAN, dm.CLIP_STD)])


def normalise_fast(batch: np.ndarray) -> torch.Tensor:
    """dm.normalise_uint8 in one fused pass (training only; equal up to float rounding):
    it cost 0.8 ms per image, 15% of a training step."""
    x = torch.from_numpy(batch).float()
    return torch.addcmul(_SHIFT, x, _SCALE).permute(0, 3, 1, 2).contiguous()


def visual_tokens(visual, x: torch.Tensor) -> torch.Tensor:
    """Every output token of OpenAI's VisionTransformer ([B, 1 + grid², width], before ln_post):
    the same operations as ``visual.forward``, which keeps only the class token."""
    x = visual.conv1(x)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
    x = visual.ln_pre(x).permute(1, 0, 2)
    return visual.transformer(x).permute(1, 0, 2)


def image_embedding(visual, tokens: torch.Tensor) -> torch.Tensor:
    """``visual.forward``'s output from visual_tokens: ln_post of the class token, projected."""
    return visual.ln_post(tokens[:, 0, :]) @ visual.proj


def tokenize_all(tok: dm.CaptionTokenizer, caps) -> torch.Tensor:
    ids = torch.full((len(caps), MAX_TOKENS), -100, dtype=torch.long)
    for i, c in enumerate(caps):
        t = tok.encode(c)
        if len(t) > MAX_TOKENS:
            raise ValueError(f"caption too long ({len(t)} tokens): {c}")
        ids[i, :len(t)] = torch.tensor(t)
    return ids


N_CLASSES = len(world.COLOURS) * len(world.SHAPES)


def aux_targets(caps) -> tuple:
    """Per image and per (colour, shape) class: count 0-3, and the left-to-right rank 0-2 of the
    class's group (-100 where the class is absent)."""
    counts = torch.zeros((len(caps), N_CLASSES), dtype=torch.long)
    ranks = torch.full((len(caps), N_CLASSES), -100, dtype=torch.long)
    for i, c in enumerate(caps):
        for rank, (count, colour, shape) in enumerate(world.parse_caption(c)):
            k = world.COLOUR_NAMES.index(colour) * len(world.SHAPES) + world.SHAPES.index(shape)
            counts[i, k] = world.WORD_COUNTS[count]
            ranks[i, k] = rank
    return counts, ranks


class AuxHead(torch.nn.Module):
    """Training-only linear probe on the image embedding that predicts, for every (colour, shape)
    class, how many there are and where the group ranks left to right. It gives the ViT a
    direct, dense signal early on (the caption loss alone reaches it through the mapper and
    GPT-2, and learned shapes very slowly); it is discarded after training."""

    def __init__(self, dim: int):
        super().__init__()
        self.count = torch.nn.Linear(dim, N_CLASSES * 4)
        self.rank = torch.nn.Linear(dim, N_CLASSES * 3)

    def loss(self, emb, counts, ranks):
        ce = torch.nn.functional.cross_entropy
        lc = ce(self.count(emb).view(-1, 4), counts.view(-1))
        lr = ce(self.rank(emb).view(-1, 3), ranks.view(-1), ignore_index=-100)
        return lc + lr


class DenseHead(torch.nn.Module):
    """Training-only linear classifier on every patch token: which (colour, shape) covers the
    patch, or background (world.patch_classes). 49 labels per image instead of one caption
    reach the ViT directly; measured on shape presence it learns where the caption loss alone
    stays at chance for thousands of steps. Discarded after training."""

    def __init__(self, width: int):
        super().__init__()
        self.head = torch.nn.Linear(width, N_CLASSES + 1)

    def loss(self, patch_tokens, labels):
        return torch.nn.functional.cross_entropy(self.head(patch_tokens).reshape(-1, N_CLASSES + 1), labels.reshape(-1))


def structured_init(visual, enabled: bool) -> None:
    """Initialisation meant to speed up the from-scratch ViT on a small CPU budget.

    - conv1 (the 32x32 patch embedding): the first 48 output channels average one colour
      channel over one 8x8 block of the patch (4x4 blocks x RGB), so every patch token starts out
      carrying a 28x28-pixel view of the image; the other channels keep PyTorch's random init.
    - positional_embedding: 2-D sine-cosine of the patch row and column (MAE-style), so the left-to-
      right order needed by the captions is available from the first step.
    Everything stays trainable. Measured: after 500 steps of 32 images it made no clear
    difference (colour 53% vs 49%, shape 16% vs 16%); kept because it does not hurt."""
    if not enabled:
        return
    with torch.no_grad():
        w = visual.conv1.weight  # [width, 3, 32, 32]
        width = w.shape[0]
        for c in range(min(48, width)):
            colour, block = c % 3, c // 3
            by, bx = divmod(block, 4)
            w[c].zero_()
            w[c, colour, by * 8:(by + 1) * 8, bx * 8:(bx + 1) * 8] = 1.0 / 64.0
        grid = round((visual.positional_embedding.shape[0] - 1) ** 0.5)
        quarter = width // 4
        freqs = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
        pos = torch.zeros(grid * grid + 1, width)
        for i in range(grid * grid):
            y, x = divmod(i, grid)
            pos[i + 1] = torch.cat([torch.sin(x * freqs), torch.cos(x * freqs),
                                    torch.sin(y * freqs), torch.cos(y * freqs)])[:width]
        visual.positional_embedding.copy_(0.5 * pos)


def lr_at(step: int, steps: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(steps - warmup, 1)
    return base * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * t)))


def evaluate(model, tok, crops: np.ndarray, caps, batch: int = 100) -> tuple:
    model.eval()
    preds = []
    for i in range(0, len(caps), batch):
        preds += dm.caption_pixels(model, tok, dm.normalise_uint8(crops[i:i + batch]), batch)
    model.train()
    return score(zip(caps, preds)), preds


def round_like_openai(clip_model):
    """A copy of the CLIP with OpenAI's fp16 conversion (``clip.model.convert_weights``: conv,
    linear, attention and projection weights in fp16, the rest fp32), as in OpenAI's archives.
    The live fp32 model takes the rounded values too, so every written file and the PyTorch
    reference hold exactly the same numbers (and clip.load(jit=False), which rounds to fp16
    itself, changes nothing)."""
    import copy

    import clip.model

    half = copy.deepcopy(clip_model).eval()
    clip.model.convert_weights(half)
    rounded = half.state_dict()
    with torch.no_grad():
        for name, value in clip_model.state_dict().items():
            value.copy_(rounded[name].to(value.dtype))
    return half


def save_outputs(out: str, model: dm.DemoCaptioner, clip_half, cfg: dict, gcfg) -> None:
    """Write every file of the model folder (each via a temp file + rename)."""
    os.makedirs(os.path.join(out, dm.GPT2_DIR), exist_ok=True)
    clip_model = model.clip.eval()

    def atomic_save(obj, name, saver):
        path = os.path.join(out, name)
        tmp = path + ".tmp"
        saver(obj, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    # TorchScript archive shaped like OpenAI's: the fp16-converted CLIP traced with half inputs
    # (forward, encode_image, encode_text); clip.load(jit=True) patches it back to fp32 on CPU.
    image = torch.randn(1, 3, CROP, CROP).half()
    text = torch.zeros(1, 77, dtype=torch.long)
    text[0, :3] = torch.tensor([1, 5, cfg["text_vocab"] - 1])
    with torch.no_grad():
        traced = torch.jit.trace_module(
            clip_half, {"forward": (image, text), "encode_image": (image,), "encode_text": (text,)})
    atomic_save(traced, dm.CLIP_ARCHIVE, torch.jit.save)
    atomic_save(clip_model.state_dict(), dm.CLIP_STATE, torch.save)
    atomic_save(model.clipcap.state_dict(), dm.CLIPCAP_CHECKPOINT, torch.save)
    gcfg.to_json_file(os.path.join(out, dm.GPT2_DIR, "config.json"))
    with open(os.path.join(out, dm.MODEL_JSON), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
        f.write("\n")


def check_saved(out: str, model: dm.DemoCaptioner, crops: np.ndarray, tok) -> None:
    """Reload the written files (clip.load both ways + load_demo) and compare with the live model."""
    import clip

    x = dm.normalise_uint8(crops[:8])
    with torch.no_grad():
        ref = model.clip.encode_image(x)
        jit_model, preprocess = clip.load(os.path.join(out, dm.CLIP_ARCHIVE), device="cpu", jit=True)
        sd_model, _ = clip.load(os.path.join(out, dm.CLIP_STATE), device="cpu", jit=False)
        d_jit = (jit_model.encode_image(x) - ref).abs().max().item()
        d_sd = (sd_model.encode_image(x) - ref).abs().max().item()
    reloaded, tok2 = dm.load_demo(out)
    a = dm.caption_pixels(model.eval(), tok, x)
    b = dm.caption_pixels(reloaded, tok2, x)
    print(f"check: clip.load(jit=True) max|diff|={d_jit:.2e}, clip.load(state dict) max|diff|={d_sd:.2e}, "
          f"reloaded captions identical: {a == b}", flush=True)
    if d_jit > 1e-4 or d_sd > 1e-4 or a != b:
        raise SystemExit("saved model files do not reproduce the trained model")


def load_growing(module: torch.nn.Module, state: dict, layer_pattern: str, output_projections: tuple) -> list:
    """Loads `state` into `module`, which may have more residual layers than the saved model.

    The extra layers (keys matching `layer_pattern` that `state` lacks) start as the identity:
    their output projections (`output_projections`, weight and bias) are zero, so the residual
    stream passes through them unchanged and the grown model computes exactly what the saved one
    did. Training then gives them work. Any other missing or unexpected key is an error.
    Returns the names of the new layers."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    if unexpected:
        raise SystemExit(f"init: the saved model has tensors this configuration lacks: {unexpected[:5]}")
    new_layers = set()
    for key in missing:
        m = re.match(layer_pattern, key)
        if not m:
            raise SystemExit(f"init: the saved model lacks {key}, which is not part of a new layer")
        new_layers.add(m.group(0))
    params = dict(module.named_parameters())
    with torch.no_grad():
        for layer in new_layers:
            for proj in output_projections:
                params[layer + proj + ".weight"].zero_()
                params[layer + proj + ".bias"].zero_()
    return sorted(l.rstrip(".") for l in new_layers)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output model folder (e.g. models/demo-src)")
    ap.add_argument("--cache", default="/tmp/clipcap-demo-cache", help="folder of the pre-rendered data memmaps")
    ap.add_argument("--n-train", type=int, default=16000, help="images per training set")
    ap.add_argument("--data-seed", default="1", help="world set(s) to train on, e.g. 1 or 1,3 (n-train images of each)")
    ap.add_argument("--eval-seed", type=int, default=2)
    ap.add_argument("--n-eval", type=int, default=500)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.02)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="seed of initialisation and batch order")
    ap.add_argument("--vision-width", type=int, default=128)
    ap.add_argument("--vision-layers", type=int, default=4)
    ap.add_argument("--embed-dim", type=int, default=128)
    ap.add_argument("--gpt2-width", type=int, default=128)
    ap.add_argument("--gpt2-layers", type=int, default=3)
    ap.add_argument("--gpt2-heads", type=int, default=4)
    ap.add_argument("--mapper-hidden", type=int, default=256)
    ap.add_argument("--prefix-len", type=int, default=10)
    ap.add_argument("--aux-weight", type=float, default=0.5, help="weight of the auxiliary count/rank loss")
    ap.add_argument("--aux-until", type=float, default=0.8,
                    help="fraction of training over which the auxiliary weight decays linearly to 0")
    ap.add_argument("--key-weight", type=float, default=1.0,
                    help="loss weight of the tokens that carry the answer (count, colour and first shape "
                         "character); the fixed characters (个 色 的 形 ...) keep weight 1")
    ap.add_argument("--dense-weight", type=float, default=1.0,
                    help="weight of the per-patch auxiliary loss (decays with --aux-until like the other)")
    ap.add_argument("--vflip", type=int, default=1,
                    help="1: flip half of each batch upside down (the left-to-right order, so the caption, is unchanged)")
    ap.add_argument("--hflip", type=int, default=0,
                    help="1: flip half of each batch left-right, with the caption of the mirrored scene "
                         "(images whose mirrored order would be ambiguous are never flipped)")
    ap.add_argument("--structured-init", type=int, default=1, help="1: block-average conv1 + sin-cos positions")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--init-from", default="",
                    help="model folder written by an earlier run to start from instead of a fresh init; with more "
                         "--vision-layers/--gpt2-layers the extra layers start as the identity")
    ap.add_argument("--stop-after", type=float, default=0,
                    help="seconds of training after which the loop stops early and the model is saved as it is "
                         "(a safety net for a fixed time budget; 0 = run every step)")
    ap.add_argument("--workers", type=int, default=2, help="processes rendering the data cache")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    t_start = time.time()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    os.makedirs(os.path.join(args.out, dm.GPT2_DIR), exist_ok=True)
    vocab_path = os.path.join(args.out, dm.GPT2_DIR, "vocab.txt")
    dm.write_vocab(vocab_path)
    tok = dm.CaptionTokenizer(vocab_path)

    data_seeds = [int(x) for x in str(args.data_seed).split(",")]
    if args.eval_seed in data_seeds:
        raise SystemExit(f"--eval-seed {args.eval_seed} is also a training set")
    train_x, train_caps, train_patches, mirror_caps = build_training_sets(
        args.cache, data_seeds, args.n_train, args.workers, bool(args.hflip))
    n_train = len(train_caps)
    eval_x, eval_caps = build_cache(args.cache, args.eval_seed, args.n_eval, args.workers)
    train_ids = tokenize_all(tok, train_caps)
    train_counts, train_ranks = aux_targets(train_caps)
    if args.hflip:
        # Mirrored targets per image; images that cannot be flipped keep their own.
        can_mirror = torch.tensor([bool(c) for c in mirror_caps])
        mirror_caps = [m or c for m, c in zip(mirror_caps, train_caps)]
        mirror_ids = tokenize_all(tok, mirror_caps)
        mirror_counts, mirror_ranks = aux_targets(mirror_caps)
    # Tokens that carry the answer: counts, colours, the first character of each shape, 和 (one
    # more group) and [SEP] (no more groups). The rest of a caption follows from them.
    key_weights = torch.ones(tok.vocab_size)
    for ch in "一两三红绿蓝黄紫橙黑白圆正星和":
        key_weights[tok.bert.convert_tokens_to_ids(ch)] = args.key_weight
    key_weights[tok.sep_id] = args.key_weight
    t_data = time.time() - t_start

    cfg = {
        "embed_dim": args.embed_dim, "vision_width": args.vision_width, "vision_layers": args.vision_layers,
        "vision_heads": args.vision_width // 64, "patch_size": 32, "image_resolution": CROP, "text_vocab": 1024,
        "mapper_hidden": args.mapper_hidden, "prefix_len": args.prefix_len, "gpt2_width": args.gpt2_width,
        "gpt2_layers": args.gpt2_layers, "gpt2_heads": args.gpt2_heads, "gpt2_positions": 64,
    }
    torch.manual_seed(args.seed)
    clip_model = dm.build_clip(cfg)
    gcfg = dm.gpt2_config(cfg, tok.vocab_size, tok.sep_id, tok.bert.convert_tokens_to_ids("[CLS]"))
    clipcap = dm.ClipCaptionModel(gcfg, args.embed_dim, args.mapper_hidden, args.prefix_len)
    model = dm.DemoCaptioner(clip_model, clipcap).train()
    n_visual = sum(p.numel() for p in clip_model.visual.parameters())
    n_map = sum(p.numel() for p in clipcap.clip_project.parameters())
    n_gpt = sum(p.numel() for p in clipcap.gpt2.parameters())
    print(f"params: visual {n_visual}, mapper {n_map}, gpt2 {n_gpt}, total {n_visual + n_map + n_gpt}", flush=True)

    # Only the visual tower and ClipCap are trained; the text tower stays a random placeholder.
    if args.init_from:
        # Continue from a saved model folder (a second cosine cycle from its weights): the CLIP
        # and ClipCap state dicts written by save_outputs; the training-only heads start afresh.
        grown = load_growing(clip_model, torch.load(os.path.join(args.init_from, dm.CLIP_STATE), map_location="cpu"),
                             r"visual\.transformer\.resblocks\.(\d+)\.", ("attn.out_proj", "mlp.c_proj"))
        grown += load_growing(clipcap, torch.load(os.path.join(args.init_from, dm.CLIPCAP_CHECKPOINT), map_location="cpu"),
                              r"gpt2\.transformer\.h\.(\d+)\.", ("attn.c_proj", "mlp.c_proj"))
        print(f"init: weights from {args.init_from}" + (f"; new identity layers: {', '.join(grown)}" if grown else ""),
              flush=True)
    else:
        structured_init(clip_model.visual, args.structured_init)
    aux = AuxHead(args.embed_dim)
    dense = DenseHead(args.vision_width)
    params = (list(clip_model.visual.parameters()) + list(clipcap.parameters()) + list(aux.parameters())
              + list(dense.parameters()))
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(n_train, generator=gen)
    pos = 0
    t_train = time.time()
    running = 0.0
    history = []
    for step in range(args.steps):
        if args.stop_after and time.time() - t_train > args.stop_after:
            print(f"stopping early after {step} steps (--stop-after {args.stop_after:.0f}s)", flush=True)
            cfg["stopped_at_step"] = step
            break
        if pos + args.batch > n_train:
            order = torch.randperm(n_train, generator=gen)
            pos = 0
        idx = np.sort(order[pos:pos + args.batch].numpy())
        pos += args.batch
        crops = np.array(train_x[idx])
        patches = train_patches[idx]
        if args.vflip:
            flip = torch.rand(len(idx), generator=gen) < 0.5
            if bool(flip.any()):
                f = flip.numpy()
                crops[f] = crops[f][:, ::-1]
                patches = patches.clone()
                patches[flip] = patches[flip].view(-1, 7, 7).flip(1).reshape(-1, 49)
        ids, counts, ranks = train_ids[idx], train_counts[idx], train_ranks[idx]
        if args.hflip:
            mirror = (torch.rand(len(idx), generator=gen) < 0.5) & can_mirror[idx]
            if bool(mirror.any()):
                m = mirror.numpy()
                crops[m] = crops[m][:, :, ::-1]
                patches = patches.clone()
                patches[mirror] = patches[mirror].view(-1, 7, 7).flip(2).reshape(-1, 49)
                ids, counts, ranks = ids.clone(), counts.clone(), ranks.clone()
                ids[mirror] = mirror_ids[idx][mirror]
                counts[mirror] = mirror_counts[idx][mirror]
                ranks[mirror] = mirror_ranks[idx][mirror]
        x = normalise_fast(crops)
        ids = ids[:, : int((ids >= 0).sum(1).max())]
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        tokens = visual_tokens(clip_model.visual, x)
        emb = image_embedding(clip_model.visual, tokens)
        cap_loss = model.loss(x, ids, emb=emb, token_weights=key_weights if args.key_weight != 1 else None)
        decay = max(0.0, 1.0 - step / max(args.aux_until * args.steps, 1))
        loss = cap_loss
        if args.aux_weight * decay > 0:
            loss = loss + args.aux_weight * decay * aux.loss(emb, counts, ranks)
        if args.dense_weight * decay > 0:
            loss = loss + args.dense_weight * decay * dense.loss(tokens[:, 1:], patches)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        running += cap_loss.item()
        if (step + 1) % 100 == 0:
            el = time.time() - t_train
            print(f"step {step + 1}/{args.steps} caption loss {running / 100:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{el:.0f}s ({1000 * el / ((step + 1) * args.batch):.2f} ms/img)", flush=True)
            history.append({"step": step + 1, "loss": round(running / 100, 5)})
            running = 0.0
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            s, _ = evaluate(model, tok, eval_x[:200], eval_caps[:200])
            print(format_scores(f"eval@{step + 1} (200 images)", s), flush=True)
    t_train = time.time() - t_train

    model.eval()
    clip_half = round_like_openai(clip_model)
    s_eval, preds = evaluate(model, tok, eval_x, eval_caps)
    s_train, _ = evaluate(model, tok, train_x[:500], train_caps[:500])
    print(format_scores(f"train set (first 500, seed {args.data_seed})", s_train))
    print(format_scores(f"NEW images (seed {args.eval_seed})", s_eval))
    wrong = [(t, p) for t, p in zip(eval_caps, preds) if t != p]
    for t, p in wrong[:15]:
        print(f"  wrong: true {t}  predicted {p}")

    cfg["training"] = {k: v for k, v in vars(args).items() if k not in ("out", "cache")}
    cfg["training"].update({"data_seconds": round(t_data), "train_seconds": round(t_train),
                            "loss_history": history})
    cfg["evaluation"] = {"seed": args.eval_seed, **{k: round(v, 4) if isinstance(v, float) else v
                                                    for k, v in s_eval.items()}}
    cfg["evaluation_train_subset"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in s_train.items()}
    save_outputs(args.out, model, clip_half, cfg, gcfg)
    check_saved(args.out, model, eval_x, tok)
    print(f"wall time: {time.time() - t_start:.0f}s (data {t_data:.0f}s, training {t_train:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
