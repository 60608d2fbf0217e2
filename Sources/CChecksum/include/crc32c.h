#pragma once
// CRC32C (Castagnoli) for clipcap's model files (docs/FORMAT.md): the SSE4.2 `crc32`
// instruction where the CPU has it (chosen at run time, per function: no global -m flags),
// a portable slicing-by-8 loop elsewhere, and the combination of two CRCs so that one tensor
// can be checked by several threads, each over its own slice.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Continues `crc` (0 to start) over `length` bytes at `data`. Same value on every path.
uint32_t ccm_crc32c_update(uint32_t crc, const void *data, size_t length);

/// The CRC of A followed by B, from crc(A), crc(B) and B's length.
uint32_t ccm_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

/// 1 when ccm_crc32c_update uses the hardware instruction, 0 for the portable loop.
int ccm_crc32c_is_hardware(void);

#ifdef __cplusplus
}
#endif
