// Micro-benchmark of the few-row float kernels (Sources/CFloatKernels, the set
// cf_few_row_kernels_for_cpu() picks: CLIPCAP_CPU=avx2 forces the AVX2 one) against a plain read
// of the same memory and against OpenBLAS (sgemv for one row, sgemm for more: what the BLAS
// backend used on CPUs without the kernels), in one invocation (the host's bandwidth moves:
// compare within a run, not across runs).
//
//   cd tools/kernel_bench && clang -O2 -I../../Sources/CFloatKernels/include \
//       -I../../Sources/CCPUFeatures/include -o /tmp/few_row_bench few_row_bench.c \
//       ../../Sources/CFloatKernels/{float_kernels,few_row_avx2,few_row_dispatch}.c \
//       ../../Sources/CCPUFeatures/cpu_features.c -lopenblas -lpthread -lm
//   /tmp/few_row_bench [rows=5] [f32|f16] [repeats=7]
//
// Add -DIO_STREAMS=N / -DIO_PREFETCH=F to the line to try other block heights and prefetch
// distances of the AVX2 kernels.
//
// io: the 48 GPT-2 matrices of one decode step (12 layers x 768x2304, 768x768, 768x3072,
// 3072x768; 340 MB in f32, 170 MB in f16), each split by weight rows over 2 threads as
// FewRowProduct does. oi: six 21128x768 matrices (the tied LM head's shape, 390 MB in f32 so that
// no L3 holds them), split by columns over 2 threads. OpenBLAS runs f32 only, on its own 2
// threads, one call per matrix. Best of `repeats` runs. The first matrix's result is checked
// against OpenBLAS's (relative error printed).
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_features.h"
#include "few_row_kernels.h"
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

static void *io_w[IO_LAYERS][4], *oi_w[OI_MATRICES];
static float *x, *y[2];
static int rows = 5, half = 0, mode = 0;  // mode: 0 io kernel, 1 io read, 2 oi kernel, 3 oi read
static const CFFewRowKernels *kernels;
static volatile float sink[2];

__attribute__((target("avx2"))) static float read_sum(const void *p, long bytes) {
    const float *f = p;
    const long n = bytes / 4;
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    for (long i = 0; i + 32 <= n; i += 32) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(f + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(f + i + 8));
        c = _mm256_add_ps(c, _mm256_loadu_ps(f + i + 16));
        d = _mm256_add_ps(d, _mm256_loadu_ps(f + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    return out[0] + out[7];
}

static void *work(void *arg) {
    const int part = *(int *)arg;
    const long element = half ? 2 : 4;
    if (mode < 2) {
        for (int l = 0; l < IO_LAYERS; l++)
            for (int s = 0; s < 4; s++) {
                const long k = io_shapes[s][0], n = io_shapes[s][1], k0 = part * k / 2, k1 = (part + 1) * k / 2;
                if (mode == 1) sink[part] += read_sum((const char *)io_w[l][s] + k0 * n * element, (k1 - k0) * n * element);
                else if (half) kernels->f16_rows_io_range(x, rows, k, k0, k1, io_w[l][s], n, 0, n, y[part], n);
                else kernels->f32_rows_io_range(x, rows, k, k0, k1, io_w[l][s], n, 0, n, y[part], n);
            }
    } else {
        const long n0 = part * oi_n / 8 * 4, n1 = part ? oi_n : oi_n / 8 * 4;  // 4-column tiles
        for (int i = 0; i < OI_MATRICES; i++) {
            if (mode == 3) sink[part] += read_sum((const char *)oi_w[i] + n0 * oi_k * element, (n1 - n0) * oi_k * element);
            else if (half) kernels->f16_rows_oi(x, rows, oi_k, oi_w[i], n0, n1, y[0], oi_n);
            else kernels->f32_rows_oi(x, rows, oi_k, oi_w[i], n0, n1, y[0], oi_n);
        }
    }
    return 0;
}

/// One pass with OpenBLAS on its own threads (f32): what the backend ran before the kernels.
static void openblas_pass(int oi) {
    if (!oi) {
        for (int l = 0; l < IO_LAYERS; l++)
            for (int s = 0; s < 4; s++) {
                const int k = (int)io_shapes[s][0], n = (int)io_shapes[s][1];
                if (rows == 1) cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1, io_w[l][s], n, x, 1, 0, y[0], 1);
                else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1, x, k, io_w[l][s], n, 0, y[0], n);
            }
    } else {
        for (int i = 0; i < OI_MATRICES; i++) {
            if (rows == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)oi_n, (int)oi_k, 1, oi_w[i], (int)oi_k, x, 1, 0, y[0], 1);
            else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)oi_n, (int)oi_k, 1, x, (int)oi_k, oi_w[i], (int)oi_k, 0, y[0], (int)oi_n);
        }
    }
}

