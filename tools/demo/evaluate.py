#!/usr/bin/env python3
"""Evaluate the demo model as the engine runs it: accuracy per backend on new world images.

    python3 tools/demo/evaluate.py --n 200 --seed 7 --backends naive,blas,int8
    python3 tools/demo/evaluate.py --n 200 --seed 7 --torch          # PyTorch reference instead

Generates ``--n`` new images (world set ``--seed``; the model was trained on set 1 and evaluated
on set 2) into a temporary folder, captions them with every backend through
``swift run -c release clipcapctl caption DIR --model MODEL --backend B --json --decode greedy
--max-tokens 32`` (JSON lines with at least "file" and "captions"), and reports exact-caption
accuracy and per-group (count, colour, shape) accuracy per backend, then whether all backends
wrote the same captions. ``--torch`` captions with tools/demo/caption_torch.py (same JSON lines)
instead of the engine; ``--torch`` together with ``--backends`` compares the engine to PyTorch.

Exit status: 0 if every run produced a caption for every image, 1 otherwise, 2 on usage errors.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from scoring import format_scores, score  # noqa: E402

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class RunError(Exception):
    """A captioning run failed or wrote output we cannot use."""


def parse_json_lines(text: str, source: str) -> dict:
    """{file name: first caption} from JSON-lines output. Lines that are not JSON objects (e.g.
    build chatter) are skipped; an object without "file" or a list "captions" is an error."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise RunError(f"{source}: line {n} is not valid JSON ({e}): {line[:120]}")
        file, caps = obj.get("file"), obj.get("captions")
        if not isinstance(file, str) or not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise RunError(f"{source}: line {n} lacks a string \"file\" or a list of strings \"captions\": {line[:120]}")
        out[os.path.basename(file)] = caps[0] if caps else ""
    return out


def run_command(cmd: list, source: str, timeout: float) -> dict:
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunError(f"{source}: no answer within {timeout:.0f}s: {shlex.join(cmd)}")
    except OSError as e:
        raise RunError(f"{source}: cannot start {cmd[0]} ({e})")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RunError(f"{source}: exit status {proc.returncode}: {shlex.join(cmd)}\n{tail}")
    result = parse_json_lines(proc.stdout, source)
    print(f"{source}: {len(result)} captions in {time.time() - t0:.1f}s", file=sys.stderr)
    return result


def engine_command(args, image_dir: str, backend: str) -> list:
    return shlex.split(args.engine) + ["caption", image_dir, "--model", args.model, "--backend", backend,
                                       "--json", "--decode", "greedy", "--max-tokens", str(args.max_tokens)]


def torch_command(args, image_dir: str) -> list:
    return [sys.executable, os.path.join(REPO, "tools", "demo", "caption_torch.py"), image_dir,
            "--model", args.torch_model, "--json"]


def report(truth: dict, runs: dict) -> bool:
    """Print the scores of every run and the agreement between runs; True if none lacks images."""
    complete = True
    names = sorted(truth)
    for name, preds in runs.items():
        missing = [f for f in names if f not in preds]
        if missing:
            complete = False
            print(f"{name}: no caption for {len(missing)} of {len(names)} images (e.g. {missing[0]})")
        s = score((truth[f], preds.get(f, "")) for f in names)
        print(format_scores(name, s))
        wrong = [(f, truth[f], preds.get(f)) for f in names if preds.get(f) != truth[f]]
        for f, t, p in wrong[:5]:
            print(f"    {f}: true {t}  got {p}")
    if len(runs) > 1:
        ref_name = next(iter(runs))
        ref = runs[ref_name]
        for name, preds in list(runs.items())[1:]:
            diff = [f for f in names if preds.get(f) != ref.get(f)]
            print(f"{name} vs {ref_name}: {len(names) - len(diff)}/{len(names)} identical captions"
                  + (f" (first difference {diff[0]}: {ref.get(diff[0])!r} vs {preds.get(diff[0])!r})" if diff else ""))
        same = all(all(p.get(f) == ref.get(f) for f in names) for p in runs.values())
        print(f"all runs produced the same captions: {'yes' if same else 'no'}")
    return complete


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="number of new images")
    ap.add_argument("--seed", type=int, default=7, help="world set seed (not 1 = training, 2 = train.py's eval)")
    ap.add_argument("--backends", default="", help="comma-separated engine backends, e.g. naive,blas,int8")
    ap.add_argument("--model", default="models/demo.ccm", help="the .ccm file (relative to the repository)")
    ap.add_argument("--engine", default="swift run -c release clipcapctl", help="command that runs clipcapctl")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--torch", action="store_true", help="also caption with the PyTorch model (caption_torch.py)")
    ap.add_argument("--torch-model", default=os.path.join(REPO, "models", "demo-src"))
    ap.add_argument("--keep", metavar="DIR", help="write the images into DIR and keep them")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per run")
    args = ap.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if not backends and not args.torch:
        ap.error("give --backends and/or --torch")
    if args.n < 1:
        ap.error("--n must be >= 1")

    with tempfile.TemporaryDirectory(prefix="clipcap-demo-eval-") as tmp:
        image_dir = os.path.abspath(args.keep) if args.keep else tmp
        rows = world.write_set(image_dir, args.n, args.seed)
        truth = dict(rows)
        print(f"{args.n} images of world set {args.seed} in {image_dir}", file=sys.stderr)
        runs, failed = {}, False
        if args.torch:
            try:
                runs["torch"] = run_command(torch_command(args, image_dir), "torch", args.timeout)
            except RunError as e:
                print(e, file=sys.stderr)
                failed = True
        for b in backends:
            try:
                runs[f"engine/{b}"] = run_command(engine_command(args, image_dir, b), f"engine/{b}", args.timeout)
            except RunError as e:
                print(e, file=sys.stderr)
                failed = True
        complete = report(truth, runs) if runs else False
    return 0 if complete and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
