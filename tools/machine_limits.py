#!/usr/bin/env python3
"""Measures this machine's physical limits, to show each captioning phase as a fraction of its floor.

    python3 tools/machine_limits.py [--repeats 5] [--json OUT.json]

What it measures (every figure: best and median of --repeats passes, 1 and 2 threads):
  * fp32 FMA peak, AVX2 (ymm) and AVX-512 (zmm): tools/machine_limits_probe.c, compiled to /tmp;
  * memory read bandwidth: the probe summing a 1 GiB float array (past any L3 seen so far), a
    400 MiB one (about GPT-2's fp32 decode weights: partly served by a large L3) and a 100 MiB
    one (about the int8 decode weights: fits a large L3), with 1 and with 8 interleaved streams per
    thread (one stream is limited by the misses one core keeps in flight);
  * sgemm with numpy's own OpenBLAS (scipy-openblas 0.3.31): 1024^3 and the ViT-B/32 shapes
    (M = 50 tokens: q/k/v/out 768x768, fc1 768x3072, fc2 3072x768), weights [in][out] (NN)
    and [out][in] (NT). Run in a child process with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
    removed from its environment (this workplace may set them; they slow a current numpy),
    OPENBLAS_NUM_THREADS = 1 or 2; the kernel OpenBLAS picked is reported;
  * the same shapes with the system OpenBLAS 0.3.21 the engine links (libopenblas.so.0,
    through ctypes), with the core type the engine's BLAS backend would run (CoreSelection,
    docs/BACKENDS.md): OpenBLAS's own choice, unless that is a pre-AVX2 fallback (e.g.
    "Prescott" on a Xeon it does not know) on a CPU with AVX2 + FMA, then SkylakeX where the
    CPU has AVX-512 and Haswell otherwise (forcing SkylakeX on a CPU without AVX-512, e.g. a
    Zen 3, killed the child with SIGILL); plus sgemv for every GPT-2 decode matrix, once
    warm (the same matrix again and again) and once cold: a full decode step's 101 M weights
    (405 MB) walked in order, which the L3 cannot hold; and the same walk through sgemm with
    M = 5 and 10 rows (what a seed-loop step and the prefill do).
Derived floors (printed and in the JSON): CLIP encode = 8.82 GFLOP / best 2-thread ViT-shape
sgemm; GPT-2 decode token = weight bytes / the best 2-thread rate at which anything here read a
working set of that size (the probe on 400 MiB, or sgemv over a whole decode step; never below
the 1 GiB DRAM rate). int8 (`clipcapctl quantize` also gives the LM head an int8 copy of wte):
a token reads 101 MB of int8 weights (+0.3 MB of scales), at the 100 MiB working-set rate;
an f16 file's token reads 203 MB, at the fp32 decode rate. The JSON also records the CPU's
model, flags that matter (avx2, fma, f16c, avx512f, avx512_vnni) and cache sizes (from
/sys/devices/system/cpu/cpu0/cache), so each floor names the machine it belongs to.
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_SRC = os.path.join(HERE, "machine_limits_probe.c")
PROBE_BIN = os.path.join(tempfile.gettempdir(), "clipcap_machine_limits_probe")

CLIP_GFLOP = 8.82
# ViT-B/32 linear layers per block at M = 50 tokens: (K, N, count per block).
VIT_SHAPES = [(768, 768, 4), (768, 3072, 1), (3072, 768, 1)]
# GPT-2 (12 layers, 768, vocab 21128) matrices read per decode token: (K, N, count).
DECODE_SHAPES = [(768, 2304, 12), (768, 768, 12), (768, 3072, 12), (3072, 768, 12), (768, 21128, 1)]
DECODE_WEIGHTS = sum(k * n * c for k, n, c in DECODE_SHAPES)


def run_probe(args):
    out = subprocess.run([PROBE_BIN] + [str(a) for a in args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def stats(values):
    return {"best": max(values), "median": statistics.median(values), "min": min(values), "n": len(values)}


def probe_limits(repeats):
    subprocess.run(["cc", "-O3", "-pthread", PROBE_SRC, "-o", PROBE_BIN], check=True)
    out = {}
    flags = cpu_flags()
    for isa in ("avx2", "avx512"):
        if isa == "avx512" and "avx512f" not in flags:
            continue  # the probe would only report "no avx512f"
        for t in (1, 2):
            vals = [run_probe(["fma", t, isa]).get("gflops", 0.0) for _ in range(repeats)]
            out[f"fma_{isa}_{t}t_gflops"] = stats(vals)
    for mib in (1024, 400, 100):
        for t in (1, 2):
            for streams in (1, 8):
                r = [run_probe(["bw", t, mib, 5, streams]) for _ in range(repeats)]
                out[f"read_{mib}mib_{t}t_{streams}s_gbs"] = stats([x["best_gbs"] for x in r])
    return out


# ------------------------------------------------------------------------------------------
# sgemm in a child process (so the BLAS environment is that child's alone)
# ------------------------------------------------------------------------------------------

CHILD = r'''
import ctypes, json, os, sys, time, statistics
import numpy as np
which, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
VIT = %(vit)r
DEC = %(dec)r
rng = np.random.default_rng(0)
res = {}

def best_time(fn, min_time=0.25):
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < 3 or time.perf_counter() < t_end:
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return min(times)

if which == "numpy":
    lib = [p for p in os.listdir(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")) if "openblas" in p][0]
    so = ctypes.CDLL(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", lib))
    so.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
    so.scipy_openblas_get_config64_.restype = ctypes.c_char_p
    res["core"] = so.scipy_openblas_get_corename64_().decode()
    res["config"] = so.scipy_openblas_get_config64_().decode()
    def gemm(m, k, n, nt):
        a = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((n, k) if nt else (k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        if nt:
            return best_time(lambda: np.matmul(a, w.T, out=c))
        return best_time(lambda: np.matmul(a, w, out=c))
    gemv = None
else:
    so = ctypes.CDLL("libopenblas.so.0")
    so.openblas_get_corename.restype = ctypes.c_char_p
    so.openblas_get_config.restype = ctypes.c_char_p
    res["core"] = so.openblas_get_corename().decode()
    res["config"] = so.openblas_get_config().decode()
    P = ctypes.POINTER(ctypes.c_float)
    F = ctypes.c_float
    RowMajor, NoTrans, Trans = 101, 111, 112
    def ptr(x): return x.ctypes.data_as(P)
    def gemm(m, k, n, nt):
        a = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((n, k) if nt else (k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        pa, pw, pc = ptr(a), ptr(w), ptr(c)
        tb = Trans if nt else NoTrans
        ldb = k if nt else n
        return best_time(lambda: so.cblas_sgemm(RowMajor, NoTrans, tb, m, n, k, F(1), pa, k, pw, ldb, F(0), pc, n))
    def gemv_io(w, x, y, k, n):
        # y[n] = x[k] @ W[k][n]  ==  W^T x, W row-major [k][n]
        so.cblas_sgemv(RowMajor, Trans, k, n, F(1), ptr(w), n, ptr(x), 1, F(0), ptr(y), 1)
    gemv = gemv_io

res["gemm_1024_gflops"] = 2 * 1024**3 / gemm(1024, 1024, 1024, False) * 1e-9
for layout in ("nn", "nt"):
    flops = secs = 0.0
    for k, n, count in VIT:
        t = gemm(50, k, n, layout == "nt")
        res[f"vit_{layout}_{k}x{n}_gflops"] = 2 * 50 * k * n / t * 1e-9
        flops += 2 * 50 * k * n * count; secs += t * count
    res[f"vit_{layout}_mix_gflops"] = flops / secs * 1e-9

if gemv is not None:
    # Warm: one matrix again and again (it may sit in L2/L3).
    for k, n, count in DEC:
        w = rng.standard_normal((k, n), dtype=np.float32); x = rng.standard_normal(k, dtype=np.float32); y = np.empty(n, np.float32)
        t = best_time(lambda: gemv(w, x, y, k, n))
        res[f"gemv_warm_{k}x{n}_gbs"] = k * n * 4 / t * 1e-9
    # Cold: one decode step's matrices, distinct buffers, walked in order (405 MB > L3).
    mats = []
    for k, n, count in DEC:
        for _ in range(count):
            mats.append((rng.standard_normal((k, n), dtype=np.float32), k, n))
    xs = {k: rng.standard_normal(k, dtype=np.float32) for k in (768, 3072)}
    ys = {n: np.empty(n, np.float32) for n in (768, 2304, 3072, 21128)}
    def step():
        for w, k, n in mats:
            gemv(w, xs[k], ys[n], k, n)
    step()
    times = []
    for _ in range(max(3, repeats)):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    total = sum(w.nbytes for w, _, _ in mats)
    # The same walk with M = 5 and 10 rows through sgemm (seed-loop steps, prefill): at these M
    # a pass should still cost about one read of the weights.
    for m in (5, 10):
        xm = {k: rng.standard_normal((m, k), dtype=np.float32) for k in (768, 3072)}
        ym = {n: np.empty((m, n), np.float32) for n in (768, 2304, 3072, 21128)}
        def step_m():
            for w, k, n in mats:
                so.cblas_sgemm(RowMajor, NoTrans, NoTrans, m, n, k, F(1), ptr(xm[k]), k, ptr(w), n, F(0), ptr(ym[n]), n)
        step_m()
        tm = []
        for _ in range(3):
            t0 = time.perf_counter(); step_m(); tm.append(time.perf_counter() - t0)
        res[f"decode_step_sgemm_m{m}_ms_best"] = min(tm) * 1e3
    res["decode_step_sgemv_ms_best"] = min(times) * 1e3
    res["decode_step_sgemv_ms_median"] = statistics.median(times) * 1e3
    res["decode_step_sgemv_gbs_best"] = total / min(times) * 1e-9
    res["decode_step_bytes"] = total
print(json.dumps(res))
''' % {"vit": VIT_SHAPES, "dec": DECODE_SHAPES}


# OpenBLAS cores without AVX2 kernels: Sources/Backends/BLAS/Support/CoreSelection.swift's list.
FALLBACK_CORES = {
    "prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "atom", "nano",
    "katmai", "coppermine", "northwood", "banias", "athlon", "opteron", "opteron_sse3",
    "barcelona", "bobcat", "bulldozer", "piledriver", "steamroller", "unknown",
}


def system_core_type():
    """The OPENBLAS_CORETYPE the engine's BLAS backend would set on this CPU, or None when it
    keeps OpenBLAS's own choice (CoreSelection.select: only a pre-AVX2 fallback is replaced)."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return os.environ["OPENBLAS_CORETYPE"]  # the engine honours a user's setting too
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    probe = "import ctypes; so = ctypes.CDLL('libopenblas.so.0'); " \
            "so.openblas_get_corename.restype = ctypes.c_char_p; print(so.openblas_get_corename().decode())"
    own = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True,
                         text=True).stdout.strip()
    flags = cpu_flags()
    if own.lower() not in FALLBACK_CORES or not {"avx2", "fma"} <= flags:
        return None
    return "SkylakeX" if {"avx512f", "avx512dq", "avx512vl", "avx512bw"} <= flags else "Haswell"


