// CRC32C: hardware (SSE4.2) with a portable fallback, and CRC combination (zlib's GF(2)
// matrix method, with the Castagnoli polynomial). See include/crc32c.h.
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u   /* reflected 0x1EDC6F41 */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++) table[k][i] = (table[k - 1][i] >> 8) ^ table[0][table[k - 1][i] & 0xFF];
}

static uint32_t portable_update(uint32_t crc, const unsigned char *p, size_t n) {
    pthread_once(&table_once, build_table);
    uint32_t c = ~crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        uint32_t lo = (uint32_t)word ^ c, hi = (uint32_t)(word >> 32);
        c = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^ table[4][lo >> 24]
          ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^ table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ table[0][(c ^ *p++) & 0xFF];
    return ~c;
}

static uint32_t gf2_times(const uint32_t *matrix, uint32_t vector) {
    uint32_t sum = 0;
    while (vector) {
        if (vector & 1) sum ^= *matrix;
        vector >>= 1;
        matrix++;
    }
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *matrix) {
    for (int n = 0; n < 32; n++) square[n] = gf2_times(matrix, matrix[n]);
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/// The operator that appends BLOCK zero bytes to a CRC (column i: the image of bit i), built
/// once: joining the three streams of a block then costs 32 steps instead of a squaring chain.
enum { BLOCK = 8192 };
static uint32_t block_shift[32];
static pthread_once_t block_shift_once = PTHREAD_ONCE_INIT;

static void build_block_shift(void) {
    for (int i = 0; i < 32; i++) block_shift[i] = ccm_crc32c_combine(1u << i, 0, BLOCK);
}

__attribute__((target("sse4.2")))
static uint32_t hardware_update(uint32_t crc, const unsigned char *p, size_t n) {
    pthread_once(&block_shift_once, build_block_shift);
    uint64_t c = ~crc;
    // Three independent streams hide the instruction's 3-cycle latency; the streams are joined
    // with the precomputed block shift.
    while (n >= 3 * BLOCK) {
        uint64_t c1 = 0xFFFFFFFFu, c2 = 0xFFFFFFFFu;
        const unsigned char *p1 = p + BLOCK, *p2 = p + 2 * BLOCK;
        for (size_t i = 0; i < BLOCK; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p1 + i, 8);
            memcpy(&w2, p2 + i, 8);
            c = _mm_crc32_u64(c, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        uint32_t joined = gf2_times(block_shift, ~(uint32_t)c) ^ ~(uint32_t)c1;
        joined = gf2_times(block_shift, joined) ^ ~(uint32_t)c2;
        c = ~joined;
        p += 3 * BLOCK;
        n -= 3 * BLOCK;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

int ccm_crc32c_is_hardware(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

uint32_t ccm_crc32c_update(uint32_t crc, const void *data, size_t length) {
    if (length == 0) return crc;
#if defined(__x86_64__)
    static int hardware = -1;
    int h = __atomic_load_n(&hardware, __ATOMIC_RELAXED);
    if (h < 0) {
        h = ccm_crc32c_is_hardware();
        __atomic_store_n(&hardware, h, __ATOMIC_RELAXED);
    }
    if (h) return hardware_update(crc, (const unsigned char *)data, length);
#endif
    return portable_update(crc, (const unsigned char *)data, length);
}

uint32_t ccm_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
    if (length_b == 0) return crc_a;
    uint32_t even[32], odd[32];
    odd[0] = POLY;   // the operator for one zero bit
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd);   // two zero bits
    gf2_square(odd, even);   // four zero bits
    // Apply length_b zero bytes to crc_a, squaring the operator for each bit of the length.
    do {
        gf2_square(even, odd);
        if (length_b & 1) crc_a = gf2_times(even, crc_a);
        length_b >>= 1;
        if (length_b == 0) break;
        gf2_square(odd, even);
        if (length_b & 1) crc_a = gf2_times(odd, crc_a);
        length_b >>= 1;
    } while (length_b != 0);
    return crc_a ^ crc_b;
}
