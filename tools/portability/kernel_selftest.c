// A self-test of the C kernels' public functions against plain double-precision references,
// for architectures where the Swift tests do not run yet: tools/check_portability.sh builds it
// for aarch64 and runs it under qemu-aarch64 when that is installed. Exit status 0 = all good.

#include "cpu_features.h"
#include "float_kernels.h"
#include "int8_kernels.h"
#include "vector_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int failures = 0;

static void check(int ok, const char *what, int index, double got, double want) {
    if (!ok && failures++ < 20) fprintf(stderr, "kernel_selftest: %s[%d]: got %.9g, want %.9g\n", what, index, got, want);
}

static uint32_t state = 12345;
static float uniform(float lo, float hi) {
    state = state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(state >> 8) / 16777216.0f;
}

static void test_activations(void) {
    enum { N = 1001 };
    static float x[N], out[N];
    for (int i = 0; i < N; i++) x[i] = uniform(-12, 12);
    x[0] = 0; x[1] = -40; x[2] = 40; x[3] = 1e-4f;
    const int codes[] = {CVK_ACTIVATION_RELU, CVK_ACTIVATION_TANH, CVK_ACTIVATION_QUICK_GELU,
                         CVK_ACTIVATION_GELU_TANH, CVK_ACTIVATION_GELU_ERF};
    const char *names[] = {"relu", "tanh", "quick_gelu", "gelu_tanh", "gelu_erf"};
    for (int c = 0; c < 5; c++) {
        cvk_activation_rows(codes[c], 0, x, 0, NULL, out, 0, 1, N);
        for (int i = 0; i < N; i++) {
            const double v = x[i];
            double want;
            switch (codes[c]) {
            case CVK_ACTIVATION_RELU: want = v < 0 ? 0 : v; break;
            case CVK_ACTIVATION_TANH: want = tanh(v); break;
            case CVK_ACTIVATION_QUICK_GELU: want = v / (1 + exp(-1.702 * v)); break;
            case CVK_ACTIVATION_GELU_TANH: want = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); break;
            default: want = 0.5 * v * erfc(-v / sqrt(2.0)); break;
            }
            check(fabs(out[i] - want) <= 2e-6 * fmax(fabs(want), 1e-3), names[c], i, out[i], want);
        }
    }
}

static void test_rows(void) {
    enum { R = 3, D = 77 };
    static float x[R * D], g[D], b[D], out[R * D];
    for (int i = 0; i < R * D; i++) x[i] = uniform(-5, 5) + 3;
    for (int i = 0; i < D; i++) { g[i] = uniform(-1, 1); b[i] = uniform(-1, 1); }
    cvk_layer_norm_rows(x, g, b, 1e-5f, out, R, D);
    for (int r = 0; r < R; r++) {
        double mean = 0, var = 0;
        for (int i = 0; i < D; i++) mean += x[r * D + i];
        mean /= D;
        for (int i = 0; i < D; i++) var += (x[r * D + i] - mean) * (x[r * D + i] - mean);
        var /= D;
        for (int i = 0; i < D; i++) {
            const double want = (x[r * D + i] - mean) / sqrt(var + 1e-5) * g[i] + b[i];
            check(fabs(out[r * D + i] - want) <= 1e-5 * fmax(1, fabs(want)), "layer_norm", r * D + i, out[r * D + i], want);
        }
    }
    cvk_softmax_rows(x, out, R, D);
    for (int r = 0; r < R; r++) {
        double m = -INFINITY, s = 0;
        for (int i = 0; i < D; i++) m = fmax(m, x[r * D + i]);
        for (int i = 0; i < D; i++) s += exp(x[r * D + i] - m);
        for (int i = 0; i < D; i++) {
            const double want = exp(x[r * D + i] - m) / s;
            check(fabs(out[r * D + i] - want) <= 1e-6, "softmax", r * D + i, out[r * D + i], want);
        }
    }
    float e[D];
    const double sum = cvk_exp_shifted(x, 2, e, D);
    double want_sum = 0;
    for (int i = 0; i < D; i++) want_sum += exp((double)x[i] - 2);
    check(fabs(sum - want_sum) <= 1e-5 * want_sum, "exp_shifted sum", 0, sum, want_sum);
}

