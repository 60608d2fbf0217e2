#!/usr/bin/env python3
"""Full-size check of the CLIP ResNet path: OpenAI CLIP RN50x4 (288x288, 640-d) + the original
ClipCap transformer mapper (prefix 40, clip length 40, 8 layers, --normalize-prefix) + a 12-layer
GPT-2, random weights, against PyTorch on the same weights; optionally the encode speed of RN50x4
and ViT-L/14 against PyTorch (2 threads): PyTorch, our blas backend on the float file, our int8
backend on `clipcapctl quantize`'s file, PyTorch again.

    python3 tools/parity_resnet_full_size.py --out /work/bench-models \
        --image ../shared/seed/images/dev/256063.jpg [--backends naive,blas,int8] [--steps 10] [--bench 5]

Builds (once, fixed seeds; nothing here is committed) OUT/rn50x4/:
  RN50x4-random.pt       clip.model.CLIP at RN50x4's sizes (visual and text towers), traced and
                         halved like OpenAI's archive; batch-norm statistics far from identity
                         (so folding is exercised) and each block's last gain small (0.1-0.3) so
                         26 random residual blocks neither vanish nor explode
  clipcap-transformer.pt original ClipCap ClipCaptionModel keys (gpt.*, clip_project.*)
  gpt2/                  the seed's GPT-2 config and vocabulary (WordPiece: [SEP] stops, [UNK] banned)
  rn50x4.ccm             `clipcapctl convert` of the above
and with --bench also OUT/vit-l14/vit-l14-random.pt (+ vit-l14.ccm, the same mapper sizes at 768-d)
and the quantized NAME-int8.ccm of both.
Thresholds as tools/parity_full_size.py (cosine >= 0.99999, logits <= 1e-3, identical ids); exit 1
when a backend misses one.
"""
import argparse
import copy
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_fixtures as fixtures  # noqa: E402  (the ClipCap model classes)
import make_fullsize_model as mfm  # noqa: E402
import parity_full_size as parity  # noqa: E402

TOWERS = {
    "rn50x4": dict(embed_dim=640, image_resolution=288, vision_layers=(4, 6, 10, 6), vision_width=80,
                   vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=640,
                   transformer_heads=10, transformer_layers=12),
    "vit-l14": dict(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024,
                    vision_patch_size=14, context_length=77, vocab_size=49408, transformer_width=768,
                    transformer_heads=12, transformer_layers=12),
}
PREFIX, CLIP_LENGTH, MAPPER_LAYERS = 40, 40, 8


def make_tower(name, generator):
    import clip.model
    torch.manual_seed(1234)
    model = clip.model.CLIP(**TOWERS[name])
    mfm.perturb(model, generator)
    with torch.no_grad():
        if isinstance(model.visual, clip.model.ModifiedResNet):
            for m in model.visual.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.normal_(0.0, 1.0 / math.sqrt(m.weight[0].numel()), generator=generator)
                elif isinstance(m, nn.BatchNorm2d):
                    m.running_mean.normal_(0.0, 0.1, generator=generator)
                    m.running_var.uniform_(0.5, 2.0, generator=generator)
                    m.weight.uniform_(0.8, 1.2, generator=generator)
            for m in model.visual.modules():
                if isinstance(m, clip.model.Bottleneck):
                    m.bn3.weight.uniform_(0.1, 0.3, generator=generator)
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model.eval()


def build(out, name, clipcapctl):
    """Writes OUT/NAME/{archive, checkpoint, gpt2/, NAME.ccm} unless NAME.ccm is already there."""
    folder = os.path.join(out, name)
    ccm = os.path.join(out, name, name + ".ccm")
    archive = os.path.join(folder, f"{name}-random.pt")
    if os.path.exists(ccm):
        return folder, archive, ccm
    os.makedirs(folder, exist_ok=True)
    checkpoint = os.path.join(folder, "clipcap-transformer.pt")
    if not (os.path.exists(archive) and os.path.exists(checkpoint) and os.path.isdir(os.path.join(folder, "gpt2"))):
        make_inputs(folder, name, archive, checkpoint)
    subprocess.run([clipcapctl, "convert", "--clip", archive, "--checkpoint", checkpoint,
                    "--gpt2", os.path.join(folder, "gpt2"), "--mapping", "transformer", "--normalize-prefix",
                    "--prefix-len", str(PREFIX), "--constant-len", str(CLIP_LENGTH), "-o", ccm], check=True)
    return folder, archive, ccm


