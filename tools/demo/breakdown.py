#!/usr/bin/env python3
"""Where the demo model goes wrong: exact-caption accuracy of the PyTorch model split by the
scene's properties (smallest shape, number of shapes, image size, file format, background).

    python3 tools/demo/breakdown.py --model models/demo-src --n 400 --seed 7

Renders images ``0..n-1`` of world set ``--seed`` the way training does (file-format round trip,
CLIP crop), captions them greedily with the PyTorch model, and prints one line per property:
accuracy and image count per bucket, then the first wrong captions (truth | prediction).
"""
import argparse
import collections
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import demo_model as dm  # noqa: E402
import train  # noqa: E402
import world  # noqa: E402


def scene_facts(seed: int, index: int) -> dict:
    rng = world.sample_rng(seed, index)
    scene = world.random_scene(rng)
    fmt = "png" if rng.random() < 0.4 else "jpeg"
    side = min(scene.width, scene.height)
    smallest = min(s.radius for s in scene.shapes) / side
    low = int(smallest / 0.025) * 0.025
    return {
        "smallest shape (radius / shorter side)": f"{low:.3f}-{low + 0.025:.3f}",
        "shapes": len(scene.shapes),
        "shorter side (px)": f"{side // 128 * 128}-{side // 128 * 128 + 127}",
        "format": fmt,
        "background": scene.background.get("effect", "plain"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "demo-src"))
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--show", type=int, default=15, help="wrong captions to print")
    args = ap.parse_args(argv)

    model, tok = dm.load_demo(args.model)
    crops, truth, facts = [], [], []
    for i in range(args.n):
        crop, caption = train.render_crop(args.seed, i)
        crops.append(crop)
        truth.append(caption)
        facts.append(scene_facts(args.seed, i))
    with torch.inference_mode():
        pred = dm.caption_pixels(model, tok, dm.normalise_uint8(np.stack(crops)))
    ok = [p == t for p, t in zip(pred, truth)]
    print(f"{args.n} images of set {args.seed}: {100 * np.mean(ok):.1f}% exact")
    for key in facts[0]:
        buckets = collections.defaultdict(list)
        for f, o in zip(facts, ok):
            buckets[f[key]].append(o)
        cells = ", ".join(f"{k}: {100 * np.mean(v):.0f}% of {len(v)}" for k, v in sorted(buckets.items()))
        print(f"  {key}: {cells}")
    wrong = [(t, p) for t, p, o in zip(truth, pred, ok) if not o]
    for t, p in wrong[: args.show]:
        print(f"  {t} | {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
