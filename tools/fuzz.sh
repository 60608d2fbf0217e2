#!/usr/bin/env bash
# Coverage-guided fuzzing of the three parsers that read untrusted bytes (docs/RELIABILITY.md):
#   FuzzModelFile   .ccm reader (ModelFile.open, every tensor decoded, verify, inspector, graph validation)
#   FuzzCheckpoint  zip + safe unpickler + safetensors (CheckpointReader.read, every tensor read)
#   FuzzImage       JPEG/PNG decoders, EXIF orientation, CLIP preprocessing (ImageDecoder.decode(data:))
#
# usage: tools/fuzz.sh [seconds-per-target] [target ...]      (default: 30 s, all three)
#
# The targets exist only when CLIPCAP_FUZZ=1 (see Package.swift) and are built in release mode
# with libFuzzer + AddressSanitizer (one -sanitize=fuzzer,address flag: two separate -sanitize
# flags keep only the last) and lld (gold crashes on libFuzzer). Corpora grow in
# .build-fuzz/corpus/<target> (seeded from Tests/Fixtures); crashing, hanging or memory-hungry
# inputs land in Fuzz/findings/<target>/ and make the script exit 1. Re-run one finding with
#   SWIFT_BACKTRACE=enable=no .build-fuzz/release/<target> Fuzz/findings/<target>/<file>
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(FuzzModelFile FuzzCheckpoint FuzzImage)
scratch=.build-fuzz
summary="$scratch/fuzz-summary.txt"
mkdir -p "$scratch"
: > "$summary"

seed() {   # seed <target> <dir>: copy the fixture files that start each corpus
    local dir=$2
    case $1 in
        FuzzModelFile) cp -n Tests/Fixtures/format/*.ccm "$dir"/ ;;
        FuzzCheckpoint)
            for f in Tests/Fixtures/torch/*.pt Tests/Fixtures/torch/hf-*/*.safetensors Tests/Fixtures/torch/hf-gpt2-bin/*.bin \
                     Tests/Fixtures/models/hostile-os-system.pt Tests/CLITests/Fixtures/zip-bomb.pt; do
                [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 65536 ] && cp -n "$f" "$dir/$(echo "$f" | tr / _)"
            done ;;
        FuzzImage) for f in Tests/Fixtures/images/synthetic/* Tests/Fixtures/images/bad/*; do cp -n "$f" "$dir/"; done ;;
    esac
}

max_len() {
    case $1 in
        FuzzModelFile) echo 16384 ;;
        *) echo 65536 ;;
    esac
}

status=0
for target in "${targets[@]}"; do
    echo "== $target: building"
    if ! CLIPCAP_FUZZ=1 swift build -c release --scratch-path "$scratch" \
            -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld --product "$target" > "$scratch/build-$target.log" 2>&1; then
        tail -20 "$scratch/build-$target.log"
        echo "$target: BUILD FAILED" | tee -a "$summary"
        status=1
        continue
    fi
    corpus="$scratch/corpus/$target"
    findings="Fuzz/findings/$target"
    mkdir -p "$corpus" "$findings"
    seed "$target" "$corpus"
    before=$(ls "$findings" | wc -l)
    log="$scratch/run-$target.log"
    echo "== $target: fuzzing for $seconds s (log: $log)"
    # detect_leaks=0: the Swift runtime's metadata caches look like leaks to LeakSanitizer.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 \
        "$scratch/release/$target" "$corpus" -max_total_time="$seconds" -max_len="$(max_len "$target")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" > "$log" 2>&1
    code=$?
    after=$(ls "$findings" | wc -l)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
    rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$')
    cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+')
    ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+')
    corp=$(echo "$last" | grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' | cut -d' ' -f2)
    line="$target: ${seconds}s, ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?}, new findings $((after - before)) (exit $code)"
    echo "$line" | tee -a "$summary"
    if [ "$code" -ne 0 ] || [ "$after" -gt "$before" ]; then
        grep -E 'ERROR|SUMMARY|Fatal error|==[0-9]+==' "$log" | head -10
        status=1
    fi
done
echo "== summary ($summary)"
cat "$summary"
exit $status
