"""What the side-by-side benchmarks (bench_torch.py, bench_onnx.py, bench_llamacpp.py) share:
their common options and the way they run our side (`clipcapctl bench --json`)."""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CLIPCAPCTL = os.path.join(ROOT, ".build", "release", "clipcapctl")


def add_shared_arguments(ap, clipcapctl=DEFAULT_CLIPCAPCTL):
    """The options every side-by-side benchmark takes: the same weights, image and amount of work."""
    ap.add_argument("--model-dir", required=True, help="folder from tools/make_fullsize_model.py")
    ap.add_argument("--ccm", required=True, help="our model file of the same weights")
    ap.add_argument("--image", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="measured runs (medians are reported)")
    ap.add_argument("--tokens", type=int, default=20, help="tokens every timed caption decodes")
    ap.add_argument("--clipcapctl", default=clipcapctl)


def run_json(cmd):
    """Runs `cmd` and returns its stdout's JSON lines."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def ours_bench(exe, ccm, image, backend, threads, runs, tokens, candidates, flags=()):
    """One `clipcapctl bench --json` run of one backend: (its result object, the command line)."""
    cmd = [exe, "bench", image, "--model", ccm, "--backends", backend, "--threads", str(threads),
           "--runs", str(runs), "--tokens", str(tokens), "--candidates", str(candidates), "--json", *flags]
    return run_json(cmd)[-1]["results"][0], " ".join(cmd)
