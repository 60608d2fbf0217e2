/* Physical limits of this machine for tools/machine_limits.py: FMA peak and memory read bandwidth.
 *
 *   cc -O2 -mavx2 -mfma -mavx512f -pthread tools/machine_limits_probe.c -o /tmp/machine_limits_probe
 *   machine_limits_probe fma THREADS {avx2|avx512}   -> GFLOP/s (fp32 FMA = 2 flops per lane)
 *   machine_limits_probe bw THREADS MIB REPEATS [STREAMS] -> GB/s reading MIB MiB (best and median pass)
 *
 * The FMA loop keeps 12 independent accumulators per thread, enough to cover FMA latency on two
 * ports. The bandwidth loop sums floats with 4 AVX2 accumulators; each thread reads its own
 * contiguous slice, first-touched by that same thread. Output is one JSON object per run.
 * Only used by a benchmark script; never part of the engine.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { ACC = 12 };
static const long FMA_ITERS = 200000000L / ACC;

typedef struct { int wide; float result; } FmaArg;

__attribute__((target("avx2,fma"))) static float fma_avx2(void) {
    __m256 acc[ACC];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < FMA_ITERS; it++)
        for (int i = 0; i < ACC; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    __m256 s = acc[0];
    for (int i = 1; i < ACC; i++) s = _mm256_add_ps(s, acc[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) static float fma_avx512(void) {
    __m512 acc[ACC];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < FMA_ITERS; it++)
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < ACC; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

static void *fma_thread(void *p) {
    FmaArg *arg = p;
    arg->result = arg->wide ? fma_avx512() : fma_avx2();
    return NULL;
}

typedef struct { const float *data; size_t count; int streams; double sum; } BwArg;

__attribute__((target("avx2"))) static void *bw_thread(void *p) {
    BwArg *arg = p;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const int streams = arg->streams;
    size_t len = (arg->count / streams) & ~(size_t)15;  /* floats per stream, whole lines */
    for (size_t i = 0; i < len; i += 16) {
        for (int s = 0; s < streams; s += 2) {
            const float *a = arg->data + (size_t)s * len + i;
            s0 = _mm256_add_ps(s0, _mm256_load_ps(a));
            s1 = _mm256_add_ps(s1, _mm256_load_ps(a + 8));
            if (s + 1 < streams) {
                const float *b = a + len;
                s2 = _mm256_add_ps(s2, _mm256_load_ps(b));
                s3 = _mm256_add_ps(s3, _mm256_load_ps(b + 8));
            }
        }
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    arg->sum = out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
    return NULL;
}

typedef struct { float *data; size_t count; } TouchArg;

static void *touch_thread(void *p) {
    TouchArg *arg = p;
    for (size_t i = 0; i < arg->count; i++) arg->data[i] = (float)(i & 7) * 0.125f;
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s fma THREADS avx2|avx512 | bw THREADS MIB REPEATS\n", argv[0]); return 2; }
    int threads = atoi(argv[2]);
    if (threads < 1 || threads > 64) { fprintf(stderr, "THREADS must be 1..64\n"); return 2; }
    pthread_t tid[64];
    __builtin_cpu_init();
    if (strcmp(argv[1], "fma") == 0 && argc >= 4) {
        int wide = strcmp(argv[3], "avx512") == 0;
        if (wide && !__builtin_cpu_supports("avx512f")) { printf("{\"error\":\"no avx512f\"}\n"); return 0; }
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) { printf("{\"error\":\"no avx2/fma\"}\n"); return 0; }
        FmaArg args[64];
        double t0 = now();
        for (int t = 0; t < threads; t++) { args[t].wide = wide; pthread_create(&tid[t], NULL, fma_thread, &args[t]); }
        for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
        double dt = now() - t0;
        double flops = (double)threads * FMA_ITERS * ACC * (wide ? 16 : 8) * 2;
        printf("{\"test\":\"fma\",\"isa\":\"%s\",\"threads\":%d,\"gflops\":%.2f,\"check\":%g}\n", wide ? "avx512" : "avx2",
               threads, flops / dt * 1e-9, (double)args[0].result);
        return 0;
    }
    if (strcmp(argv[1], "bw") == 0 && argc >= 5) {
        size_t mib = (size_t)atol(argv[3]);
        int repeats = atoi(argv[4]);
        int streams = argc >= 6 ? atoi(argv[5]) : 1;
        if (mib < 1 || repeats < 1 || repeats > 100 || streams < 1 || streams > 64) { fprintf(stderr, "bad MIB, REPEATS or STREAMS\n"); return 2; }
        size_t count = mib * 1024 * 1024 / sizeof(float);
        float *data = aligned_alloc(64, count * sizeof(float));
        if (!data) { fprintf(stderr, "out of memory\n"); return 1; }
        size_t per = (count / threads) & ~(size_t)31;
        TouchArg touch[64];
        for (int t = 0; t < threads; t++) { touch[t].data = data + per * t; touch[t].count = per; pthread_create(&tid[t], NULL, touch_thread, &touch[t]); }
        for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
        double rates[100], sum = 0;
        for (int r = 0; r < repeats; r++) {
            BwArg args[64];
            double t0 = now();
            for (int t = 0; t < threads; t++) { args[t].data = data + per * t; args[t].count = per; args[t].streams = streams; pthread_create(&tid[t], NULL, bw_thread, &args[t]); }
            for (int t = 0; t < threads; t++) { pthread_join(tid[t], NULL); sum += args[t].sum; }
            size_t read = ((per / streams) & ~(size_t)15) * streams;
            rates[r] = (double)read * threads * sizeof(float) / (now() - t0) * 1e-9;
        }
        qsort(rates, repeats, sizeof(double), cmp_double);
        printf("{\"test\":\"bw\",\"threads\":%d,\"mib\":%zu,\"streams\":%d,\"best_gbs\":%.2f,\"median_gbs\":%.2f,\"check\":%g}\n", threads, mib, streams,
               rates[repeats - 1], rates[repeats / 2], sum);
        free(data);
        return 0;
    }
    fprintf(stderr, "unknown test %s\n", argv[1]);
    return 2;
}
