import CSkiffKernels

/// The tuned BLAS the engine's larger GEMMs may call. The engine links none itself: `skiff` installs OpenBLAS at
/// start (`EngineBLAS.OpenBLAS.install()`), while `skiff-runtime` runs every GEMM on Skiff's own kernels (the AVX2
/// micro-kernel, or the portable C loop), which keeps a 30–60 MB library out of the Lambda image.
public enum BLAS {
    /// C = A·B, row-major, with leading dimensions (m, n, k, a, lda, b, ldb, c, ldc).
    public typealias SGEMM = @Sendable (Int, Int, Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void

    /// A BLAS library the engine can call: its description, its SGEMM, and how to set its own thread count.
    public struct Provider: Sendable {
        public var configuration: String
        public var sgemm: SGEMM
        public var setThreads: @Sendable (Int) -> Void
        public init(configuration: String, sgemm: @escaping SGEMM, setThreads: @escaping @Sendable (Int) -> Void) {
            self.configuration = configuration
            self.sgemm = sgemm
            self.setThreads = setThreads
        }
    }

    /// Set once at start, before the first inference (not synchronised).
    nonisolated(unsafe) public private(set) static var provider: Provider?

    /// Makes the engine call `provider` for the GEMMs too large for its micro-kernel; it runs single-threaded
    /// inside the engine's own row or column blocks.
    public static func install(_ provider: Provider) {
        self.provider = provider
        provider.setThreads(1)
    }

    /// Whether a BLAS library is installed.
    public static var available: Bool { provider != nil }

    /// The installed library's build description, or what runs instead.
    public static var configuration: String { provider?.configuration ?? "none (Skiff's own GEMM kernels)" }

    /// C = A·B for row-major A [m, k] (row stride `lda`, default k) and B [k, n] (row stride `ldb`,
    /// default n) into C (row stride `ldc`, default n): the installed BLAS, else Skiff's own kernels.
    public static func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int? = nil, b: UnsafePointer<Float>, ldb: Int? = nil,
                             c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
        if let provider {
            provider.sgemm(m, n, k, a, lda ?? k, b, ldb ?? n, c, ldc ?? n)
        } else if FastConvolution.avx2 {
            skiff_gemm_avx2(Int32(m), Int32(n), Int32(k), a, Int32(lda ?? k), b, Int32(ldb ?? n), c, Int32(ldc ?? n), nil, -.infinity, .infinity)
        } else {
            skiff_gemm_portable(Int32(m), Int32(n), Int32(k), a, Int32(lda ?? k), b, Int32(ldb ?? n), c, Int32(ldc ?? n), nil, -.infinity, .infinity)
        }
    }

    /// Sets the installed BLAS's own thread count (the engine's parallel loops use their own budget).
    public static func setThreads(_ n: Int) { provider?.setThreads(max(1, n)) }
}

/// Sets the thread budget of the engine's parallel loops (an installed BLAS stays single-threaded inside them).
public func setThreads(_ n: Int) {
    FastKernels.threads = max(1, n)
    BLAS.setThreads(1)
    _ = skiff_pool_start(Int32(max(1, n)))
}

/// Which optimised kernel set this CPU runs ("avx2+fma" micro-kernels, or "baseline").
public var kernelSet: String { FastConvolution.avx2 ? "avx2+fma" : "baseline" }
