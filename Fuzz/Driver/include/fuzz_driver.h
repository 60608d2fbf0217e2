#ifndef CLIPCAP_FUZZ_DRIVER_H
#define CLIPCAP_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs that keep their own `main` (Swift's main.swift):
/// it parses libFuzzer's flags from argv and calls `callback` once per input.
/// Provided by the runtime linked with `-sanitize=fuzzer`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
