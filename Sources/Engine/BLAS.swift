import COpenBLAS

/// The tuned BLAS the engine's GEMM-based kernels call (the only file family that imports COpenBLAS).
public enum BLAS {
    /// OpenBLAS's build description (version, target core, threading).
    public static var configuration: String { String(cString: openblas_get_config()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C = A·B for row-major A [m, k] and B [k, n].
    public static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
    }
}
