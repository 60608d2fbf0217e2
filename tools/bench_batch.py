#!/usr/bin/env python3
"""Folder benchmark: batched PyTorch vs `clipcapctl caption DIR --batch N`, images/s.

    python3 tools/bench_batch.py --model-dir /work/bench-models/full --ccm /work/bench-models/full.ccm \
        [--int8-ccm FULL-INT8.ccm] [--images DIR] [--threads 2] [--tokens 20] \
        [--torch-batches 1,8,16,32] [--ours-batches 1,4,8,16,32] [--limits limits.json] [--json OUT.json]

Both engines caption the same folder (default: 64 different photos derived from the 16 seed
photos in shared/seed/images: each photo, its mirror, a centre crop and a quarter turn) with
the same full-size weights (tools/make_fullsize_model.py), greedy, --tokens tokens each, in one
fresh process per configuration, whole folder including model load:

- PyTorch (the peer a user would script): CLIP `encode_image` on batches of N preprocessed
  images, the mapper on the batch, then a batched greedy decode with HF's KV cache (N rows);
  [UNK] and [SEP] banned so every caption is --tokens long; fp32, torch.set_num_threads.
  N = 1 is one image at a time.
- ours: `clipcapctl caption DIR --model CCM --batch N --max-tokens T --json` (N = 1: the
  one-image path).

Per configuration: images/s, the time to the first caption (ours: the first JSON line),
peak RSS (ru_maxrss of the process), and images/s as a fraction of the compute floor: the FLOP
of one image (encoder + mapper + prefill + tokens-1 decode steps) over the machine's sgemm peak
from tools/machine_limits.py (--limits; without it no fraction is printed). Under CPU
contention (other jobs compiling) the figures are noisy and PyTorch's threads collapse: the
load average is printed with every row; compare only on a quiet machine.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

UNK, SEP = 100, 102
CLIP_GFLOP = 8.82  # ViT-B/32 at 224 (bench_torch.py)


def derived_photos(out_dir, source_glob):
    """64+ different photos from the seed photos: original, mirror, centre crop, quarter turn."""
    from PIL import Image
    sources = sorted(glob.glob(source_glob))
    if not sources:
        sys.exit(f"no photos match {source_glob}; pass --images DIR")
    paths = []
    for i, src in enumerate(sources):
        img = Image.open(src).convert("RGB")
        w, h = img.size
        variants = [img, img.transpose(Image.FLIP_LEFT_RIGHT),
                    img.crop((w // 10, h // 10, w - w // 10, h - h // 10)), img.rotate(90, expand=True)]
        for j, v in enumerate(variants):
            p = os.path.join(out_dir, f"photo{i:02d}_{j}.jpg")
            v.save(p, quality=92)
            paths.append(p)
    return paths


def image_flop(model_dir, tokens):
    """FLOP of one image: encoder + mapper + prefill + (tokens - 1) decode steps."""
    with open(os.path.join(model_dir, "model_stats.json")) as f:
        stats = json.load(f)
    with open(os.path.join(model_dir, "gpt2", "config.json")) as f:
        cfg = json.load(f)
    d, v, n_pos = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    params = stats["parameters"]
    non_embedding = params["gpt2"] - v * d - n_pos * d
    mapper = 2 * params["mapper"]
    prefix = 10
    head = 2 * v * d
    prefill = prefix * 2 * non_embedding + head
    decode = (tokens - 1) * (2 * non_embedding + head)
    return CLIP_GFLOP * 1e9 + mapper + prefill + decode


def run_measured(cmd):
    """Runs cmd; returns (stdout lines, wall s, first-line s, peak RSS MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = None
    lines = []
    for line in proc.stdout:
        if first is None:
            first = time.perf_counter() - start
        lines.append(line)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed ({status}): {err[-2000:]}")
    return lines, wall, first or wall, usage.ru_maxrss / 1024


def torch_child(args):
    """One PyTorch run over the folder (in its own process, for its peak RSS)."""
    import torch
    import make_fullsize_model as mfm
    torch.set_num_threads(args.threads)
    clip_model, preprocess, model, _ = mfm.load_models(args.model_dir, args.threads)
    from PIL import Image
    paths = sorted(glob.glob(os.path.join(args.images, "*.jpg")))
    lm = model.gpt2
    n = args.child_batch
    captions = 0
    with torch.inference_mode():
        for start in range(0, len(paths), n):
            chunk = paths[start:start + n]
            x = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in chunk])
            prefix = model.prefix(clip_model.encode_image(x))
            out = lm(inputs_embeds=prefix, use_cache=True, logits_to_keep=1)
            cache, logits = out.cache, out.logits[:, -1, :]
            for step in range(args.tokens):
                logits = logits.clone()
                logits[:, UNK] = -float("inf")
                logits[:, SEP] = -float("inf")
                tok = torch.argmax(logits, dim=-1)
                if step + 1 == args.tokens:
                    break
                out = lm(input_ids=tok.view(-1, 1), cache=cache, use_cache=True)
                cache, logits = out.cache, out.logits[:, -1, :]
            for _ in chunk:
                captions += 1
                print("caption", flush=True)
    print(json.dumps({"images": captions}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--ccm", required=True)
    ap.add_argument("--int8-ccm")
    ap.add_argument("--images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--torch-batches", default="1,8,16,32")
    ap.add_argument("--ours-batches", default="1,4,8,16,32")
    ap.add_argument("--clipcapctl", default=os.path.join(ROOT, ".build/release/clipcapctl"))
    ap.add_argument("--limits")
    ap.add_argument("--sgemm-gflops", type=float, help="the sgemm peak to use without --limits")
    ap.add_argument("--json")
    ap.add_argument("--child", choices=["torch"])
    ap.add_argument("--child-batch", type=int, default=1)
    args = ap.parse_args()
    if args.child == "torch":
        return torch_child(args)

    tmp = None
    if not args.images:
        tmp = tempfile.mkdtemp(prefix="clipcap-bench-photos-")
        derived_photos(tmp, os.path.join(os.path.dirname(ROOT), "shared/seed/images/*/*.jpg"))
        args.images = tmp
    count = len(glob.glob(os.path.join(args.images, "*.jpg")))
    flop = image_flop(args.model_dir, args.tokens)
    peak = args.sgemm_gflops
    if args.limits:
        with open(args.limits) as f:
            peak = json.load(f)["floors"]["sgemm_vit_2t_gflops"]
    rows = []

    def report(engine, batch, images, wall, first, rss):
        ips = images / wall
        row = {"engine": engine, "batch": batch, "images": images, "seconds": round(wall, 2),
               "images_per_s": round(ips, 3), "first_caption_s": round(first, 2), "peak_rss_mib": round(rss),
               "load": os.getloadavg()[0]}
        if peak:
            row["fraction_of_floor"] = round(ips * flop / (peak * 1e9), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)

    for b in [int(x) for x in args.torch_batches.split(",") if x]:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "torch", "--child-batch", str(b),
               "--model-dir", args.model_dir, "--ccm", args.ccm, "--images", args.images,
               "--threads", str(args.threads), "--tokens", str(args.tokens)]
        lines, wall, first, rss = run_measured(cmd)
        report("pytorch fp32", b, sum(1 for l in lines if l.startswith("caption")), wall, first, rss)
    models = [("clipcap blas", args.ccm, "blas")] + ([("clipcap int8", args.int8_ccm, "int8")] if args.int8_ccm else [])
    for label, ccm, backend in models:
        for b in [int(x) for x in args.ours_batches.split(",") if x]:
            cmd = [args.clipcapctl, "caption", args.images, "--model", ccm, "--backend", backend,
                   "--threads", str(args.threads), "--max-tokens", str(args.tokens), "--batch", str(b), "--json"]
            lines, wall, first, rss = run_measured(cmd)
            report(label, b, sum(1 for l in lines if '"captions"' in l), wall, first, rss)
    summary = {"cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t"),
               "images": count, "tokens": args.tokens, "gflop_per_image": round(flop / 1e9, 2),
               "sgemm_peak_gflops": peak, "rows": rows}
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    if tmp:
        for p in glob.glob(os.path.join(tmp, "*")):
            os.remove(p)
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
