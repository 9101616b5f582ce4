#include "skiff_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int skiff_has_avx2_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma")))

/* One row of C, columns [j, N): scalar-friendly tail path. */
AVX2 static void gemm_row_tail(int K, const float *a, const float *B, int ldb, float *c, int j, int N, const float *bias, float lo, float hi) {
    for (int col = j; col < N; col++) {
        float s = bias ? bias[col] : 0.0f;
        for (int k = 0; k < K; k++) s += a[k] * B[(size_t)k * ldb + col];
        c[col] = s < lo ? lo : (s > hi ? hi : s);
    }
}

AVX2 void skiff_gemm_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, const float *bias,
                          float lo, float hi) {
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
#define CL(r) _mm256_min_ps(_mm256_max_ps((r), vlo), vhi)
    int i = 0;
    for (; i + 4 <= M; i += 4) {
        const float *a0 = A + (size_t)i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        float *c0 = C + (size_t)i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
        int j = 0;
        for (; j + 16 <= N; j += 16) {
            __m256 b0i = bias ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
            __m256 b1i = bias ? _mm256_loadu_ps(bias + j + 8) : _mm256_setzero_ps();
            __m256 r00 = b0i, r01 = b1i, r10 = b0i, r11 = b1i, r20 = b0i, r21 = b1i, r30 = b0i, r31 = b1i;
            const float *bp = B + j;
            for (int k = 0; k < K; k++, bp += ldb) {
                __m256 v0 = _mm256_loadu_ps(bp), v1 = _mm256_loadu_ps(bp + 8);
                __m256 x;
                x = _mm256_broadcast_ss(a0 + k); r00 = _mm256_fmadd_ps(x, v0, r00); r01 = _mm256_fmadd_ps(x, v1, r01);
                x = _mm256_broadcast_ss(a1 + k); r10 = _mm256_fmadd_ps(x, v0, r10); r11 = _mm256_fmadd_ps(x, v1, r11);
                x = _mm256_broadcast_ss(a2 + k); r20 = _mm256_fmadd_ps(x, v0, r20); r21 = _mm256_fmadd_ps(x, v1, r21);
                x = _mm256_broadcast_ss(a3 + k); r30 = _mm256_fmadd_ps(x, v0, r30); r31 = _mm256_fmadd_ps(x, v1, r31);
            }
            _mm256_storeu_ps(c0 + j, CL(r00)); _mm256_storeu_ps(c0 + j + 8, CL(r01));
            _mm256_storeu_ps(c1 + j, CL(r10)); _mm256_storeu_ps(c1 + j + 8, CL(r11));
            _mm256_storeu_ps(c2 + j, CL(r20)); _mm256_storeu_ps(c2 + j + 8, CL(r21));
            _mm256_storeu_ps(c3 + j, CL(r30)); _mm256_storeu_ps(c3 + j + 8, CL(r31));
        }
        for (; j + 8 <= N; j += 8) {
            __m256 bi = bias ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
            __m256 r0 = bi, r1 = bi, r2 = bi, r3 = bi;
            const float *bp = B + j;
            for (int k = 0; k < K; k++, bp += ldb) {
                __m256 v = _mm256_loadu_ps(bp);
                r0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + k), v, r0);
                r1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + k), v, r1);
                r2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + k), v, r2);
                r3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + k), v, r3);
            }
            _mm256_storeu_ps(c0 + j, CL(r0)); _mm256_storeu_ps(c1 + j, CL(r1)); _mm256_storeu_ps(c2 + j, CL(r2)); _mm256_storeu_ps(c3 + j, CL(r3));
        }
        if (j < N) {
            gemm_row_tail(K, a0, B, ldb, c0, j, N, bias, lo, hi); gemm_row_tail(K, a1, B, ldb, c1, j, N, bias, lo, hi);
            gemm_row_tail(K, a2, B, ldb, c2, j, N, bias, lo, hi); gemm_row_tail(K, a3, B, ldb, c3, j, N, bias, lo, hi);
        }
    }
    for (; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        int j = 0;
        for (; j + 8 <= N; j += 8) {
            __m256 r = bias ? _mm256_loadu_ps(bias + j) : _mm256_setzero_ps();
            for (int k = 0; k < K; k++) r = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k), _mm256_loadu_ps(B + (size_t)k * ldb + j), r);
            _mm256_storeu_ps(c + j, CL(r));
        }
        gemm_row_tail(K, a, B, ldb, c, j, N, bias, lo, hi);
    }
#undef CL
}

