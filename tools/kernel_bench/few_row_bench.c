// Micro-benchmark of the few-row float kernels (Sources/CFloatKernels) against a plain read of
// the same memory, in one invocation (the host's bandwidth moves: compare the two, not runs).
//
//   clang -O3 -march=haswell -I../../Sources/CFloatKernels/include -o few_row_bench \
//       few_row_bench.c ../../Sources/CFloatKernels/float_kernels.c -lpthread -lm
//   ./few_row_bench [rows=5]
//
// io: the 48 GPT-2 matrices of one decode step (12 layers x 768x2304, 768x768, 768x3072,
// 3072x768, f32, 340 MB), each split by weight rows over 2 threads as FewRowProduct does.
// oi: six 21128x768 matrices (the tied LM head's shape, 390 MB so that L3 cannot hold them),
// split by columns over 2 threads. Best of 7 (io) / 9 (oi) runs.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "float_kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static const long io_shapes[4][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
#define IO_LAYERS 12
#define OI_MATRICES 6
static const long oi_n = 21128, oi_k = 768;

static float *io_w[IO_LAYERS][4], *oi_w[OI_MATRICES], *x, *y[2];
static int rows = 5, mode = 0;  // mode: 0 io, 1 io read, 2 oi, 3 oi read
static volatile float sink[2];

__attribute__((target("avx512f"))) static float read_sum(const float *p, long n) {
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
    for (long i = 0; i + 64 <= n; i += 64) {
        a = _mm512_add_ps(a, _mm512_loadu_ps(p + i));
        b = _mm512_add_ps(b, _mm512_loadu_ps(p + i + 16));
        c = _mm512_add_ps(c, _mm512_loadu_ps(p + i + 32));
        d = _mm512_add_ps(d, _mm512_loadu_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
}

static void *work(void *arg) {
    const int part = *(int *)arg;
    if (mode < 2) {
        for (int l = 0; l < IO_LAYERS; l++)
            for (int s = 0; s < 4; s++) {
                const long k = io_shapes[s][0], n = io_shapes[s][1], k0 = part * k / 2, k1 = (part + 1) * k / 2;
                if (mode == 0) cf32_rows_io_range(x, rows, k, k0, k1, io_w[l][s], n, 0, n, y[part], n);
                else sink[part] += read_sum(io_w[l][s] + k0 * n, (k1 - k0) * n);
            }
    } else {
        const long n0 = part * oi_n / 2, n1 = (part + 1) * oi_n / 2;
        for (int i = 0; i < OI_MATRICES; i++) {
            if (mode == 2) cf32_rows_oi(x, rows, oi_k, oi_w[i], n0, n1, y[0], oi_n);
            else sink[part] += read_sum(oi_w[i] + n0 * oi_k, (n1 - n0) * oi_k);
        }
    }
    return 0;
}

static double best_of(int repeats) {
    double best = 1e9;
    for (int r = 0; r < repeats; r++) {
        const double t0 = now();
        pthread_t thread;
        int zero = 0, one = 1;
        pthread_create(&thread, 0, work, &one);
        work(&zero);
        pthread_join(thread, 0);
        const double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static float *filled(long count) {
    float *p = aligned_alloc(64, (size_t)count * 4);
    for (long i = 0; i < count; i++) p[i] = (float)(i % 7) * 0.01f;
    return p;
}

int main(int argc, char **argv) {
    rows = argc > 1 ? atoi(argv[1]) : 5;
    if (rows < 1 || rows > CF32_MAX_ROWS) { fprintf(stderr, "rows must be 1...%d\n", CF32_MAX_ROWS); return 1; }
    double io_bytes = 0;
    for (int l = 0; l < IO_LAYERS; l++)
        for (int s = 0; s < 4; s++) {
            io_w[l][s] = filled(io_shapes[s][0] * io_shapes[s][1]);
            io_bytes += 4.0 * io_shapes[s][0] * io_shapes[s][1];
        }
    for (int i = 0; i < OI_MATRICES; i++) oi_w[i] = filled(oi_n * oi_k);
    const double oi_bytes = 4.0 * OI_MATRICES * oi_n * oi_k;
    x = filled(rows * 3072L);
    y[0] = filled(rows * oi_n);
    y[1] = filled(rows * oi_n);
    const char *names[4] = {"io kernel", "io plain read", "oi kernel", "oi plain read"};
    double gbs[4];
    for (mode = 0; mode < 4; mode++) {
        const double t = best_of(mode < 2 ? 7 : 9);
        gbs[mode] = (mode < 2 ? io_bytes : oi_bytes) / t * 1e-9;
        printf("%-14s %d rows: %7.2f ms  %5.1f GB/s\n", names[mode], rows, t * 1e3, gbs[mode]);
    }
    printf("kernel / plain read: io %.2f, oi %.2f\n", gbs[0] / gbs[1], gbs[2] / gbs[3]);
    return 0;
}
