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

/* R rows (R ≤ 6, a compile-time constant after inlining) × 16 columns of C over all K, B read in place with
   stride ldb. `mask` selects the valid columns of a partial strip (all ones for a full one). */
AVX2 static inline __attribute__((always_inline)) void gemm_strip(const int R, int K, const float *A, int lda, const float *B, int ldb,
                                                                  float *C, int ldc, const float *bias, __m256i m0, __m256i m1,
                                                                  __m256 vlo, __m256 vhi) {
    __m256 acc[6][2];
    __m256 b0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
    __m256 b1 = bias ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
    for (int r = 0; r < R; r++) { acc[r][0] = b0; acc[r][1] = b1; }
    const float *bp = B;
    for (int k = 0; k < K; k++, bp += ldb) {
        __m256 v0 = _mm256_maskload_ps(bp, m0), v1 = _mm256_maskload_ps(bp + 8, m1);
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_broadcast_ss(A + (size_t)r * lda + k);
            acc[r][0] = _mm256_fmadd_ps(x, v0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, v1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm256_maskstore_ps(C + (size_t)r * ldc, m0, _mm256_min_ps(_mm256_max_ps(acc[r][0], vlo), vhi));
        _mm256_maskstore_ps(C + (size_t)r * ldc + 8, m1, _mm256_min_ps(_mm256_max_ps(acc[r][1], vlo), vhi));
    }
}

/* Full strips use plain loads and stores (no masks), the common case. */
AVX2 static inline __attribute__((always_inline)) void gemm_strip_full(const int R, int K, const float *A, int lda, const float *B, int ldb,
                                                                       float *C, int ldc, const float *bias, __m256 vlo, __m256 vhi) {
    __m256 acc[6][2];
    __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    __m256 b1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (int r = 0; r < R; r++) { acc[r][0] = b0; acc[r][1] = b1; }
    const float *bp = B;
    for (int k = 0; k < K; k++, bp += ldb) {
        __m256 v0 = _mm256_loadu_ps(bp), v1 = _mm256_loadu_ps(bp + 8);
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_broadcast_ss(A + (size_t)r * lda + k);
            acc[r][0] = _mm256_fmadd_ps(x, v0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, v1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(C + (size_t)r * ldc, _mm256_min_ps(_mm256_max_ps(acc[r][0], vlo), vhi));
        _mm256_storeu_ps(C + (size_t)r * ldc + 8, _mm256_min_ps(_mm256_max_ps(acc[r][1], vlo), vhi));
    }
}

/* Rows are taken in blocks small enough that the block of A stays in L2; within a block every 16-column
   strip of B (K cache lines, kept in L1) is swept over all of the block's rows, 6 at a time (12 accumulators:
   enough independent FMAs to cover their latency on two FMA ports). */
AVX2 void skiff_gemm_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, const float *bias,
                          float lo, float hi) {
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int block = (int)(192 * 1024 / ((size_t)(K > 0 ? K : 1) * 4));
    block = block < 6 ? 6 : block / 6 * 6;
    for (int i0 = 0; i0 < M; i0 += block) {
        int i1 = i0 + block < M ? i0 + block : M;
        for (int j = 0; j < N; j += 16) {
            int cols = N - j < 16 ? N - j : 16;
            const float *bj = B + j, *biasj = bias ? bias + j : NULL;
            if (cols == 16) {
                int i = i0;
                for (; i + 6 <= i1; i += 6) gemm_strip_full(6, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, vlo, vhi);
                switch (i1 - i) {
                case 5: gemm_strip_full(5, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, vlo, vhi); break;
                case 4: gemm_strip_full(4, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, vlo, vhi); break;
                case 3: gemm_strip_full(3, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, vlo, vhi); break;
                case 2: gemm_strip_full(2, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, vlo, vhi); break;
                case 1: gemm_strip_full(1, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, vlo, vhi); break;
                default: break;
                }
            } else {
                int lanes[16];
                for (int t = 0; t < 16; t++) lanes[t] = t < cols ? -1 : 0;
                __m256i m0 = _mm256_loadu_si256((const __m256i *)lanes), m1 = _mm256_loadu_si256((const __m256i *)(lanes + 8));
                int i = i0;
                for (; i + 6 <= i1; i += 6) gemm_strip(6, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, m0, m1, vlo, vhi);
                for (; i < i1; i++) gemm_strip(1, K, A + (size_t)i * lda, lda, bj, ldb, C + (size_t)i * ldc + j, ldc, biasj, m0, m1, vlo, vhi);
            }
        }
    }
}

/* Taps [k0, k1] of a kernel of size k (dilation d) that land inside [0, size) for a window starting at
   pos (= output index · stride − padding). Empty when k1 < k0. */
static inline void tap_range(int pos, int d, int k, int size, int *k0, int *k1) {
    *k0 = pos >= 0 ? 0 : (-pos + d - 1) / d;
    int last = size - 1 - pos;
    *k1 = last < 0 ? -1 : last / d;
    if (*k1 > k - 1) *k1 = k - 1;
}

/* Depthwise (multiplier 1), one output pixel at a time: 32 channels in four registers start at the bias and
   take every in-bounds tap (ky, kx in order, as the reference adds them), then are clamped and stored once. */
AVX2 void skiff_depthwise_avx2(const float *x, const float *w, const float *bias, float *out,
                               int h, int wd, int c, int kh, int kw, int oh, int ow,
                               int sy, int sx, int dy, int dx, int top, int left, int row_begin, int row_end, float lo, float hi) {
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int lanes[16];
    for (int t = 0; t < 16; t++) lanes[t] = t < 8 && t < c % 8 ? -1 : 0;
    const __m256i tail = _mm256_loadu_si256((const __m256i *)lanes);
    const int c32 = c / 32 * 32, c8 = c / 8 * 8;
    const size_t rowStride = (size_t)wd * c;
    for (int row = row_begin; row < row_end; row++) {
        int b = row / oh, oy = row % oh;
        int py = oy * sy - top, ky0, ky1;
        tap_range(py, dy, kh, h, &ky0, &ky1);
        const float *image = x + (size_t)b * h * rowStride;
        float *o = out + (size_t)row * ow * c;
        for (int ox = 0; ox < ow; ox++) {
            int px = ox * sx - left, kx0, kx1;
            tap_range(px, dx, kw, wd, &kx0, &kx1);
            float *dst = o + (size_t)ox * c;
            int ch = 0;
            for (; ch < c32; ch += 32) {
                __m256 a0, a1, a2, a3;
                if (bias) { a0 = _mm256_loadu_ps(bias + ch); a1 = _mm256_loadu_ps(bias + ch + 8); a2 = _mm256_loadu_ps(bias + ch + 16); a3 = _mm256_loadu_ps(bias + ch + 24); }
                else a0 = a1 = a2 = a3 = _mm256_setzero_ps();
                for (int ky = ky0; ky <= ky1; ky++) {
                    const float *in = image + (size_t)(py + ky * dy) * rowStride + ch;
                    const float *wk = w + (size_t)ky * kw * c + ch;
                    for (int kx = kx0; kx <= kx1; kx++) {
                        const float *s = in + (size_t)(px + kx * dx) * c, *t = wk + (size_t)kx * c;
                        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(t), a0);
                        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(s + 8), _mm256_loadu_ps(t + 8), a1);
                        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(s + 16), _mm256_loadu_ps(t + 16), a2);
                        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(s + 24), _mm256_loadu_ps(t + 24), a3);
                    }
                }
                _mm256_storeu_ps(dst + ch, _mm256_min_ps(_mm256_max_ps(a0, vlo), vhi));
                _mm256_storeu_ps(dst + ch + 8, _mm256_min_ps(_mm256_max_ps(a1, vlo), vhi));
                _mm256_storeu_ps(dst + ch + 16, _mm256_min_ps(_mm256_max_ps(a2, vlo), vhi));
                _mm256_storeu_ps(dst + ch + 24, _mm256_min_ps(_mm256_max_ps(a3, vlo), vhi));
            }
            for (; ch < c; ch += 8) {
                const int full = ch < c8;
                __m256 a = bias ? (full ? _mm256_loadu_ps(bias + ch) : _mm256_maskload_ps(bias + ch, tail)) : _mm256_setzero_ps();
                for (int ky = ky0; ky <= ky1; ky++) {
                    const float *in = image + (size_t)(py + ky * dy) * rowStride + ch;
                    const float *wk = w + (size_t)ky * kw * c + ch;
                    for (int kx = kx0; kx <= kx1; kx++) {
                        const float *s = in + (size_t)(px + kx * dx) * c, *t = wk + (size_t)kx * c;
                        a = full ? _mm256_fmadd_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(t), a)
                                 : _mm256_fmadd_ps(_mm256_maskload_ps(s, tail), _mm256_maskload_ps(t, tail), a);
                    }
                }
                a = _mm256_min_ps(_mm256_max_ps(a, vlo), vhi);
                if (full) _mm256_storeu_ps(dst + ch, a); else _mm256_maskstore_ps(dst + ch, tail, a);
            }
        }
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

