#!/usr/bin/env bash
# The overhead of sharded, checkpointed runs (docs/SCALE.md): SHARDS shards of PER_SHARD images
# each, every shard a separate `caption --out DIR --shards SHARDS --shard I` process, against a
# single process captioning the same PER_SHARD images to stdout (`--format jsonl`, no shards,
# no checkpoints), the two alternated ROUNDS times in this one invocation so they share the
# machine's noise. Prints images/s of each run and the shard/baseline ratio.
#   tools/bench_shards.sh models/demo.ccm [PER_SHARD=500] [SHARDS=4] [ROUNDS=1]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: tools/bench_shards.sh MODEL.ccm [PER_SHARD] [SHARDS] [ROUNDS]}
per=${2:-500}; shards=${3:-4}; rounds=${4:-1}
threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")   # THREADS=1: steadier CPU figures
bin=${CLIPCAPCTL:-.build/release/clipcapctl}
[ -x "$bin" ] || { echo "bench_shards: build the release binary first (swift build -c release --product clipcapctl)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
samples=(models/samples/*.jpg models/samples/*.png)
# Shard s takes images s, s+SHARDS, ... (sorted names); its baseline captions exactly those
# images (a copy of them in one_s/), so both runs do the same decoding work.
mkdir -p "$work/all"
for ((s = 0; s < shards; s++)); do mkdir -p "$work/one_$s"; done
for ((i = 0; i < per * shards; i++)); do
    src=${samples[$((i % ${#samples[@]}))]}
    name=$(printf %06d $i).${src##*.}
    cp "$src" "$work/all/$name"
    cp "$src" "$work/one_$((i % shards))/$name"
done
# Wall time is what a job sees, but on a shared machine it mostly measures the neighbours;
# CPU time (user + sys) is what the run itself costs. Both are printed.
TIMEFORMAT='%R %U %S'
timed() { { time "$@" > /dev/null 2>&1; } 2>&1 | tail -1; }
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; model: $model; $per images per run; threads: ${THREADS:-default (CPU quota)}"
sum() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
base_wall=0; base_cpu=0; shard_wall=0; shard_cpu=0
for ((r = 0; r < rounds; r++)); do
    for ((s = 0; s < shards; s++)); do
        read -r bw bu bs < <(timed "$bin" caption "$work/one_$s" --model "$model" "${threads[@]}" --format jsonl --quiet)
        rm -rf "$work/out"
        read -r hw hu hs < <(timed "$bin" caption "$work/all" --model "$model" "${threads[@]}" --out "$work/out" --shards "$shards" --shard "$s" --quiet)
        test -s "$work/out/$(printf %05d "$s")_stats.json" || { echo "bench_shards: shard $s wrote no stats file" >&2; exit 1; }
        bc=$(sum "$bu" "$bs"); hc=$(sum "$hu" "$hs")
        base_wall=$(sum "$base_wall" "$bw"); base_cpu=$(sum "$base_cpu" "$bc")
        shard_wall=$(sum "$shard_wall" "$hw"); shard_cpu=$(sum "$shard_cpu" "$hc")
        awk -v r="$r" -v s="$s" -v n="$per" -v bw="$bw" -v bc="$bc" -v hw="$hw" -v hc="$hc" 'BEGIN {
            printf "round %d shard %d: single process %.1f images/s (%.1f per CPU-second), shard %.1f images/s (%.1f per CPU-second); CPU ratio shard/single %.3f\n",
                r, s, n / bw, n / bc, n / hw, n / hc, hc / bc }'
    done
done
awk -v n=$((per * shards * rounds)) -v bw="$base_wall" -v bc="$base_cpu" -v hw="$shard_wall" -v hc="$shard_cpu" 'BEGIN {
    printf "total: single process %.1f images/s, %.1f per CPU-second; shards %.1f images/s, %.1f per CPU-second; overhead: wall %+.1f%%, CPU %+.1f%%\n",
        n / bw, n / bc, n / hw, n / hc, 100 * (hw - bw) / bw, 100 * (hc - bc) / bc }'
