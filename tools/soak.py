#!/usr/bin/env python3
"""Soak test: caption thousands of images in ONE clipcapctl process and watch its memory.

    python3 tools/soak.py [--images 2000] [--jobs 1] [--model M.ccm] [--binary PATH] [--backend blas]

Builds nothing: it uses the release binary (.build/release/clipcapctl or --binary; build it with
`swift build -c release --product clipcapctl`). The model defaults to models/demo.ccm if present,
else the fixture model converted into a temporary folder. The images are symlinks to the
repository's fixture images (Tests/Fixtures/images/synthetic, plus ../shared/seed/images when
present), repeated until --images are listed, in one folder passed to `caption`.

Every second it samples /proc/<pid>/status (VmRSS, RssAnon, RssFile, VmHWM, Threads) and counts
the captions printed so far. The report compares the peak after warm-up (the first
--warmup-fraction of the images, default 10%) with the last 10% of the run: a flat run has no
growth in RssAnon (heap) beyond noise. Samples go to a CSV (--csv) for plotting.
Exit status 1 if the run fails or anonymous memory grows by more than --max-growth-mib (default 16).
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def status_kib(pid):
    """VmRSS, RssAnon, RssFile, VmHWM in KiB and the thread count, or None once the process is gone."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                    fields[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields if "VmRSS" in fields else None


def image_sources():
    folders = [os.path.join(ROOT, "Tests/Fixtures/images/synthetic"),
               os.path.join(ROOT, "../shared/seed/images/dev"), os.path.join(ROOT, "../shared/seed/images/test")]
    files = []
    for folder in folders:
        if os.path.isdir(folder):
            files += sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith((".jpg", ".jpeg", ".png")))
    return files


def main():
    work = tempfile.mkdtemp(prefix="clipcap-soak-")
    try:
        return soak(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def soak(work):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--backend", default="blas")
    ap.add_argument("--model", default=None)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/clipcapctl"))
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--warmup-fraction", type=float, default=0.1)
    ap.add_argument("--max-growth-mib", type=float, default=16.0)
    ap.add_argument("--csv", default=None, help="write the samples here")
    ap.add_argument("--extra", default="", help="more caption options, e.g. \"--max-tokens 5\"")
    args = ap.parse_args()

    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary}: no release binary; run `swift build -c release --product clipcapctl` or pass --binary")
    model = args.model or (os.path.join(ROOT, "models/demo.ccm") if os.path.exists(os.path.join(ROOT, "models/demo.ccm")) else None)
    if model is None:
        model = os.path.join(work, "fixture.ccm")
        fx = os.path.join(ROOT, "Tests/Fixtures/models")
        subprocess.run([args.binary, "convert", "--clip", f"{fx}/clip/ViT-tiny-jit.pt", "--checkpoint", f"{fx}/clipcap-zh-mlp.pt",
                        "--gpt2", f"{fx}/gpt2-zh", "-o", model], check=True, stdout=subprocess.DEVNULL)
    sources = image_sources()
    images = os.path.join(work, "images")
    os.mkdir(images)
    for i in range(args.images):
        src = sources[i % len(sources)]
        os.symlink(src, os.path.join(images, f"{i:05d}{os.path.splitext(src)[1]}"))

    command = [args.binary, "caption", "--model", model, "--backend", args.backend, "--jobs", str(args.jobs)] + args.extra.split() + [images]
    if args.threads:
        command[2:2] = ["--threads", str(args.threads)]
    print("soak:", " ".join(command), f"({len(sources)} distinct images)", flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = [0]
    errors = []

    def count_lines():
        for _ in proc.stdout:
            done[0] += 1

    def keep_errors():
        for line in proc.stderr:
            errors.append(line.rstrip())

    readers = [threading.Thread(target=count_lines, daemon=True), threading.Thread(target=keep_errors, daemon=True)]
    for r in readers:
        r.start()
    samples = []
    while proc.poll() is None:
        s = status_kib(proc.pid)
        if s:
            samples.append({"t": round(time.monotonic() - start, 2), "done": done[0], **s})
        time.sleep(args.interval)
    for r in readers:
        r.join()
    elapsed = time.monotonic() - start

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["t", "done", "VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"])
            w.writeheader()
            w.writerows(samples)
    if proc.returncode != 0 or done[0] != args.images:
        print(f"soak: FAILED: exit {proc.returncode}, {done[0]}/{args.images} captions; stderr: {errors[:5]}")
        return 1
    warm = [s for s in samples if s["done"] >= args.warmup_fraction * args.images]
    tail = [s for s in samples if s["done"] >= 0.9 * args.images] or samples[-1:]
    if len(warm) < 2:
        print(f"soak: run too short to sample ({len(samples)} samples in {elapsed:.1f} s); use more --images")
        return 1
    mib = lambda kib: kib / 1024
    first_warm = warm[0]
    peak_warm = max(s["RssAnon"] for s in warm if s["done"] <= 0.5 * args.images) if any(s["done"] <= 0.5 * args.images for s in warm) else first_warm["RssAnon"]
    end_anon = max(s["RssAnon"] for s in tail)
    growth = mib(end_anon - peak_warm)
    print(f"soak: {args.images} images in {elapsed:.1f} s ({args.images / elapsed:.1f} images/s), {len(samples)} samples")
    print(f"  after warm-up ({first_warm['done']} images): VmRSS {mib(first_warm['VmRSS']):.1f} MiB, "
          f"RssAnon {mib(first_warm['RssAnon']):.1f} MiB, RssFile {mib(first_warm['RssFile']):.1f} MiB")
    print(f"  peak RssAnon, warm-up to half-way: {mib(peak_warm):.1f} MiB; peak RssAnon, last 10%: {mib(end_anon):.1f} MiB; "
          f"growth {growth:+.1f} MiB")
    print(f"  end: VmRSS {mib(samples[-1]['VmRSS']):.1f} MiB, RssFile {mib(samples[-1]['RssFile']):.1f} MiB, "
          f"VmHWM {mib(samples[-1]['VmHWM']):.1f} MiB, threads {samples[-1]['Threads']}")
    verdict = "flat" if growth <= args.max_growth_mib else "GROWING"
    print(f"  verdict: {verdict} (limit {args.max_growth_mib:.0f} MiB)")
    return 0 if verdict == "flat" else 1


if __name__ == "__main__":
    sys.exit(main())