void skiff_gemm_portable(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, const float *bias,
                         float lo, float hi) {
    for (int i = 0; i < M; i++) {
        float *restrict c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) c[j] = bias ? bias[j] : 0.0f;
        const float *a = A + (size_t)i * lda;
        for (int p = 0; p < K; p++) {
            const float x = a[p];
            const float *restrict b = B + (size_t)p * ldb;
            for (int j = 0; j < N; j++) c[j] += x * b[j];
        }
        for (int j = 0; j < N; j++) c[j] = c[j] < lo ? lo : (c[j] > hi ? hi : c[j]);
    }
}

#if defined(__x86_64__)
AVX2 void skiff_gemv_avx2(int N, int K, const float *x, const float *B, int ldb, float *y, const float *bias, float lo, float hi) {
    for (int j = 0; j < N; j++) y[j] = bias ? bias[j] : 0.0f;
    int i = 0;
    for (; i + 4 <= K; i += 4) {
        const __m256 x0 = _mm256_set1_ps(x[i]), x1 = _mm256_set1_ps(x[i + 1]), x2 = _mm256_set1_ps(x[i + 2]), x3 = _mm256_set1_ps(x[i + 3]);
        const float *b0 = B + (size_t)i * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
        int j = 0;
        for (; j + 8 <= N; j += 8) {
            __m256 acc = _mm256_loadu_ps(y + j);
            acc = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b0 + j), acc);
            acc = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b1 + j), acc);
            acc = _mm256_fmadd_ps(x2, _mm256_loadu_ps(b2 + j), acc);
            acc = _mm256_fmadd_ps(x3, _mm256_loadu_ps(b3 + j), acc);
            _mm256_storeu_ps(y + j, acc);
        }
        for (; j < N; j++) y[j] += x[i] * b0[j] + x[i + 1] * b1[j] + x[i + 2] * b2[j] + x[i + 3] * b3[j];
    }
    for (; i < K; i++) {
        const float *b = B + (size_t)i * ldb;
        for (int j = 0; j < N; j++) y[j] += x[i] * b[j];
    }
    for (int j = 0; j < N; j++) y[j] = y[j] < lo ? lo : (y[j] > hi ? hi : y[j]);
}
#endif

