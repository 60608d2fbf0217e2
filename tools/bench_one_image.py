#!/usr/bin/env python3
"""One image, every phase: clipcap vs ONNX Runtime vs llama.cpp vs this machine's floor, one command.

    python3 tools/bench_one_image.py --model-dir /work/bench-models/full --ccm FULL.ccm --image IMG \\
        [--f16-ccm FULL-F16.ccm] [--llama-cpp LLAMA_DIR] [--limits LIMITS.json] \\
        [--threads 2] [--runs 5] [--tokens 20] [--candidates 5] [--json OUT.json]

Runs, in this order, in one invocation (so the figures share the host's state; the load
average is printed before and after):
  * the floor: tools/machine_limits.py (--repeats 3), unless --limits names its JSON from an
    earlier run on this machine;
  * ours: `clipcapctl bench --backends blas` greedy (1 candidate) and the seed loop
    (--candidates), on --ccm and, with --f16-ccm, on the f16 file; and the same binary with
    CLIPCAP_BLAS_FEW_ROWS=0 (OpenBLAS sgemv/sgemm for the few-row products: the path before
    the AVX2 few-row kernels on CPUs without AVX-512) as a same-run baseline;
  * ONNX Runtime: tools/bench_onnx.py (its own export of the same weights, fp32);
  * llama.cpp, with --llama-cpp: tools/bench_llamacpp.py (GPT-2 prefill and decode only; f32 and
    f16 GGUF of the same weights).
Floors per phase, from the limits JSON: CLIP = 8.82 GFLOP at the best 2-thread ViT-shape sgemm;
mapper = its weights' bytes at the read bandwidth; prefill of 10 rows = the larger of one read
of the decoder's weights and 2*10*weights flops at the sgemm rate; decode = one read of the
weights (f32 or f16 bytes); the caption = CLIP + mapper + prefill + (tokens-1) decode steps; the
seed loop likewise (a 5-row step still reads the weights once). "x floor" = ours / floor (1.0
is the floor; the issue's goal is at most 1.2); "x peer" = peer / ours (above 1: we are faster).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import add_shared_arguments, ours_bench  # noqa: E402
from machine_limits import DECODE_WEIGHTS  # noqa: E402

# The ClipCap MLP mapper of tools/make_fullsize_model.py: 512 -> 3840 -> 7680 (10 x 768).
MAPPER_WEIGHTS = 512 * 3840 + 3840 * 7680
PREFIX_ROWS = 10

PHASES = [  # (key in `clipcapctl bench`'s phases, label)
    ("image_encoder", "CLIP encode (ms)"),
    ("mapper", "mapper (ms)"),
    ("prefill", "GPT-2 prefill, 10 rows (ms)"),
    ("ms_per_token", "GPT-2 decode (ms/token)"),
    ("total", "JPEG -> greedy caption, warm (ms)"),
    ("seed", "seed loop (ms)"),
]


def floors(limits, tokens, weight_bytes):
    """Each phase's floor in ms; `weight_bytes` = bytes per decoder weight (4 f32, 2 f16)."""
    f = limits["floors"]
    bw = f["read_bw_2t_gbs"] * 1e9
    sgemm = f["sgemm_vit_2t_gflops"] * 1e9
    decode = DECODE_WEIGHTS * weight_bytes / bw * 1e3
    out = {
        "image_encoder": f["clip_encode_ms"],
        "mapper": MAPPER_WEIGHTS * weight_bytes / bw * 1e3,
        "prefill": max(decode, 2 * PREFIX_ROWS * DECODE_WEIGHTS / sgemm * 1e3),
        "ms_per_token": decode,
    }
    out["total"] = out["image_encoder"] + out["mapper"] + out["prefill"] + (tokens - 1) * decode
    out["seed"] = out["total"]
    return out


