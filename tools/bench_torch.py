#!/usr/bin/env python3
"""Side-by-side benchmark: PyTorch vs clipcap on the SAME full-size weights and the SAME work.

    python3 tools/bench_torch.py --model-dir /work/bench-models/full --ccm /work/bench-models/full.ccm \
        --image IMG [--threads 2] [--runs 5] [--tokens 20] [--candidates 5] [--backends blas,int8] \
        [--clipcapctl PATH] [--limits limits.json] [--json OUT.json]

The model folder comes from tools/make_fullsize_model.py; --limits from tools/machine_limits.py
(adds each phase's physical floor). One invocation measures, for both engines:

  phase                              PyTorch (fp32, torch.inference_mode,       ours (`clipcapctl bench --json`,
                                     torch.set_num_threads(N))                  one process per backend)
  JPEG decode                        PIL open + load + RGB                      decode_image
  preprocess                         clip's preprocess (resize bicubic, crop,   preprocess
                                     normalise)
  CLIP encode                        clip_model.encode_image (fp32)             image_encoder
  CLIP encode incl. preprocessing    preprocess + encode_image                  preprocess + image_encoder (medians)
  mapper                             clip_project (MLP)                         mapper
  GPT-2 prefill (10 prefix vectors)  gpt2(inputs_embeds, use_cache=True,        prefill
                                     logits_to_keep=1)
  GPT-2 decode ms/token              HF KV cache (use_cache=True), greedy,      ms_per_token
                                     time of the --tokens - 1 cached steps /
                                     their count (argmax included)
  JPEG -> greedy caption, warm       all of the above + detokenise              total (--candidates 1)
  seed loop                          the seed's way: batch of --candidates,     total (--candidates N: batched,
                                     NO KV cache (the whole sequence            KV cache, top-p 0.8)
                                     recomputed each step), top-p 0.8 with
                                     HF's top_k_top_p_filtering, multinomial;
                                     from the JPEG
  fresh process -> first caption     wall time of a fresh `python -c` that      wall time of a fresh
                                     imports torch/transformers/clip, loads     `clipcapctl caption IMG
                                     the model and captions IMG (greedy,        --max-tokens T` process
                                     KV cache, stop at [SEP])
  peak RSS                           ru_maxrss of that fresh process            bench's peak_rss_mib (+ anon/file)

Every timed run decodes exactly --tokens tokens: stop tokens are banned until then in both
engines (the bench does that with minTokens). The greedy caption check runs both engines with
[UNK] banned and [SEP] as the stop, up to --tokens, and compares the token ids.
Medians over --runs measured runs after one warm-up; the machine's load average is recorded.

    python3 tools/bench_torch.py --trace-tables TRACE.json [...]

prints per-phase op tables (image encoder, mapper, prefill, one decode step) with GFLOP/s and
GB/s from `clipcapctl profile --trace` files.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_common import add_shared_arguments, ours_bench, run_json  # noqa: E402

UNK, CLS, SEP, PAD = 100, 101, 102, 0
TOP_P = 0.8
CLIP_GFLOP = 8.82


def ms(t0, t1):
    return (t1 - t0) * 1e3


def med(values):
    return statistics.median(values) if values else float("nan")


# ------------------------------------------------------------------------------------------
# PyTorch side
# ------------------------------------------------------------------------------------------

class TorchRunner:
    """The PyTorch pipeline on the benchmark model, phase by phase."""

    def __init__(self, model_dir, threads):
        import torch
        import make_fullsize_model as mfm
        self.torch = torch
        torch.set_num_threads(threads)
        self.clip, self.preprocess, self.model, self.vocab = mfm.load_models(model_dir, threads)
        self.wte = self.model.gpt2.transformer.wte

    def decode_jpeg(self, path):
        from PIL import Image
        img = Image.open(path)
        img.load()
        return img.convert("RGB")

    def greedy(self, prefix, tokens, stop_at_sep):
        """HF KV cache greedy; returns ids, prefill ms, per-step ms list."""
        torch = self.torch
        lm = self.model.gpt2
        t0 = time.perf_counter()
        out = lm(inputs_embeds=prefix, use_cache=True, logits_to_keep=1)
        cache, logits = out.cache, out.logits[:, -1, :]
        ids, steps = [], []
        t_prefill = time.perf_counter()
        while True:
            logits = logits.clone()
            logits[:, UNK] = -float("inf")
            if not stop_at_sep:
                logits[:, SEP] = -float("inf")
            tok = int(torch.argmax(logits, dim=-1)[0])
            if stop_at_sep and tok == SEP:
                break
            ids.append(tok)
            if len(ids) >= tokens:
                break
            s0 = time.perf_counter()
            out = lm(input_ids=torch.tensor([[tok]]), cache=cache, use_cache=True)
            cache, logits = out.cache, out.logits[:, -1, :]
            steps.append(ms(s0, time.perf_counter()))
        t_end = time.perf_counter()
        return ids, ms(t0, t_prefill), ms(t_prefill, t_end)

    def caption_greedy(self, path, tokens, stop_at_sep=False):
        """JPEG -> greedy caption; returns (ids, text, timings dict)."""
        torch = self.torch
        with torch.inference_mode():
            t0 = time.perf_counter()
            img = self.decode_jpeg(path)
            t1 = time.perf_counter()
            x = self.preprocess(img).unsqueeze(0)
            t2 = time.perf_counter()
            emb = self.clip.encode_image(x)
            t3 = time.perf_counter()
            prefix = self.model.prefix(emb)
            t4 = time.perf_counter()
            ids, prefill, decode = self.greedy(prefix, tokens, stop_at_sep)
            text = self.detokenize(ids)
            t5 = time.perf_counter()
        steps = max(len(ids) - 1, 1)
        return ids, text, {"decode_image": ms(t0, t1), "preprocess": ms(t1, t2), "image_encoder": ms(t2, t3),
                           "mapper": ms(t3, t4), "prefill": prefill, "decode": decode, "ms_per_token": decode / steps,
                           "total": ms(t0, t5)}

    def seed_loop(self, path, candidates, tokens, seed=1):
        """The seed's generate(): batch of candidates, no KV cache, top-p 0.8, multinomial."""
        torch = self.torch
        import torch.nn.functional as F
        torch.manual_seed(seed)
        lm = self.model.gpt2
        with torch.inference_mode():
            t0 = time.perf_counter()
            x = self.preprocess(self.decode_jpeg(path)).unsqueeze(0)
            emb = self.clip.encode_image(x)
            emb = emb.unsqueeze(1).repeat(1, candidates, 1).view(-1, emb.size(-1))
            inputs_embeds = self.model.prefix(emb)
            captions = [[] for _ in range(candidates)]
            for step in range(tokens):
                logits = lm(inputs_embeds=inputs_embeds).logits
                next_logits = logits[:, -1, :] / 1.0
                next_logits[:, UNK] = -float("inf")
                next_logits[:, SEP] = -float("inf")  # equal work: exactly `tokens` tokens
                next_logits = top_p_filtering(next_logits, TOP_P)
                next_ids = torch.multinomial(F.softmax(next_logits, dim=-1), num_samples=1).squeeze(1)
                for i, t in enumerate(next_ids.tolist()):
                    captions[i].append(t)
                if step + 1 == tokens:
                    break
                inputs_embeds = torch.cat((inputs_embeds, self.wte(next_ids).unsqueeze(1)), dim=1)
            texts = [self.detokenize(c) for c in captions]
            t1 = time.perf_counter()
        return texts, ms(t0, t1)

    def detokenize(self, ids):
        out = []
        for i in ids:
            if i in (PAD, UNK, CLS, SEP):
                continue
            tok = self.vocab[i]
            out.append(tok[2:] if tok.startswith("##") else tok)
        return "".join(out)


