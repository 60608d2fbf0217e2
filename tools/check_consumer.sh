#!/usr/bin/env bash
# Builds and runs Examples/consumer, a package that depends on clipcap the way anyone else's
# would (`.package(url:, from: "0.1.0")` and the `ClipCap` product), against a temporary clone
# of this repository's HEAD tagged 0.1.0 (no network). Fails when SwiftPM refuses the dependency
# (e.g. an unsafe flag came back), when the consumer does not build, when its copy of the
# README's library example differs from the README's, or when the example does not caption
# the demo model's first sample. Run by .ci/run; ~2-4 min on 2 cores (a debug build of clipcap).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The README's block and the consumer's copy must be the same code.
# README's block is the ```swift one that starts with `import ClipCap`.
readme_block=$(awk 'prev ~ /^```swift$/ && /^import ClipCap$/ {inside=1} inside && /^```$/ {exit} inside {print} {prev=$0}' "$repo/README.md" | sed '1d' | sed '/./,$!d')
consumer_block=$(sed -n '/README-EXAMPLE-BEGIN/,/README-EXAMPLE-END/p' "$repo/Examples/consumer/Sources/CaptionExample/main.swift" | sed '1d;$d')
if [ "$readme_block" != "$consumer_block" ]; then
    echo "check_consumer: Examples/consumer/Sources/CaptionExample/main.swift's example differs from README.md's; copy README's Swift block between the markers" >&2
    diff <(echo "$readme_block") <(echo "$consumer_block") >&2 || true
    exit 1
fi

git clone --quiet "$repo" "$tmp/clipcap"
git -C "$tmp/clipcap" tag 0.1.0
cp -R "$repo/Examples/consumer" "$tmp/consumer"
echo "check_consumer: building Examples/consumer against file://$tmp/clipcap at 0.1.0" >&2
CLIPCAP_GIT_URL="file://$tmp/clipcap" swift build --package-path "$tmp/consumer" 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\]" >&2
bin=$(CLIPCAP_GIT_URL="file://$tmp/clipcap" swift build --package-path "$tmp/consumer" --show-bin-path)/CaptionExample
image=$(ls "$repo"/models/samples/*.jpg | head -1)
caption=$("$bin" "$repo/models/demo.ccm" "$image")
if [ -z "$caption" ]; then
    echo "check_consumer: the example printed no caption for $image" >&2; exit 1
fi
echo "check_consumer: ok: $(basename "$image"): $caption"
