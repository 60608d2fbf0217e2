#!/usr/bin/env bash
# Portability checks that need no second machine (run by .ci/run):
#  1. Package.swift has no unsafe flags (SwiftPM refuses them in a versioned dependency);
#  2. every C kernel source compiles, warning-free, for aarch64 and for baseline x86-64 (no
#     -mavx2: the AVX2/AVX-512 code must carry its own target attributes). Objects are
#     generated (-c -O2), not just parsed, so the intrinsics' target checks run too;
#  3. tools/portability/kernel_selftest.c, linked with the kernels for aarch64, passes under
#     qemu-aarch64 (portable C and NEON auto-vectorisation against double-precision references),
#     and natively at every level this CPU has.
# `tools/setup.sh --portability` installs the cross headers, libgcc and qemu (Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --portability

if grep -n "unsafeFlags" Package.swift; then
    echo "check_portability: Package.swift uses unsafeFlags; packages depending on clipcap could not build it" >&2
    exit 1
fi

cc=${CC:-clang}
sysroot=/usr/aarch64-linux-gnu
includes=()
for d in Sources/C*/include; do includes+=("-I$d"); done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
checked=0
for target in aarch64-linux-gnu x86_64-linux-gnu; do
    for src in Sources/CCPUFeatures/*.c Sources/CVectorKernels/*.c Sources/CFloatKernels/*.c Sources/CInt8Kernels/*.c; do
        flags=(--target=$target -O2 -Wall -Wextra -Werror -std=gnu11 "${includes[@]}" -c "$src" -o "$out/$(basename "$src").o")
        [ "$target" = aarch64-linux-gnu ] && flags+=(--sysroot="$sysroot")
        if ! "$cc" "${flags[@]}"; then
            echo "check_portability: $src does not compile for $target" >&2
            failed=1
        fi
        checked=$((checked + 1))
    done
done
[ $failed = 0 ] || exit 1

kernels=(Sources/CCPUFeatures/*.c Sources/CVectorKernels/*.c Sources/CFloatKernels/*.c Sources/CInt8Kernels/*.c)
"$cc" -O2 -Wall -Wextra -Werror "${includes[@]}" tools/portability/kernel_selftest.c "${kernels[@]}" -lm -o "$out/selftest"
"$out/selftest"
gcc_dir=$(ls -d /usr/lib/gcc-cross/aarch64-linux-gnu/* | sort -V | tail -1)
"$cc" --target=aarch64-linux-gnu --sysroot="$sysroot" --gcc-install-dir="$gcc_dir" -fuse-ld=lld -static \
    -O2 -Wall -Wextra -Werror "${includes[@]}" tools/portability/kernel_selftest.c "${kernels[@]}" -lm -o "$out/selftest-aarch64"
echo -n "aarch64 (qemu): "
qemu-aarch64-static "$out/selftest-aarch64"
echo "check_portability: no unsafe flags; $checked C kernel compilations (aarch64, x86-64 baseline) clean; self-test passed natively and on aarch64"