#if !defined(__x86_64__)
void skiff_gemv_avx2(int N, int K, const float *x, const float *B, int ldb, float *y, const float *bias, float lo, float hi) {}
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
/* The crc32 instruction has a latency of 3 cycles and a throughput of 1 per cycle, so one dependent stream runs at
   a third of the speed the unit allows. Large inputs run three streams over three consecutive 4 KiB stripes and
   join them: for raw register states, crc(A‖B) = shift(crc(A)) ⊕ crc₀(B), where shift multiplies by x^(8·4096)
   modulo the polynomial — a linear map on 32 bits, applied by four 256-entry tables built once. */
#define CRC_STRIPE 4096
static unsigned int crc_shift_table[4][256];
static int crc_shift_ready;

/* One zero byte through the reflected register (polynomial 0x82F63B78): the map x ↦ x·x^8 mod P. */
static unsigned int crc_zero_byte(unsigned int c) {
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    return c;
}

static void crc_shift_init(void) {
    /* The image of each basis bit under CRC_STRIPE zero bytes, then the tables by linearity. */
    unsigned int basis[32];
    for (int b = 0; b < 32; b++) {
        unsigned int c = 1u << b;
        for (int i = 0; i < CRC_STRIPE; i++) c = crc_zero_byte(c);
        basis[b] = c;
    }
    for (int t = 0; t < 4; t++)
        for (int v = 0; v < 256; v++) {
            unsigned int c = 0;
            for (int b = 0; b < 8; b++) if (v & (1 << b)) c ^= basis[8 * t + b];
            crc_shift_table[t][v] = c;
        }
    __atomic_store_n(&crc_shift_ready, 1, __ATOMIC_RELEASE);
}