def run_script(args_list):
    """Runs one of the peer scripts (output passed through to stderr) and returns its --json."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        path = tmp.name
    try:
        subprocess.run([sys.executable] + args_list + ["--json", path], check=True, stdout=sys.stderr)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    finally:
        os.unlink(path)


def ours(args, ccm, env_extra=None):
    """{phase: median} for greedy and the seed loop on one file (blas)."""
    saved = {k: os.environ.get(k) for k in (env_extra or {})}
    os.environ.update(env_extra or {})
    try:
        greedy, cmd1 = ours_bench(args.clipcapctl, ccm, args.image, "blas", args.threads, args.runs, args.tokens, 1)
        seed, cmd2 = ours_bench(args.clipcapctl, ccm, args.image, "blas", args.threads, args.runs, args.tokens,
                                args.candidates)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    p = greedy["phases"]
    figures = {key: p[key]["median"] for key, _ in PHASES if key in p}
    figures["seed"] = seed["phases"]["total"]["median"]
    prefix = " ".join(f"{k}={v}" for k, v in (env_extra or {}).items())
    return figures, [f"{prefix} {cmd1}".strip(), f"{prefix} {cmd2}".strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared_arguments(ap)
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--f16-ccm", help="our f16 file of the same weights (`clipcapctl convert --dtype f16`)")
    ap.add_argument("--llama-cpp", help="llama.cpp tree with build/bin/llama-bench (see bench_llamacpp.py)")
    ap.add_argument("--limits", help="tools/machine_limits.py's JSON from this machine (else it is run now)")
    ap.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    ap.add_argument("--json", help="also write every figure here")
    args = ap.parse_args()

    load_before = os.getloadavg()
    if args.limits:
        with open(args.limits, encoding="utf-8") as f:
            limits = json.load(f)
    else:
        limits = run_script([os.path.join(HERE, "machine_limits.py"), "--repeats", "3"])
    columns, commands = {}, []
    columns["ours"], cmds = ours(args, args.ccm)
    commands += cmds
    columns["ours, OpenBLAS few-row (before)"], cmds = ours(args, args.ccm, {"CLIPCAP_BLAS_FEW_ROWS": "0"})
    commands += cmds
    if args.f16_ccm:
        columns["ours f16 file"], cmds = ours(args, args.f16_ccm)
        commands += cmds
    shared = ["--model-dir", args.model_dir, "--ccm", args.ccm, "--image", args.image, "--threads", str(args.threads),
              "--runs", str(args.runs), "--tokens", str(args.tokens), "--clipcapctl", args.clipcapctl]
    if not args.no_onnx:
        ort = run_script([os.path.join(HERE, "bench_onnx.py")] + shared + ["--candidates", str(args.candidates)])
        keys = [key for key, _ in PHASES]
        columns["ONNX Runtime"] = {keys[i]: row[1] for i, row in enumerate(ort["rows"])}
    if args.llama_cpp:
        llama = run_script([os.path.join(HERE, "bench_llamacpp.py")] + shared + ["--llama-cpp", args.llama_cpp])
        for dtype, prefill, decode, *_ in llama["rows"]:
            columns[f"llama.cpp {dtype}"] = {"prefill": prefill, "ms_per_token": decode}
    load_after = os.getloadavg()

    floor32 = floors(limits, args.tokens, 4)
    floor16 = floors(limits, args.tokens, 2)
    names = list(columns)
    print(f"\n{limits.get('cpu', '?')}, caches {limits.get('caches', {})}, {args.threads} threads, {args.runs} runs; "
          f"load {load_before[0]:.1f} -> {load_after[0]:.1f}; floors from "
          f"{'machine_limits.py (this run)' if not args.limits else args.limits}: read "
          f"{limits['floors']['read_bw_2t_gbs']:.1f} GB/s, sgemm {limits['floors']['sgemm_vit_2t_gflops']:.0f} GFLOP/s")
    print("| phase | " + " | ".join(names) + " | floor f32 | ours x floor | floor f16 | f16 x floor |")
    print("| --- |" + " ---: |" * (len(names) + 4))
    table = []
    for key, label in PHASES:
        cells = [columns[n].get(key) for n in names]
        mine = columns["ours"].get(key)
        mine16 = columns.get("ours f16 file", {}).get(key)
        row = {"phase": key, "label": label, "floor_f32": floor32[key], "floor_f16": floor16[key],
               **{n: columns[n].get(key) for n in names}}
        table.append(row)
        fmt = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
        print(f"| {label} | " + " | ".join(fmt(c) for c in cells) + f" | {floor32[key]:.1f} | "
              f"{fmt(mine / floor32[key]) if mine else ''} | {floor16[key]:.1f} | "
              f"{fmt(mine16 / floor16[key]) if mine16 else ''} |")
    print("\nx peer = peer / ours (above 1: we are faster)")
    for n in names:
        if n == "ours":
            continue
        base = "ours f16 file" if n == "llama.cpp f16" and "ours f16 file" in columns else "ours"
        ratios = [f"{key} {columns[n][key] / columns[base][key]:.2f}" for key, _ in PHASES
                  if columns[n].get(key) and columns[base].get(key)]
        print(f"  {n} vs {base}: " + ", ".join(ratios))
    print("commands:\n  " + "\n  ".join(commands))
    if args.json:
        out = {"cpu": limits.get("cpu"), "caches": limits.get("caches"), "threads": args.threads, "runs": args.runs,
               "tokens": args.tokens, "candidates": args.candidates, "load_before": load_before,
               "load_after": load_after, "floors_source": args.limits or "this run", "limits": limits["floors"],
               "columns": columns, "table": table, "commands": commands}
        with open(args.json + ".tmp", "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
