#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer and ThreadSanitizer (docs/RELIABILITY.md).
#
# usage: tools/sanitizers.sh [address|thread|all] [swift test options, e.g. --filter CLITests]
#
# Each sanitizer gets its own scratch folder (.build-asan, .build-tsan) because every module,
# clipcapctl included, is rebuilt instrumented: the CLITests then run the instrumented
# clipcapctl as their subprocess, so the end-to-end hostile-input runs are checked too (a
# sanitizer report on the child's stderr fails the test that ran it).
# LeakSanitizer is off (detect_leaks=0): the Swift runtime's metadata caches and
# swift-corelibs-foundation's process-lifetime singletons are reported as leaks.
# Logs: .build-<asan|tsan>/sanitizer-test.log; a summary is printed. Exit 1 on any failure or report.
set -uo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
shift || true
case $which in
    address) kinds=(address) ;;
    thread) kinds=(thread) ;;
    all) kinds=(address thread) ;;
    *) echo "usage: $0 [address|thread|all] [swift test options]" >&2; exit 2 ;;
esac

status=0
for kind in "${kinds[@]}"; do
    case $kind in address) scratch=.build-asan ;; thread) scratch=.build-tsan ;; esac
    mkdir -p "$scratch"
    log="$scratch/sanitizer-test.log"
    echo "== $kind sanitizer: swift test --sanitize=$kind $* (log: $log)"
    start=$(date +%s)
    # Retry when another developer's edit lands mid-build ("was modified during the build").
    for attempt in 1 2 3; do
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1 \
            SWIFT_BACKTRACE=enable=no \
            swift test --scratch-path "$scratch" --sanitize="$kind" "$@" > "$log" 2>&1
        code=$?
        grep -q "was modified during the build" "$log" || break
        echo "  (a source changed during the build; retrying, attempt $((attempt + 1)))"
        sleep 30
    done
    seconds=$(( $(date +%s) - start ))
    reports=$(grep -cE "ERROR: AddressSanitizer|WARNING: ThreadSanitizer|SUMMARY: (Address|Thread)Sanitizer" "$log")
    executed=$(grep -E "Executed [0-9]+ tests?" "$log" | tail -1 | sed 's/^[[:space:]]*//')
    swifttesting=$(grep -E "Test run with [0-9]+ tests?" "$log" | tail -1)
    echo "$kind: exit $code in ${seconds}s; sanitizer report lines: $reports"
    echo "  XCTest: ${executed:-none}"
    echo "  Swift Testing: ${swifttesting:-none}"
    if [ "$reports" -gt 0 ]; then
        grep -E -A12 "ERROR: AddressSanitizer|WARNING: ThreadSanitizer" "$log" | head -60
    fi
    grep -E "error: .*(XCT|failed)|✘" "$log" | head -20
    [ "$code" -ne 0 ] || [ "$reports" -gt 0 ] && status=1
done
exit $status