static inline unsigned int crc_shift(unsigned int c) {
    return crc_shift_table[0][c & 255] ^ crc_shift_table[1][(c >> 8) & 255] ^ crc_shift_table[2][(c >> 16) & 255] ^
           crc_shift_table[3][c >> 24];
}

__attribute__((target("sse4.2"))) unsigned int skiff_crc32c_hw(unsigned int state, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    unsigned long long c = state;
    if (n >= 3 * CRC_STRIPE) {
        /* Built once; racing first callers compute identical tables. */
        if (!__atomic_load_n(&crc_shift_ready, __ATOMIC_ACQUIRE)) crc_shift_init();
        while (n >= 3 * CRC_STRIPE) {
            unsigned long long c1 = 0, c2 = 0;
            const unsigned char *b1 = b + CRC_STRIPE, *b2 = b + 2 * CRC_STRIPE;
            for (size_t i = 0; i < CRC_STRIPE; i += 8) {
                unsigned long long w0, w1, w2;
                __builtin_memcpy(&w0, b + i, 8);
                __builtin_memcpy(&w1, b1 + i, 8);
                __builtin_memcpy(&w2, b2 + i, 8);
                c = _mm_crc32_u64(c, w0);
                c1 = _mm_crc32_u64(c1, w1);
                c2 = _mm_crc32_u64(c2, w2);
            }
            c = crc_shift(crc_shift((unsigned int)c) ^ (unsigned int)c1) ^ (unsigned int)c2;
            b += 3 * CRC_STRIPE;
            n -= 3 * CRC_STRIPE;
        }
    }
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

/* Byte un-shuffle of elements [begin, end): byte k of element i is src[k·n + i]. SSE2 (every x86-64 CPU) interleaves
   16 elements' planes per step with unpack instructions for 2- and 4-byte elements; other sizes and the tail
   take the scalar loop. */
void skiff_unshuffle(const unsigned char *restrict src, size_t n, size_t s, unsigned char *restrict dst,
                     size_t begin, size_t end) {
    size_t i = begin;
#if defined(__x86_64__)
    if (s == 4) {
        const unsigned char *p0 = src, *p1 = src + n, *p2 = src + 2 * n, *p3 = src + 3 * n;
        for (; i + 16 <= end; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(p0 + i)), b = _mm_loadu_si128((const __m128i *)(p1 + i));
            __m128i c = _mm_loadu_si128((const __m128i *)(p2 + i)), d = _mm_loadu_si128((const __m128i *)(p3 + i));
            __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
            __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
            __m128i *o = (__m128i *)(dst + 4 * i);
            _mm_storeu_si128(o, _mm_unpacklo_epi16(ab0, cd0));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab0, cd0));
            _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab1, cd1));
            _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab1, cd1));
        }
    } else if (s == 2) {
        const unsigned char *p0 = src, *p1 = src + n;
        for (; i + 16 <= end; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(p0 + i)), b = _mm_loadu_si128((const __m128i *)(p1 + i));
            __m128i *o = (__m128i *)(dst + 2 * i);
            _mm_storeu_si128(o, _mm_unpacklo_epi8(a, b));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi8(a, b));
        }
    }
#endif
    for (; i < end; i++)
        for (size_t k = 0; k < s; k++) dst[i * s + k] = src[k * n + i];
}
