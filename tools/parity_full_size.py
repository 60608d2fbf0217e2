#!/usr/bin/env python3
"""Full-size correctness check: clipcap against PyTorch on ViT-B/32 + MLP + 12-layer GPT-2.

    python3 tools/make_fullsize_model.py --out /work/bench-models        # once: random weights + full.ccm
    python3 tools/parity_full_size.py --model-dir /work/bench-models/full --ccm /work/bench-models/full.ccm \
        --image ../shared/seed/images/dev/256063.jpg [--backends naive,blas,int8] [--steps 10]

For each backend it runs `clipcapctl caption --dump` (greedy) and compares with PyTorch on the
same weights and the same preprocessed pixels: pixel max error, image-embedding and prefix
cosine, logits max abs error at every greedy step, and the greedy token ids. The thresholds are
the tests' (cosine >= 0.99999, logits <= 1e-3, identical ids) for float backends; an int8 model
(`--backends int8` with a quantized .ccm) is reported, not judged. Exit code 1 if a float
backend misses a threshold.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
UNK, SEP = 100, 102


def torch_reference(model_dir, image, steps):
    import torch
    from PIL import Image, ImageOps
    import make_fullsize_model as mfm
    clip_model, preprocess, model, _ = mfm.load_models(model_dir, 2)
    with torch.inference_mode():
        pixels = preprocess(ImageOps.exif_transpose(Image.open(image)).convert("RGB")).unsqueeze(0)
        embedding = clip_model.encode_image(pixels).float()
        prefix = model.prefix(embedding)
    return (pixels.numpy(), embedding.numpy(), prefix.numpy()) + greedy_reference(model.gpt2, prefix, steps)


def greedy_reference(lm, prefix, steps):
    """WordPiece greedy decoding ([UNK] banned, [SEP] stops): the logits of every step and the ids."""
    import torch
    with torch.inference_mode():
        embeds, ids, logits = prefix, [], []
        for _ in range(steps):  # no KV cache: the whole sequence every step, like the seed
            step = lm(inputs_embeds=embeds).logits[0, -1].float()
            logits.append(step.numpy().copy())
            masked = step.clone()
            masked[UNK] = -float("inf")
            tok = int(torch.argmax(masked))
            if tok == SEP:
                break
            ids.append(tok)
            embeds = torch.cat([embeds, lm.transformer.wte(torch.tensor([[tok]]))], dim=1)
    return np.stack(logits), ids


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def compare(clipcapctl, ccm, image, backends, steps, reference, int8_ccm=None):
    """Runs `clipcapctl caption --dump` on each backend and prints the comparison with `reference`
    (pixels, embedding, prefix, logits, ids); returns True when a float backend misses a threshold."""
    import json
    pixels, embedding, prefix, logits, ids = reference
    failed = False
    for backend in backends:
        model = int8_ccm if backend == "int8" and int8_ccm else ccm
        with tempfile.TemporaryDirectory() as dump:
            out = subprocess.run([clipcapctl, "caption", image, "--model", model, "--backend", backend,
                                  "--max-tokens", str(steps), "--dump", dump, "--json"],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{backend}: clipcapctl failed: {out.stderr.strip()}")
                failed = True
                continue
            ours_ids = json.loads(out.stdout.splitlines()[0])["token_ids"][0]
            p = np.load(os.path.join(dump, "pixel_values.npy"))
            e = np.load(os.path.join(dump, "image_embedding.npy"))
            x = np.load(os.path.join(dump, "prefix_embeddings.npy"))
            l = np.load(os.path.join(dump, "logits.npy"))
        n = min(len(l), len(logits))
        row = {
            "pixels max err": float(np.abs(p - pixels).max()),
            "embedding cos": cosine(e, embedding),
            "prefix cos": cosine(x, prefix),
            "logits max err": float(np.abs(l[:n] - logits[:n]).max()),
            "ids equal": ours_ids == ids[:len(ours_ids)] and len(ours_ids) == len(ids),
        }
        print(backend + ": " + ", ".join(f"{k} {v:.7g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        if not (backend == "int8" and int8_ccm) and not (row["embedding cos"] >= 0.99999 and row["prefix cos"] >= 0.99999
                                                         and row["logits max err"] <= 1e-3 and row["ids equal"]):
            failed = True
            print(f"{backend}: MISSES the thresholds (cos >= 0.99999, logits <= 1e-3, identical ids)")
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--ccm", required=True)
    ap.add_argument("--int8-ccm", help="a quantized model for the int8 backend (reported, not judged)")
    ap.add_argument("--image", required=True)
    ap.add_argument("--backends", default="naive,blas")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--clipcapctl", default=os.path.join(ROOT, ".build/release/clipcapctl"))
    args = ap.parse_args()

    reference = torch_reference(args.model_dir, args.image, args.steps)
    print(f"PyTorch greedy ids: {reference[4]}")
    failed = compare(args.clipcapctl, args.ccm, args.image, args.backends.split(","), args.steps, reference, args.int8_ccm)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