def top_p_filtering(logits, top_p, filter_value=-float("inf")):
    """Hugging Face's top_k_top_p_filtering (top-p part), as ClipCap-Chinese copies it."""
    import torch
    import torch.nn.functional as F
    sorted_logits, sorted_indices = torch.sort(logits, descending=True)
    cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
    remove = cumulative_probs > top_p
    remove[..., 1:] = remove[..., :-1].clone()
    remove[..., 0] = False
    indices_to_remove = remove.scatter(1, sorted_indices, remove)
    return logits.masked_fill(indices_to_remove, filter_value)


FRESH_TORCH = r'''
import sys, time, resource
t_start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import torch, transformers, clip
import make_fullsize_model as mfm
from PIL import Image
model_dir, image, threads, tokens = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
t_import = time.perf_counter()
clip_model, preprocess, model, vocab = mfm.load_models(model_dir, threads)
t_load = time.perf_counter()
with torch.inference_mode():
    x = preprocess(Image.open(image).convert("RGB")).unsqueeze(0)
    prefix = model.prefix(clip_model.encode_image(x))
    out = model.gpt2(inputs_embeds=prefix, use_cache=True, logits_to_keep=1)
    ids = []
    while True:
        logits = out.logits[:, -1, :].clone()
        logits[:, 100] = -float("inf")
        tok = int(torch.argmax(logits, dim=-1)[0])
        if tok == 102:
            break
        ids.append(tok)
        if len(ids) >= tokens:
            break
        out = model.gpt2(input_ids=torch.tensor([[tok]]), cache=out.cache, use_cache=True)
text = "".join(vocab[i][2:] if vocab[i].startswith("##") else vocab[i] for i in ids)
t_end = time.perf_counter()
print(text, flush=True)
print("FRESH", (t_import - t_start) * 1e3, (t_load - t_import) * 1e3, (t_end - t_load) * 1e3,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, flush=True)
'''


