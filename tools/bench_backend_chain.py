#!/usr/bin/env python3
"""The backend chain's cost: a baseline `clipcapctl` against a candidate, same run, same models.

The chain (docs/BACKENDS.md) is resolved once at load, so a run must be as fast as before it.
This runs `clipcapctl bench` of both binaries alternately (A B A B ...), each call under the
machine's benchmark lock, on the full-size fp32 model (blas) and its int8 file (int8), and prints
per phase the median of the medians of each binary and the ratio candidate / baseline, with the
load average. Writes everything to --out (JSON).

    python3 tools/bench_backend_chain.py --baseline /work/main/.build/release/clipcapctl \
        --candidate .build/release/clipcapctl
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

PHASES = ["image_encoder", "mapper", "prefill", "ms_per_token", "total"]


def bench(binary, image, model, backend, runs, tokens, threads, lock):
    cmd = [binary, "bench", image, "--model", model, "--backends", backend, "--runs", str(runs),
           "--tokens", str(tokens), "--threads", str(threads), "--json"]
    if lock:
        cmd = ["flock", lock] + cmd
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])["results"][0]
    return {p: result["phases"][p]["median"] for p in PHASES if p in result["phases"]} | {"caption": result.get("caption", "")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="clipcapctl built from the commit to compare against")
    ap.add_argument("--candidate", required=True, help="clipcapctl with the change")
    ap.add_argument("--image", default="/work/shared/seed/images/dev/256063.jpg")
    ap.add_argument("--float-model", default="/work/bench-models/full.ccm")
    ap.add_argument("--int8-model", default="/work/bench-models/full-int8.ccm")
    ap.add_argument("--rounds", type=int, default=3, help="A/B rounds per model")
    ap.add_argument("--runs", type=int, default=3, help="measured runs per bench call")
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lock", default="/work/bench.lock", help="flock file ('' for none)")
    ap.add_argument("--out", default="/tmp/bench_backend_chain.json")
    args = ap.parse_args()

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    report = {"cpu": cpu, "load_before": os.getloadavg(), "settings": vars(args), "models": {}}
    print(f"{cpu}; load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    for label, model, backend in [("fp32 blas", args.float_model, "blas"), ("int8", args.int8_model, "int8")]:
        if not os.path.exists(model):
            print(f"{label}: {model} missing, skipped", file=sys.stderr)
            continue
        samples = {"baseline": [], "candidate": []}
        for _ in range(args.rounds):
            for side in ("baseline", "candidate"):
                samples[side].append(bench(getattr(args, side), args.image, model, backend,
                                           args.runs, args.tokens, args.threads, args.lock))
        captions = {s: {r["caption"] for r in samples[s]} for s in samples}
        rows = {}
        print(f"\n{label} ({model}, {backend}, {args.rounds} rounds x {args.runs} runs, {args.tokens} tokens); ms, median of medians [range]")
        print(f"  {'phase':14} {'baseline':>24} {'candidate':>24} {'ratio':>6}")
        for p in PHASES:
            a = [r[p] for r in samples["baseline"] if p in r]
            b = [r[p] for r in samples["candidate"] if p in r]
            if not a or not b:
                continue
            ma, mb = statistics.median(a), statistics.median(b)
            rows[p] = {"baseline": a, "candidate": b, "ratio": mb / ma if ma else None}
            print(f"  {p:14} {ma:9.2f} [{min(a):6.2f}-{max(a):6.2f}] {mb:9.2f} [{min(b):6.2f}-{max(b):6.2f}] {mb / ma:6.3f}")
        same = captions["baseline"] == captions["candidate"]
        print(f"  captions identical: {same}")
        report["models"][label] = {"phases": rows, "captions": {k: sorted(v) for k, v in captions.items()}, "captions_identical": same}
    report["load_after"] = os.getloadavg()
    print(f"\nload average after: {os.getloadavg()[0]:.1f}; JSON: {args.out}")
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