def make_inputs(folder, name, archive, checkpoint):
    """The TorchScript archive, the ClipCap checkpoint and the GPT-2 folder (random, fixed seeds)."""
    g = torch.Generator().manual_seed(22)
    tower = make_tower(name, g)
    size = tower.visual.input_resolution
    with torch.no_grad():
        traced = torch.jit.trace(copy.deepcopy(tower), (torch.zeros(1, 3, size, size), torch.zeros(1, 77, dtype=torch.long)),
                                 check_trace=False)
    torch.jit.save(traced.half(), archive + ".tmp")
    os.replace(archive + ".tmp", archive)
    gdir = os.path.join(folder, "gpt2")
    os.makedirs(gdir, exist_ok=True)
    seed_gpt2 = os.path.join(ROOT, "..", "shared", "seed", "pretrained-configs", "gpt2")
    for f in ("config.json", "vocab.txt"):
        shutil.copy(os.path.join(seed_gpt2, f), gdir)
    torch.manual_seed(4321)
    model = fixtures.OriginalClipCaptionModel(mfm.gpt2_config(gdir), PREFIX, clip_length=CLIP_LENGTH,
                                              prefix_size=TOWERS[name]["embed_dim"], num_layers=MAPPER_LAYERS,
                                              mapping="transformer").eval()
    with torch.no_grad():
        lm = model.gpt
        lm.transformer.wte.weight.normal_(0.0, mfm.WTE_STD, generator=g)
        lm.transformer.wpe.weight.normal_(0.0, mfm.WPE_STD, generator=g)
        for p in lm.transformer.h.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[0]), generator=g)
        for pname, p in model.clip_project.named_parameters():
            if p.dim() == 2 and pname != "prefix_const":
                p.normal_(0.0, mfm.MAPPER_GAIN / math.sqrt(p.shape[1]), generator=g)
    mfm.perturb(lm.transformer, g)
    mfm.perturb(model.clip_project, g)
    torch.save(model.state_dict(), checkpoint + ".tmp")
    os.replace(checkpoint + ".tmp", checkpoint)


def load(folder, archive, name):
    import clip
    clip_model, preprocess = clip.load(archive, device="cpu", jit=False)
    model = fixtures.OriginalClipCaptionModel(mfm.gpt2_config(os.path.join(folder, "gpt2")), PREFIX, clip_length=CLIP_LENGTH,
                                              prefix_size=TOWERS[name]["embed_dim"], num_layers=MAPPER_LAYERS,
                                              mapping="transformer")
    model.load_state_dict(torch.load(os.path.join(folder, "clipcap-transformer.pt"), map_location="cpu", weights_only=True))
    return clip_model.float().eval(), preprocess, model.eval()


def reference(clip_model, preprocess, model, image, steps):
    from PIL import Image, ImageOps
    with torch.inference_mode():
        pixels = preprocess(ImageOps.exif_transpose(Image.open(image)).convert("RGB")).unsqueeze(0)
        embedding = clip_model.encode_image(pixels).float()
        prefix = model.prefix(embedding / embedding.norm(2, -1, keepdim=True))
    return (pixels.numpy(), embedding.numpy(), prefix.numpy()) + parity.greedy_reference(model.gpt, prefix, steps)


def torch_encode_ms(clip_model, size, runs):
    x = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        clip_model.encode_image(x)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            clip_model.encode_image(x)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times), max(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/work/bench-models")
    ap.add_argument("--image", required=True)
    ap.add_argument("--backends", default="naive,blas,int8")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--bench", type=int, default=0, help="also time encode (and a whole caption) over N runs, 2 threads")
    ap.add_argument("--clipcapctl", default=os.path.join(ROOT, ".build/release/clipcapctl"))
    args = ap.parse_args()
    torch.set_num_threads(2)

    folder, archive, ccm = build(args.out, "rn50x4", args.clipcapctl)
    clip_model, preprocess, model = load(folder, archive, "rn50x4")
    ref = reference(clip_model, preprocess, model, args.image, args.steps)
    print(f"RN50x4: PyTorch greedy ids {ref[4]}")
    failed = parity.compare(args.clipcapctl, ccm, args.image, args.backends.split(","), args.steps, ref)
    if args.bench:
        towers = [("rn50x4", folder, archive, ccm, clip_model)]
        vf, va, vc = build(args.out, "vit-l14", args.clipcapctl)
        towers.append(("vit-l14", vf, va, vc, load(vf, va, "vit-l14")[0]))
        for name, _, _, path, tower in towers:
            quantized = path[:-4] + "-int8.ccm"
            if not os.path.exists(quantized):
                subprocess.run([args.clipcapctl, "quantize", path, "-o", quantized], check=True)
            med, lo, hi = torch_encode_ms(tower, tower.visual.input_resolution, args.bench)
            print(f"{name}: PyTorch {torch.__version__} encode_image, 2 threads: median {med:.1f} ms ({lo:.1f}-{hi:.1f})")
            for model, backend in ((path, "blas"), (quantized, "int8")):
                subprocess.run([args.clipcapctl, "bench", args.image, "--model", model, "--backends", backend,
                                "--threads", "2", "--runs", str(args.bench)], check=False)
            med, lo, hi = torch_encode_ms(tower, tower.visual.input_resolution, args.bench)
            print(f"{name}: PyTorch again (load drifts): median {med:.1f} ms ({lo:.1f}-{hi:.1f})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