static void test_int8(void) {
    enum { M = 3, K = 70, N = 9 };
    static float x[M * K], sx[M], sw[N], bias[N], out[M * N];
    static int8_t q[M * K], w[N * K];
    for (int i = 0; i < M * K; i++) x[i] = uniform(-2, 2);
    for (int i = 0; i < N * K; i++) w[i] = (int8_t)(uniform(-127, 127));
    for (int n = 0; n < N; n++) { sw[n] = uniform(0.001f, 0.01f); bias[n] = uniform(-1, 1); }
    ci8_quantize_rows(x, M, K, K, q, sx);
    ci8_linear_per_channel(q, sx, M, K, w, sw, bias, 0, N, out, N);
    for (int r = 0; r < M; r++)
        for (int n = 0; n < N; n++) {
            long acc = 0;
            for (int i = 0; i < K; i++) acc += (long)q[r * K + i] * w[n * K + i];
            const double want = (double)acc * sx[r] * sw[n] + bias[n];
            check(fabs(out[r * N + n] - want) <= 1e-5 * fmax(1, fabs(want)), "linear_per_channel", r * N + n, out[r * N + n], want);
        }
    int8_t a[1000], c[1000];
    for (int i = 0; i < 1000; i++) { a[i] = -127; c[i] = -127; }
    check(ci8_dot(a, c, 1000) == 1000 * 127 * 127, "dot worst case", 0, ci8_dot(a, c, 1000), 1000 * 127 * 127);
}

static void test_float_products(void) {
    enum { M = 2, K = 33, N = 21 };
    // Only the portable versions (other architectures) are checked here; the Swift tests cover x86-64.
#if !defined(__x86_64__)
    static float x[M * K], w[K * N], y[M * N];
    for (int i = 0; i < M * K; i++) x[i] = uniform(-1, 1);
    for (int i = 0; i < K * N; i++) w[i] = uniform(-1, 1);
    cf32_rows_io_range(x, M, K, 0, K, w, N, 0, N, y, N);
    for (int r = 0; r < M; r++)
        for (int n = 0; n < N; n++) {
            double want = 0;
            for (int k = 0; k < K; k++) want += (double)x[r * K + k] * w[k * N + n];
            check(fabs(y[r * N + n] - want) <= 1e-5, "rows_io_range", r * N + n, y[r * N + n], want);
        }
#endif
}

static void test_attention_and_halves(void) {
    enum { T = 5, D = 24, MODEL = 40 };
    static float q[T * MODEL], k[T * MODEL], v[T * MODEL], out[T * MODEL], scores[T];
    for (int i = 0; i < T * MODEL; i++) { q[i] = uniform(-1, 1); k[i] = uniform(-1, 1); v[i] = uniform(-1, 1); }
    cvk_attention_head(q, k, v, out, T, T, MODEL, D, 0.2f, 1, scores);
    for (int i = 0; i < T; i++) {
        double s[T], m = -INFINITY, total = 0;
        for (int j = 0; j <= i; j++) {
            s[j] = 0;
            for (int d = 0; d < D; d++) s[j] += (double)q[i * MODEL + d] * k[j * MODEL + d];
            s[j] *= 0.2;
            m = fmax(m, s[j]);
        }
        for (int j = 0; j <= i; j++) { s[j] = exp(s[j] - m); total += s[j]; }
        for (int d = 0; d < D; d++) {
            double want = 0;
            for (int j = 0; j <= i; j++) want += s[j] / total * v[j * MODEL + d];
            check(fabs(out[i * MODEL + d] - want) <= 1e-5, "attention_head", i * MODEL + d, out[i * MODEL + d], want);
        }
    }
    const uint16_t halves[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00, 0x3555};
    const double want[] = {0, -0.0, 1, -2, 5.960464477539063e-08, 6.097555160522461e-05, 6.103515625e-05, 65504,
                           INFINITY, -INFINITY, 0.333251953125};
    float got[11];
    cvk_f16_to_f32(halves, got, 11);
    for (int i = 0; i < 11; i++) check(got[i] == want[i], "f16_to_f32", i, got[i], want[i]);
}

int main(void) {
    for (int level = clipcap_cpu_detected_level(); level >= CLIPCAP_CPU_PORTABLE; level--) {
        clipcap_cpu_set_limit(level);
        test_activations();
        test_rows();
        test_int8();
        test_float_products();
        test_attention_and_halves();
        printf("kernel_selftest: level %s: %s\n", clipcap_cpu_level_name(level), failures ? "FAILED" : "ok");
        if (failures) return 1;
    }
    return 0;
}
