import COpenBLAS
import CSkiffKernels

/// The tuned BLAS the engine's GEMM-based kernels call (the only file family that imports COpenBLAS).
public enum BLAS {
    /// OpenBLAS's build description (version, target core, threading).
    public static var configuration: String { String(cString: openblas_get_config()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C = A·B for row-major A [m, k] (row stride `lda`, default k) and B [k, n] (row stride `ldb`,
    /// default n) into C (row stride `ldc`, default n).
    public static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int? = nil, b: UnsafePointer<Float>, ldb: Int? = nil,
                             c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda ?? k), b, Int32(ldb ?? n), 0, c, Int32(ldc ?? n))
    }

    /// Sets OpenBLAS's thread count (the engine's own parallel loops use the same budget).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}

/// Sets the thread budget of the engine's parallel loops (OpenBLAS stays single-threaded inside them).
public func setThreads(_ n: Int) {
    FastKernels.threads = max(1, n)
    BLAS.setThreads(1)
    _ = skiff_pool_start(Int32(max(1, n)))
}

/// Which optimised kernel set this CPU runs ("avx2+fma" micro-kernels, or "baseline").
public var kernelSet: String { FastConvolution.avx2 ? "avx2+fma" : "baseline" }