AVX2 void skiff_depthwise_avx2(const float *x, const float *w, const float *bias, float *out,
                               int h, int wd, int c, int kh, int kw, int oh, int ow,
                               int sy, int sx, int dy, int dx, int top, int left, int row_begin, int row_end, float lo, float hi) {
    int c8 = c / 8 * 8;
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (int row = row_begin; row < row_end; row++) {
        int b = row / oh, oy = row % oh;
        float *o = out + (size_t)row * ow * c;
        for (int ox = 0; ox < ow; ox++)
            for (int ch = 0; ch < c; ch++) o[(size_t)ox * c + ch] = bias ? bias[ch] : 0.0f;
        for (int ky = 0; ky < kh; ky++) {
            int iy = oy * sy - top + ky * dy;
            if (iy < 0 || iy >= h) continue;
            const float *in_row = x + ((size_t)b * h + iy) * wd * c;
            for (int kx = 0; kx < kw; kx++) {
                int shift = kx * dx - left;
                int lo = shift >= 0 ? 0 : (-shift + sx - 1) / sx;
                int hi = (wd - 1 - shift) >= 0 ? (wd - 1 - shift) / sx : -1;
                if (hi > ow - 1) hi = ow - 1;
                const float *tap = w + ((size_t)ky * kw + kx) * c;
                for (int ox = lo; ox <= hi; ox++) {
                    const float *src = in_row + (size_t)(ox * sx + shift) * c;
                    float *dst = o + (size_t)ox * c;
                    int ch = 0;
                    for (; ch < c8; ch += 8)
                        _mm256_storeu_ps(dst + ch, _mm256_fmadd_ps(_mm256_loadu_ps(src + ch), _mm256_loadu_ps(tap + ch), _mm256_loadu_ps(dst + ch)));
                    for (; ch < c; ch++) dst[ch] += src[ch] * tap[ch];
                }
            }
        }
        size_t n = (size_t)ow * c, q = 0;
        for (; q + 8 <= n; q += 8) _mm256_storeu_ps(o + q, _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(o + q), vlo), vhi));
        for (; q < n; q++) o[q] = o[q] < lo ? lo : (o[q] > hi ? hi : o[q]);
    }
}

/* exp(x) for 8 floats: range reduction by ln 2 and a degree-5 polynomial (Cephes expf constants),
   relative error about 1e-7; inputs clamped to ±88.38. */
AVX2 static inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)), _mm256_set1_ps(88.3762626647949f));
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, z, x), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(0x7f)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

AVX2 static void activate_avx2(float *p, size_t n, int kind) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), three = _mm256_set1_ps(3.0f), six = _mm256_set1_ps(6.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(p + i), y;
        if (kind == 3) {
            y = _mm256_div_ps(_mm256_mul_ps(x, _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, three), zero), six)), six);
        } else {
            __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(zero, x))));
            y = kind == 1 ? s : _mm256_mul_ps(x, s);
        }
        _mm256_storeu_ps(p + i, y);
    }
    for (; i < n; i++) {
        float x = p[i];
        if (kind == 3) { float t = x + 3.0f; t = t < 0 ? 0 : (t > 6 ? 6 : t); p[i] = x * t / 6.0f; }
        else { float s = 1.0f / (1.0f + __builtin_expf(-x)); p[i] = kind == 1 ? s : x * s; }
    }
}

AVX2 static void clamp_avx2(float *p, size_t n, float lo, float hi) {
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(p + i), vlo), vhi));
    for (; i < n; i++) p[i] = p[i] < lo ? lo : (p[i] > hi ? hi : p[i]);
}
#endif

void skiff_clamp(float *p, size_t n, float lo, float hi) {
#if defined(__x86_64__)
    if (skiff_has_avx2_fma()) { clamp_avx2(p, n, lo, hi); return; }
#endif
    for (size_t i = 0; i < n; i++) p[i] = p[i] < lo ? lo : (p[i] > hi ? hi : p[i]);
}

int skiff_activate(float *p, size_t n, int kind) {
#if defined(__x86_64__)
    if (kind >= 1 && kind <= 3 && skiff_has_avx2_fma()) { activate_avx2(p, n, kind); return 1; }
#endif
    return 0;
}

#if !defined(__x86_64__)
void skiff_gemm_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, const float *bias,
                     float lo, float hi) {}
void skiff_depthwise_avx2(const float *x, const float *w, const float *bias, float *out, int h, int wd, int c, int kh, int kw,
                          int oh, int ow, int sy, int sx, int dy, int dx, int top, int left, int row_begin, int row_end, float lo, float hi) {}
#endif

int skiff_has_crc32c_hw(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
#else
    return 0;
#endif
}

#if defined(__x86_64__)
/* Three independent crc32 streams over three thirds of each large block would hide the instruction's 3-cycle
   latency; one stream of 8-byte steps already runs at several GB/s, far beyond what file validation needs. */
__attribute__((target("sse4.2"))) unsigned int skiff_crc32c_hw(unsigned int state, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    unsigned long long c = state;
    while (n >= 8) {
        unsigned long long w;
        __builtin_memcpy(&w, b, 8);
        c = _mm_crc32_u64(c, w);
        b += 8;
        n -= 8;
    }
    unsigned int c32 = (unsigned int)c;
    while (n--) c32 = _mm_crc32_u8(c32, *b++);
    return c32;
}
#else
unsigned int skiff_crc32c_hw(unsigned int state, const void *p, size_t n) { (void)p; (void)n; return state; }
#endif