def blas_child(which, threads, repeats):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    if which == "system":
        core = system_core_type()
        if core:
            env["OPENBLAS_CORETYPE"] = core
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(threads), str(repeats)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def blas_limits(repeats):
    out = {}
    for which in ("numpy", "system"):
        for t in (1, 2):
            runs = [blas_child(which, t, repeats) for _ in range(repeats)]
            merged = {"core": runs[0]["core"], "config": runs[0]["config"]}
            for key in runs[0]:
                if key in ("core", "config", "decode_step_bytes"):
                    continue
                vals = [r[key] for r in runs]
                merged[key] = stats(vals) if not key.endswith("_ms_best") and not key.endswith("_ms_median") else \
                    {"best": min(vals), "median": statistics.median(vals), "n": len(vals)}
            if "decode_step_bytes" in runs[0]:
                merged["decode_step_bytes"] = runs[0]["decode_step_bytes"]
            out[f"{which}_{t}t"] = merged
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    started = time.time()
    load_before = os.getloadavg()
    result = {"cpu": cpu_name(), "cpu_flags": sorted(cpu_flags() & INTERESTING_FLAGS),
              "caches": cache_sizes(), "cpus": os.cpu_count(), "load_before": load_before}
    result["probe"] = probe_limits(args.repeats)
    result["blas"] = blas_limits(args.repeats)
    result["load_after"] = os.getloadavg()
    result["seconds"] = round(time.time() - started, 1)

    # Floors: the best 2-thread figures (peaks are best-of by nature).
    sgemm_vit = max(result["blas"]["numpy_2t"]["vit_nn_mix_gflops"]["best"], result["blas"]["system_2t"]["vit_nn_mix_gflops"]["best"])
    p = result["probe"]
    dram = max(p[f"read_1024mib_2t_{s}s_gbs"]["best"] for s in (1, 8))
    # The decode working set (405 MB) partly stays in a large L3 (260 MiB on the Xeons), and OpenBLAS's sgemv
    # walking a whole decode step reads it faster than the probe: take the best of both.
    sgemv_step = result["blas"]["system_2t"]["decode_step_sgemv_gbs_best"]["best"]
    bw = max(dram, sgemv_step, max(p[f"read_400mib_2t_{s}s_gbs"]["best"] for s in (1, 8)))
    bw_small = max(bw, max(p[f"read_100mib_2t_{s}s_gbs"]["best"] for s in (1, 8)))
    result["floors"] = {
        "sgemm_vit_2t_gflops": sgemm_vit,
        "dram_read_2t_gbs": dram,
        "read_bw_2t_gbs": bw,
        "read_bw_100mib_2t_gbs": bw_small,
        "clip_encode_ms": CLIP_GFLOP / sgemm_vit * 1e3,
        "decode_weights": DECODE_WEIGHTS,
        "decode_token_fp32_ms": DECODE_WEIGHTS * 4 / (bw * 1e9) * 1e3,
        "decode_token_int8_ms": DECODE_WEIGHTS / (bw_small * 1e9) * 1e3,
        "decode_token_f16_ms": DECODE_WEIGHTS * 2 / (bw * 1e9) * 1e3,
    }
    text = json.dumps(result, indent=1)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.json)
    print(text)


INTERESTING_FLAGS = {"avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512vl", "avx512bw",
                     "avx512_vnni", "avx512_bf16", "avx_vnni"}


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cache_sizes():
    """{"L1d": bytes, "L2": bytes, "L3": bytes} of cpu0, from sysfs (what the kernels' own
    selection reads); empty where sysfs has no cache directory."""
    out = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return out
    for entry in entries:
        if not entry.startswith("index"):
            continue
        try:
            def read(name):
                with open(os.path.join(base, entry, name)) as f:
                    return f.read().strip()
            kind, level, size = read("type"), read("level"), read("size")
        except OSError:
            continue
        if kind == "Instruction":
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        value = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
        out[f"L{level}{'d' if level == '1' else ''}"] = value
    return out


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