def fresh_torch(model_dir, image, threads, tokens):
    """Wall time of a fresh Python process to its first caption, and its peak RSS."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FRESH_TORCH, HERE, model_dir, image, str(threads), str(tokens)],
                         check=True, capture_output=True, text=True).stdout
    wall = ms(t0, time.perf_counter())
    line = [l for l in out.splitlines() if l.startswith("FRESH")][-1].split()
    return {"wall_ms": wall, "import_ms": float(line[1]), "load_ms": float(line[2]), "caption_ms": float(line[3]),
            "peak_rss_mib": float(line[4]), "caption": out.splitlines()[0]}


# ------------------------------------------------------------------------------------------
# Our side
# ------------------------------------------------------------------------------------------

def backend_and_flags(label):
    """'blas' -> ('blas', []); 'blas-lowmem' -> ('blas', ['--low-memory']); 'blas-keep' ->
    ('blas', ['--keep-weights']); 'blas-f16' -> ('blas', []) on --f16-ccm (each a column of
    its own)."""
    if label.endswith("-f16"):
        return label[: -len("-f16")], []
    if label.endswith("-lowmem"):
        return label[: -len("-lowmem")], ["--low-memory"]
    if label.endswith("-keep"):
        return label[: -len("-keep")], ["--keep-weights"]
    return label, []


def ours_fresh(exe, ccm, image, threads, tokens, backend):
    name, flags = backend_and_flags(backend)
    cmd = [exe, "caption", image, "--model", ccm, "--threads", str(threads), "--max-tokens", str(tokens),
           "--backend", name, "--json"] + flags
    t0 = time.perf_counter()
    rows = run_json(cmd)
    return {"wall_ms": ms(t0, time.perf_counter()), "token_ids": rows[-1]["token_ids"][0], "caption": rows[-1]["captions"][0],
            "timings_ms": rows[-1]["timings_ms"]}, " ".join(cmd)


def phase(result, name):
    return (result.get("phases", {}).get(name) or {}).get("median", float("nan"))


# ------------------------------------------------------------------------------------------

def floors(limits, backend):
    """Physical floors (ms) from tools/machine_limits.py's JSON, for one of our backends."""
    if not limits:
        return None
    f = limits["floors"]
    bw = f["read_bw_2t_gbs"] * 1e9
    int8 = backend_and_flags(backend)[0] == "int8"
    decode = f["decode_token_int8_ms"] if int8 else f["decode_token_fp32_ms"]
    mapper = 31468800 * (1 if int8 else 4) / bw * 1e3
    return {"clip": f["clip_encode_ms"], "decode": decode, "mapper": mapper}


