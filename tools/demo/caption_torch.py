#!/usr/bin/env python3
"""Caption images with the PyTorch demo model: the reference the Swift engine must match.

    python3 tools/demo/caption_torch.py models/samples [--model models/demo-src] [--json]

Inputs: image files and/or folders (folders: every .png/.jpg/.jpeg inside, sorted by name).
Preprocessing is OpenAI CLIP's (bicubic resize of the shorter side to 224, centre crop, RGB,
normalise); decoding is greedy (argmax, [UNK] banned, stop at [SEP], at most 32 tokens).
Output: ``file<TAB>caption`` per image, or with ``--json`` one object per line with
``file`` and ``captions`` (a one-element list), the same keys as ``clipcapctl caption --json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_model as dm  # noqa: E402

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "demo-src")


def list_images(paths) -> list:
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.lower().endswith(IMAGE_EXTS))
        else:
            files.append(p)
    return files


def caption_files(model, tok, files, batch: int = 32) -> list:
    """[(file, caption or None, error or None)] for each file, in order."""
    transform = dm.clip_transform(224)
    results = []
    for i in range(0, len(files), batch):
        chunk, tensors = [], []
        for f in files[i:i + batch]:
            try:
                with Image.open(f) as im:
                    tensors.append(transform(im))
                chunk.append(f)
            except (OSError, ValueError) as e:
                results.append((f, None, f"{f}: cannot read image ({e})"))
        if tensors:
            caps = dm.caption_pixels(model, tok, torch.stack(tensors), batch)
            results += [(f, c, None) for f, c in zip(chunk, caps)]
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Caption images with the PyTorch demo ClipCap model.")
    ap.add_argument("inputs", nargs="+", help="image files or folders")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model folder written by train.py")
    ap.add_argument("--json", action="store_true", help="one JSON object per line (file, captions)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, tok = dm.load_demo(args.model)
    failed = 0
    for f, cap, err in caption_files(model, tok, list_images(args.inputs)):
        if err:
            failed += 1
            print(err, file=sys.stderr)
        elif args.json:
            print(json.dumps({"file": f, "captions": [cap]}, ensure_ascii=False), flush=True)
        else:
            print(f"{f}\t{cap}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
