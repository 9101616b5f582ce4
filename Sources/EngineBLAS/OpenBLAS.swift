import COpenBLAS
import Engine

/// OpenBLAS as the engine's BLAS (the only file that imports COpenBLAS). `skiff` installs it at start; the
/// measured gain is on large GEMMs (ResNet50's late layers), which the micro-kernel otherwise runs.
public enum OpenBLAS {
    public static func install() {
        BLAS.install(BLAS.Provider(
            configuration: String(cString: openblas_get_config()),
            sgemm: { m, n, k, a, lda, b, ldb, c, ldc in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
            },
            setThreads: { openblas_set_num_threads(Int32(max(1, $0))) }))
    }
}
