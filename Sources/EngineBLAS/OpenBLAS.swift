#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Engine

/// OpenBLAS as the engine's BLAS (`skiff` installs it at start; `skiff-runtime` never does). The measured gain is
/// on large GEMMs (ResNet50's late layers), which the micro-kernel otherwise runs.
///
/// The library is opened here with `dlopen`, not linked, and with `OPENBLAS_NUM_THREADS=1` in the environment while
/// it loads: the engine calls it single-threaded inside its own blocks, but a linked OpenBLAS starts one worker per
/// core in its load-time constructor, and each spins on `sched_yield` for about 2^28 cycles before sleeping. On two
/// cores that spinning thread took the other core from model loading and the first inference of every `skiff`
/// command (`skiff predict` cold, 15 alternated runs: median 122 → 100 ms with the variable set by hand).
public enum OpenBLAS {
    typealias SGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                      UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias Configuration = @convention(c) () -> UnsafePointer<CChar>?

    #if os(macOS)
    static let library = "libopenblas.dylib"
    #else
    static let library = "libopenblas.so.0"
    #endif

    /// Opens OpenBLAS and makes the engine's large GEMMs call it; returns false (Skiff's own kernels run every
    /// GEMM) when the library is not installed. Call it before starting threads: it sets an environment variable
    /// for the duration of the `dlopen` and restores it.
    @discardableResult
    public static func install() -> Bool {
        let previous = getenv("OPENBLAS_NUM_THREADS").map { String(cString: $0) }
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL)
        if let previous { setenv("OPENBLAS_NUM_THREADS", previous, 1) } else { unsetenv("OPENBLAS_NUM_THREADS") }
        guard let handle, let gemm = dlsym(handle, "cblas_sgemm") else { return false }
        let sgemm = unsafeBitCast(gemm, to: SGEMM.self)
        let configuration = dlsym(handle, "openblas_get_config").flatMap { unsafeBitCast($0, to: Configuration.self)() }
            .map { String(cString: $0) } ?? "OpenBLAS"
        let rowMajor: Int32 = 101, noTranspose: Int32 = 111  // CBLAS_ORDER / CBLAS_TRANSPOSE values
        BLAS.install(BLAS.Provider(
            configuration: configuration,
            sgemm: { m, n, k, a, lda, b, ldb, c, ldc in
                sgemm(rowMajor, noTranspose, noTranspose, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
            },
            // Loaded with one thread; the engine's own pool does the parallel work.
            setThreads: { _ in }))
        return true
    }
}
