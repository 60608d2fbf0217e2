#!/usr/bin/env bash
# Load benchmark of `clipcapctl serve` (docs/SERVE.md, "Benchmark"): wrk on loopback at several
# concurrencies against the CLI on the same images in the same run, then a soak that samples the
# server's RSS. Not a test: it prints figures. Needs wrk (apt-get install wrk).
#
#   tools/serve_bench.sh MODEL.ccm IMAGE_DIR [SECONDS_PER_LEVEL] [SOAK_REQUESTS]
#   CLIPCAPCTL=.build/release/clipcapctl  CONCURRENCY="1 4 16 64"  SERVE_ARGS="--max-batch 8"
set -euo pipefail
model=${1:?model .ccm}; images=${2:?folder of .jpg/.png}; seconds=${3:-30}; soak=${4:-2000}
bin=${CLIPCAPCTL:-.build/release/clipcapctl}
levels=${CONCURRENCY:-"1 4 16 64"}
command -v wrk >/dev/null || { echo "serve_bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d); trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
ls "$images"/*.jpg "$images"/*.png 2>/dev/null | sort > "$work/images.txt"
count=$(wc -l < "$work/images.txt")

# The CLI baseline: every image once, batched when the CLI can batch.
batch_flag=()
if "$bin" caption --help 2>&1 | grep -q -- '--batch'; then batch_flag=(--batch "${CLI_BATCH:-8}"); fi
start=$(date +%s.%N)
xargs -a "$work/images.txt" "$bin" caption --model "$model" ${CLI_ARGS:-} "${batch_flag[@]}" > "$work/cli.tsv"
end=$(date +%s.%N)
echo "cli ${batch_flag[*]:-(one image at a time)}: $count images in $(echo "$end - $start" | bc) s = $(echo "scale=2; $count / ($end - $start)" | bc) images/s"

"$bin" serve --model "$model" --port 0 --log-format json ${SERVE_ARGS:-} 2> "$work/serve.log" &
server=$!
for _ in $(seq 600); do
    port=$(grep -o '"message":"listening"[^}]*' "$work/serve.log" 2>/dev/null | grep -o '"port":"[0-9]*"' | grep -o '[0-9]*' || true)
    [ -z "$port" ] && port=$(grep '"listening"' "$work/serve.log" 2>/dev/null | grep -o '"port":"[0-9]*"' | grep -o '[0-9]*' || true)
    [ -n "$port" ] && break; sleep 0.5
done
[ -n "${port:-}" ] || { echo "serve_bench: the server did not start:"; cat "$work/serve.log"; exit 1; }

cat > "$work/post.lua" <<LUA
local bodies, types, i = {}, {}, 0
for path in io.lines("$work/images.txt") do
  local f = assert(io.open(path, "rb")); bodies[#bodies + 1] = f:read("*a"); f:close()
  types[#types + 1] = path:match("%.png$") and "image/png" or "image/jpeg"
end
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/captions", {["Content-Type"] = types[i]}, bodies[i])
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d seconds=%.1f images_per_s=%.2f p50_ms=%.0f p99_ms=%.0f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
LUA
rss() { awk '/VmRSS|VmHWM/ {printf "%s %d MiB  ", $1, $2/1024}' "/proc/$server/status"; echo; }
echo "server: port $port, $(rss)"
for c in $levels; do
    line=$(wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${seconds}s" --timeout 60s -s "$work/post.lua" "http://127.0.0.1:$port" | grep RESULT)
    echo "concurrency $c: ${line#RESULT }  $(rss)"
done

# Soak: $soak requests at concurrency 16, RSS sampled every tenth of the way.
captioned() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^clipcap_images_captioned_total/ {print int($2)}'; }
step=$(( soak / 10 )); base=$(captioned); done_requests=0
echo "soak: $soak requests at concurrency 16"
while [ "$done_requests" -lt "$soak" ]; do
    wrk -t 2 -c 16 -d 600s --timeout 60s -s "$work/post.lua" "http://127.0.0.1:$port" -H "X-Soak: 1" > /dev/null &
    wrk_pid=$!
    target=$(( done_requests + step ))
    while :; do
        n=$(( $(captioned) - base ))
        [ "$n" -ge "$target" ] && break; sleep 1
    done
    kill "$wrk_pid" 2>/dev/null; wait "$wrk_pid" 2>/dev/null || true
    done_requests=$n
    echo "  after $done_requests images: $(rss)"
done
kill -TERM "$server"; wait "$server" && echo "server drained and exited 0"