static double best_of(int repeats, int blas) {
    double best = 1e9;
    for (int r = 0; r < repeats; r++) {
        const double t0 = now();
        if (blas) {
            openblas_pass(mode >= 2);
        } else {
            pthread_t thread;
            int zero = 0, one = 1;
            pthread_create(&thread, 0, work, &one);
            work(&zero);
            pthread_join(thread, 0);
        }
        const double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

__attribute__((target("f16c"))) static uint16_t to_half(float f) { return _cvtss_sh(f, 0); }

/// count weights of the chosen width, values in [-0.03, 0.03]; `copy` (f32) gets the same values.
__attribute__((target("f16c"))) static void *filled(long count, float *copy) {
    void *p = aligned_alloc(64, (size_t)count * (half ? 2 : 4) + 64);
    for (long i = 0; i < count; i++) {
        const float v = (float)((i * 2654435761u) % 61) * 0.001f - 0.03f;
        if (half) ((uint16_t *)p)[i] = to_half(v);
        else ((float *)p)[i] = v;
        if (copy) copy[i] = half ? _cvtsh_ss(to_half(v)) : v;
    }
    return p;
}

/// Max |ours - OpenBLAS| / max |OpenBLAS| over one io and one oi product.
static double check(void) {
    const long k = io_shapes[0][0], n = io_shapes[0][1];
    float *w32 = malloc(sizeof(float) * k * n), *ref = malloc(sizeof(float) * rows * oi_n);
    float *o32 = malloc(sizeof(float) * oi_n * oi_k), *out = malloc(sizeof(float) * rows * oi_n);
    void *w = filled(k * n, w32), *wo = filled(oi_n * oi_k, o32);
    double worst = 0;
    for (int oi = 0; oi < 2; oi++) {
        const long nn = oi ? oi_n : n;
        if (oi) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)oi_n, (int)oi_k, 1, x, (int)oi_k, o32, (int)oi_k, 0, ref, (int)oi_n);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, (int)n, (int)k, 1, x, (int)k, w32, (int)n, 0, ref, (int)n);
        if (oi && half) kernels->f16_rows_oi(x, rows, oi_k, wo, 0, oi_n, out, oi_n);
        else if (oi) kernels->f32_rows_oi(x, rows, oi_k, wo, 0, oi_n, out, oi_n);
        else if (half) kernels->f16_rows_io_range(x, rows, k, 0, k, w, n, 0, n, out, n);
        else kernels->f32_rows_io_range(x, rows, k, 0, k, w, n, 0, n, out, n);
        double err = 0, scale = 1e-30;
        for (long i = 0; i < rows * nn; i++) {
            err = fmax(err, fabs(out[i] - ref[i]));
            scale = fmax(scale, fabs(ref[i]));
        }
        worst = fmax(worst, err / scale);
    }
    free(w32); free(ref); free(o32); free(out); free(w); free(wo);
    return worst;
}

int main(int argc, char **argv) {
    rows = argc > 1 ? atoi(argv[1]) : 5;
    half = argc > 2 && strcmp(argv[2], "f16") == 0;
    const int repeats = argc > 3 ? atoi(argv[3]) : 7;
    if (rows < 1 || rows > CF32_MAX_ROWS) { fprintf(stderr, "rows must be 1...%d\n", CF32_MAX_ROWS); return 1; }
    if (repeats < 1) { fprintf(stderr, "repeats must be at least 1\n"); return 1; }
    kernels = cf_few_row_kernels_for_cpu();
    if (!kernels) { fprintf(stderr, "this CPU has neither AVX2+FMA+F16C nor AVX-512: no few-row kernels\n"); return 1; }
    openblas_set_num_threads(2);
    x = malloc(sizeof(float) * rows * 3072);
    for (long i = 0; i < rows * 3072L; i++) x[i] = (float)((i * 40503u) % 17) * 0.1f - 0.8f;
    y[0] = calloc((size_t)rows * oi_n, 4);
    y[1] = calloc((size_t)rows * oi_n, 4);
    printf("kernels %s, %s weights, %d rows; OpenBLAS core %s; relative error vs sgemm %.2g\n", kernels->name,
           half ? "f16" : "f32", rows, openblas_get_corename(), check());
    double io_bytes = 0, oi_bytes = 0;
    for (int l = 0; l < IO_LAYERS; l++)
        for (int s = 0; s < 4; s++) {
            io_w[l][s] = filled(io_shapes[s][0] * io_shapes[s][1], 0);
            io_bytes += (half ? 2.0 : 4.0) * io_shapes[s][0] * io_shapes[s][1];
        }
    for (int i = 0; i < OI_MATRICES; i++) oi_w[i] = filled(oi_n * oi_k, 0);
    oi_bytes = (half ? 2.0 : 4.0) * OI_MATRICES * oi_n * oi_k;
    const char *names[4] = {"io kernel", "io plain read", "oi kernel", "oi plain read"};
    double gbs[4], blas_gbs[2] = {0, 0};
    for (mode = 0; mode < 4; mode++) {
        const double t = best_of(repeats, 0);
        gbs[mode] = (mode < 2 ? io_bytes : oi_bytes) / t * 1e-9;
        printf("%-14s %2d rows: %8.2f ms  %5.1f GB/s\n", names[mode], rows, t * 1e3, gbs[mode]);
        if ((mode == 0 || mode == 2) && !half) {
            const double tb = best_of(repeats, 1);
            blas_gbs[mode / 2] = (mode < 2 ? io_bytes : oi_bytes) / tb * 1e-9;
            printf("%-14s %2d rows: %8.2f ms  %5.1f GB/s\n", mode ? "oi OpenBLAS" : "io OpenBLAS", rows, tb * 1e3,
                   blas_gbs[mode / 2]);
        }
    }
    printf("kernel / plain read: io %.2f, oi %.2f", gbs[0] / gbs[1], gbs[2] / gbs[3]);
    if (!half) printf("; kernel / OpenBLAS: io %.2f, oi %.2f", gbs[0] / blas_gbs[0], gbs[2] / blas_gbs[1]);
    printf("\n");
    return 0;
}