def trace_tables(path, top=8):
    """Per-phase op tables from a `clipcapctl profile --trace` file: the image encoder, the
    mapper, the prefill, and one decode step (mean over all recorded decode_step_* phases).
    GFLOP/s and GB/s use the profiler's own per-node flops/bytes (for gather, bytes counts the
    whole table, so its GB/s means nothing)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    groups = {}
    phase_counts = {}
    for e in events:
        if e.get("ph") != "X":
            continue
        if e.get("cat") == "phase":
            name = "decode_step" if e["name"].startswith("decode_step_") else e["name"]
            phase_counts[name] = phase_counts.get(name, 0) + 1
            continue
        a = e.get("args", {})
        ph = a.get("phase", "?")
        ph = "decode_step" if ph.startswith("decode_step_") else ph
        g = groups.setdefault(ph, {"ops": {}, "nodes": {}})
        for table, key in ((g["ops"], a.get("op", e.get("cat"))), (g["nodes"], a.get("graph", "") + "/" + e["name"])):
            row = table.setdefault(key, {"calls": 0, "us": 0.0, "flops": 0.0, "bytes": 0.0, "op": a.get("op")})
            row["calls"] += 1
            row["us"] += e["dur"]
            row["flops"] += a.get("flops", 0)
            row["bytes"] += a.get("bytes", 0)
    lines = []
    for ph in ("image_encoder", "mapper", "prefill", "decode_step"):
        if ph not in groups:
            continue
        n = max(phase_counts.get(ph, 1), 1)
        g = groups[ph]
        total = sum(r["us"] for r in g["ops"].values())
        unit = "per decode step" if ph == "decode_step" else "per run"
        lines.append(f"\n{ph}: {total / n / 1e3:.2f} ms in nodes {unit} (mean of {n})")
        lines.append("| op | calls | ms | % | GFLOP/s | GB/s |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for op, r in sorted(g["ops"].items(), key=lambda kv: -kv[1]["us"]):
            lines.append(f"| {op} | {r['calls'] / n:.0f} | {r['us'] / n / 1e3:.2f} | {r['us'] / total * 100:.1f} | "
                         f"{r['flops'] / r['us'] / 1e3:.1f} | {r['bytes'] / r['us'] / 1e3:.1f} |")
        lines.append(f"top nodes ({unit}):")
        lines.append("| node | op | ms | % | GFLOP/s | GB/s |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: |")
        for node, r in sorted(g["nodes"].items(), key=lambda kv: -kv[1]["us"])[:top]:
            lines.append(f"| {node} | {r['op']} | {r['us'] / n / 1e3:.3f} | {r['us'] / total * 100:.1f} | "
                         f"{r['flops'] / r['us'] / 1e3:.1f} | {r['bytes'] / r['us'] / 1e3:.1f} |")
    return "\n".join(lines)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--trace-tables":
        for path in sys.argv[2:]:
            print(f"## {path}")
            print(trace_tables(path))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shared_arguments(parser, clipcapctl=os.path.join(ROOT, ".build-perfbench", "release", "clipcapctl"))
    parser.add_argument("--candidates", type=int, default=5)
    parser.add_argument("--backends", default="blas",
                        help="our backends, comma-separated (e.g. blas,int8); NAME-lowmem runs NAME with --low-memory, NAME-keep with --keep-weights, NAME-f16 on --f16-ccm")
    parser.add_argument("--int8-ccm", help="a quantized .ccm for the int8 backend (default: --ccm)")
    parser.add_argument("--f16-ccm", help="the same weights converted with --dtype f16, for NAME-f16 columns "
                                          "(another model: its GPT-2 and mapper are rounded)")
    parser.add_argument("--fresh-runs", type=int, default=3)
    parser.add_argument("--limits", help="JSON written by tools/machine_limits.py")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    T, N, R = args.tokens, args.threads, args.runs
    report = {"args": vars(args), "load_start": os.getloadavg(), "commands": []}

    # ---- ours first (no PyTorch in memory yet) ----
    ours = {}
    for b in backends:
        name, flags = backend_and_flags(b)
        ccm = args.int8_ccm if (name == "int8" and args.int8_ccm) else args.ccm
        if b.endswith("-f16"):
            if not args.f16_ccm:
                sys.exit(f"error: backend {b} needs --f16-ccm (a file converted with --dtype f16)")
            ccm = args.f16_ccm
        greedy, cmd1 = ours_bench(args.clipcapctl, ccm, args.image, name, N, R, T, 1, flags)
        seed, cmd2 = ours_bench(args.clipcapctl, ccm, args.image, name, N, R, T, args.candidates, flags)
        fresh = []
        for _ in range(args.fresh_runs):
            f, cmd3 = ours_fresh(args.clipcapctl, ccm, args.image, N, T, b)
            fresh.append(f)
        report["commands"] += [cmd1, cmd2, cmd3]
        ours[b] = {"greedy": greedy, "seed": seed, "fresh": fresh, "ccm": ccm}
    report["ours"] = ours

    # ---- PyTorch: fresh processes first, then this process ----
    fresh_t = [fresh_torch(args.model_dir, args.image, N, T) for _ in range(args.fresh_runs)]
    runner = TorchRunner(args.model_dir, N)
    runner.caption_greedy(args.image, T)  # warm-up
    greedy_t = [runner.caption_greedy(args.image, T)[2] for _ in range(R)]
    runner.seed_loop(args.image, args.candidates, T)  # warm-up
    seed_t = [runner.seed_loop(args.image, args.candidates, T, seed=i)[1] for i in range(R)]
    ids_t, text_t, _ = runner.caption_greedy(args.image, T, stop_at_sep=True)
    ids_t20, text_t20, _ = runner.caption_greedy(args.image, T, stop_at_sep=False)
    torch_phase = {k: med([g[k] for g in greedy_t]) for k in greedy_t[0]}
    torch_phase["encode_incl_pre"] = med([g["preprocess"] + g["image_encoder"] for g in greedy_t])
    report["torch"] = {"greedy_runs": greedy_t, "seed_runs_ms": seed_t, "fresh": fresh_t, "phases": torch_phase,
                       "greedy_ids_stop": ids_t, "greedy_text_20": text_t20}
    report["load_end"] = os.getloadavg()

    # ---- token check ----
    checks = {}
    for b, o in ours.items():
        ids_o = o["fresh"][0]["token_ids"]
        checks[b] = {"same_greedy_ids": ids_o == ids_t, "ours_ids": ids_o, "torch_ids": ids_t,
                     "same_20_token_text": o["greedy"].get("caption") == text_t20,
                     "ours_text_20": o["greedy"].get("caption"), "torch_text_20": text_t20}
    report["checks"] = checks

    # ---- table ----
    limits = json.load(open(args.limits)) if args.limits else None
    fl = {b: floors(limits, b) for b in backends} if limits else None
    report["floors"] = fl
    rows = []

    def add(name, torch_value, key, floor_key=None, fmt="%.1f"):
        values = [key(ours[b]) for b in backends]
        fls = [floor_key(fl[b]) if (fl and floor_key) else None for b in backends]
        rows.append((name, torch_value, values, fls, fmt))

    def caption_floor(f):
        return f["clip"] + f["mapper"] + T * f["decode"]

    add("JPEG decode (ms)", torch_phase["decode_image"], lambda o: phase(o["greedy"], "decode_image"))
    add("preprocess (ms)", torch_phase["preprocess"], lambda o: phase(o["greedy"], "preprocess"))
    add("CLIP encode (ms)", torch_phase["image_encoder"], lambda o: phase(o["greedy"], "image_encoder"), lambda f: f["clip"])
    add("CLIP encode incl. preprocessing (ms)", torch_phase["encode_incl_pre"],
        lambda o: phase(o["greedy"], "preprocess") + phase(o["greedy"], "image_encoder"), lambda f: f["clip"])
    add("mapper (ms)", torch_phase["mapper"], lambda o: phase(o["greedy"], "mapper"), lambda f: f["mapper"])
    add("GPT-2 prefill, 10 rows (ms)", torch_phase["prefill"], lambda o: phase(o["greedy"], "prefill"), lambda f: f["decode"])
    add("GPT-2 decode (ms/token)", torch_phase["ms_per_token"], lambda o: phase(o["greedy"], "ms_per_token"), lambda f: f["decode"])
    add(f"JPEG -> greedy {T}-token caption, warm (ms)", torch_phase["total"], lambda o: phase(o["greedy"], "total"), caption_floor)
    add(f"seed loop: {args.candidates} cand., top-p {TOP_P}, {T} tok (ms)", med(seed_t), lambda o: phase(o["seed"], "total"), caption_floor)
    add("fresh process -> first caption (ms)", med([f["wall_ms"] for f in fresh_t]),
        lambda o: med([f["wall_ms"] for f in o["fresh"]]), caption_floor)
    add("peak RSS (MiB)", med([f["peak_rss_mib"] for f in fresh_t]), lambda o: o["greedy"].get("peak_rss_mib", float("nan")), None, "%.0f")
    report["table"] = [{"phase": r[0], "torch": r[1], "ours": dict(zip(backends, r[2])), "floor": dict(zip(backends, r[3]))} for r in rows]

    print(f"threads {N}, runs {R}, tokens {T}, candidates {args.candidates}; medians; load {report['load_start'][0]:.2f} -> {report['load_end'][0]:.2f}")
    head = f"{'phase':50s} {'PyTorch':>10s}" + "".join(f" {('ours ' + b):>11s} {'x faster':>8s} {'floor':>8s} {'of floor':>8s}" for b in backends)
    print(head)
    for name, tv, values, fls, fmt in rows:
        line = f"{name:50s} {fmt % tv:>10s}"
        for v, floor in zip(values, fls):
            line += f" {fmt % v:>11s} {(tv / v if v else float('nan')):>7.2f}x"
            line += f" {fmt % floor:>8s} {floor / v * 100:>7.0f}%" if (floor and v) else f" {'':>8s} {'':>8s}"
        print(line)
    for b, o in ours.items():
        g = o["greedy"]
        print(f"ours {b}: peak RSS {g.get('peak_rss_mib', 0):.0f} MiB (anon {g.get('rss_anon_mib', 0):.0f}, file {g.get('rss_file_mib', 0):.0f}); "
              f"fresh caption timings {o['fresh'][0]['timings_ms']}")
    f0 = fresh_t[0]
    print(f"PyTorch fresh process: import {f0['import_ms']:.0f} ms, load {f0['load_ms']:.0f} ms, caption {f0['caption_ms']:.0f} ms")
    for b, c in checks.items():
        verdict = "SAME" if c["same_greedy_ids"] else "DIFFERENT"
        print(f"greedy ids (stop at [SEP], up to {T}): {verdict} ({b}: {c['ours_ids']} / torch: {c['torch_ids']})")
        print(f"{T}-token captions ([SEP] banned): {'SAME' if c['same_20_token_text'] else 'DIFFERENT'} ({c['ours_text_20']} / {c['torch_text_20']})")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
