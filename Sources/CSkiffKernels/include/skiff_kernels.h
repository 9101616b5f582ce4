#ifndef SKIFF_KERNELS_H
#define SKIFF_KERNELS_H
#include <stddef.h>

/* 1 when the CPU has AVX2 and FMA (the micro-kernels below may then be called). */
int skiff_has_avx2_fma(void);

/* C[M×N] = A[M×K]·B[K×N] (+ bias[N] on every row when bias is not NULL); row-major with leading
   dimensions lda, ldb, ldc, then clamped to [lo, hi] (relu: 0, +inf; relu6: 0, 6; none: ±inf). AVX2/FMA register-blocked kernel (6 rows × 16 columns, row blocks
   kept in L2, B strips in L1), for the short-K products of pointwise convolutions. Call only when skiff_has_avx2_fma(). */
void skiff_gemm_avx2(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, const float *bias,
                     float lo, float hi);

/* y[N] = x[K]·B[K×N] (+ bias, clamped to [lo, hi]) — the M = 1 case of skiff_gemm_avx2 (a dense layer at batch 1),
   reading B's rows once, front to back, four at a time, with y kept in L1: the product is a stream of B from memory.
   Call only when skiff_has_avx2_fma(). */
void skiff_gemv_avx2(int N, int K, const float *x, const float *B, int ldb, float *y, const float *bias, float lo, float hi);

/* The same product, bias and clamp in portable C (any CPU; the compiler vectorises the inner loop): the
   engine's GEMM when the CPU lacks AVX2/FMA and no BLAS library is installed. */
void skiff_gemm_portable(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, const float *bias,
                         float lo, float hi);

/* Depthwise convolution (multiplier 1) of output rows [row_begin, row_end) of an NHWC batch, with
   optional bias, clamped to [lo, hi]. Call only when skiff_has_avx2_fma(). */
void skiff_depthwise_avx2(const float *x, const float *w, const float *bias, float *out,
                          int h, int wd, int c, int kh, int kw, int oh, int ow,
                          int sy, int sx, int dy, int dx, int top, int left, int row_begin, int row_end, float lo, float hi);

/* p[i] = min(max(p[i], lo), hi) for n floats (AVX2 when available, scalar otherwise). */
void skiff_clamp(float *p, size_t n, float lo, float hi);

/* In place: kind 1 sigmoid, 2 swish (x·sigmoid(x)), 3 hard swish (x·relu6(x+3)/6). Returns 0 when the
   kind is unknown or the CPU lacks AVX2/FMA (the caller then uses its scalar definition). */
int skiff_activate(float *p, size_t n, int kind);

/* CRC-32C (Castagnoli) with the SSE4.2 crc32 instruction: `state` is the running register (start with
   0xFFFFFFFF, XOR the result with 0xFFFFFFFF at the end). Returns 0 from skiff_has_crc32c_hw() when the CPU
   lacks the instruction; the caller then uses its table-driven definition. */
int skiff_has_crc32c_hw(void);
unsigned int skiff_crc32c_hw(unsigned int state, const void *p, size_t n);

/* The `.skiff` byte un-shuffle for elements [begin, end) of n elements of s bytes: dst[i·s + k] = src[k·n + i]
   (vector instructions for s = 2 and 4). */
void skiff_unshuffle(const unsigned char *src, size_t n, size_t s, unsigned char *dst, size_t begin, size_t end);

/* The engine's worker pool (pool.c). skiff_pool_start makes threads − 1 workers (the caller is the other);
   skiff_pool_run calls fn(ctx, i) for i in [0, count) across the workers and the caller, returning when all
   are done (inline when the pool is busy or has no workers).
   OpenBLAS stays single-threaded: the engine calls it inside its own blocks. */
typedef void (*skiff_task_fn)(void *ctx, int index);
int skiff_pool_start(int threads);
void skiff_pool_run(skiff_task_fn fn, void *ctx, int count);
/// CPUs in this process's affinity mask, or 0 when unknown.
int skiff_affinity_count(void);

#endif
