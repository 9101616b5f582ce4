import CSkiffKernels
import Dispatch
import Foundation
import Formats

/// Optimised kernels behind the same op kinds. Each one is checked against its reference kernel on
/// random shapes (`Tests/EngineTests/FastKernelTests.swift`); ops or parameter combinations without a
/// fast kernel fall back to the reference, which stays the definition.
enum FastKernels {
    /// Work below this many multiply-adds (or elements) runs on one thread: measured on 2 cores, the
    /// cost of waking a second thread (~10–20 µs) outweighs the gain under it.
    static let parallelThreshold = 1 << 16

    /// Threads for the engine's own parallel loops (OpenBLAS itself runs single-threaded inside them): by
    /// default what the process may really use (`CPUBudget`: affinity and cgroup quota).
    nonisolated(unsafe) static var threads: Int = {
        BLAS.setThreads(1)
        return CPUBudget.current.threads
    }()

    /// The worker pool (CSkiffKernels/pool.c), started on first use with `threads` − 1 workers.
    static let poolStarted: Bool = { skiff_pool_start(Int32(threads)) > 0 }()

    /// Runs `body(range)` over `0..<count` split into `threads` chunks (one chunk when `work` is small), on
    /// the persistent pool: measured on MobileNetV2-160, GCD's `concurrentPerform` per op made two threads
    /// no faster than one (~80 thread wake-ups per inference).
    static func parallel(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let t = work < parallelThreshold ? 1 : min(threads, count)
        if t <= 1 || !poolStarted { return body(0..<count) }
        let chunk = (count + t - 1) / t
        withoutActuallyEscaping(body) { body in
            var job = PoolJob(body: body, count: count, chunk: chunk)
            withUnsafeMutablePointer(to: &job) { p in
                skiff_pool_run({ ctx, i in
                    let job = ctx!.assumingMemoryBound(to: PoolJob.self).pointee
                    let lo = Int(i) * job.chunk, hi = min(job.count, lo + job.chunk)
                    if lo < hi { job.body(lo..<hi) }
                }, p, Int32(t))
            }
        }
    }

    /// Tries the fast path for `step`; returns false when the reference kernel must run.
    static func run(_ step: Step, _ ins: [View?], _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int], _ scratch: Scratch) -> Bool {
        let x = ins[0]!
        let bias = ins.count > 2 ? ins[2] : nil
        switch step.kernel {
        case .conv(let p) where p.groups == 1:
            FastConvolution.conv2d(x, ins[1]!, bias, p, out, outShape, scratch)
        case .depthwise(let p) where ins[1]!.shape[3] == 1:
            FastConvolution.depthwise(x, ins[1]!, bias, p, out, outShape)
        case .dense(let a):
            let k = ins[1]!
            let rows = x.count / k.shape[0]
            let fused = FastConvolution.gemmRows(m: rows, n: k.shape[1], k: k.shape[0], a: x.data.baseAddress!, b: k.data.baseAddress!,
                                                 c: out.baseAddress!, bias: bias?.data.baseAddress)
            Epilogue.apply(out.baseAddress!, rows: rows, channels: k.shape[1], bias: fused ? nil : bias, activation: a)
        case .binary(let f, let a):
            return FastElementwise.binary(x, ins[1]!, f, a, out, outShape)
        case .unary(let a):
            Epilogue.activate(UnsafeMutablePointer(mutating: x.data.baseAddress!), into: out.baseAddress!, count: x.count, a)
        case .clamp(let lo, let hi):
            FastElementwise.clamp(x, lo, hi, out)
        case .globalPool(let isMax):
            FastElementwise.globalPool(x, max: isMax, out)
        case .pad(let pads, let mode, let value) where mode == "constant":
            return FastLayout.pad(x, pads: pads, value: value, out, outShape)
        case .pool(let k, let p, let isMax):
            FastLayout.pool(x, kernel: k, p, max: isMax, out, outShape)
        case .reshape:
            if x.count > 0 { out.baseAddress!.update(from: x.data.baseAddress!, count: x.count) }
        default:
            return false
        }
        return true
    }
}

/// One parallel loop as the pool's C callback sees it.
struct PoolJob {
    let body: (Range<Int>) -> Void
    let count: Int
    let chunk: Int
}

/// Per-model reusable scratch memory (im2col buffers): grown once, reused on every run.
final class Scratch: @unchecked Sendable {
    private(set) var buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 0)

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.count < count {
            buffer.deallocate()
            buffer = .allocate(capacity: count)
        }
        return buffer.baseAddress!
    }

    deinit { buffer.deallocate() }
}

/// Bias and activation over a [rows, channels] result, in one pass.
enum Epilogue {
    /// The [lo, hi] clamp an activation is, when it is one (relu, relu6): the C kernels apply it as they
    /// store. nil activation → no clamp.
    static func clampRange(_ a: Activation?) -> (Float, Float)? {
        guard let a else { return (-.infinity, .infinity) }
        switch a.function {
        case .relu where a.alpha == 0 && a.beta == 0: return (0, .infinity)
        case .relu6: return (0, 6)
        case .identity: return (-.infinity, .infinity)
        default: return nil
        }
    }

    static func apply(_ out: UnsafeMutablePointer<Float>, rows: Int, channels: Int, bias: View?, activation: Activation?) {
        guard bias != nil || activation != nil else { return }
        let b = bias?.data.baseAddress
        FastKernels.parallel(rows, work: rows * channels) { range in
            for r in range {
                let row = out + r * channels
                if let b { for c in 0..<channels { row[c] += b[c] } }
                if let activation { activate(row, into: row, count: channels, activation) }
            }
        }
    }

    /// `dst[i] = f(src[i])`, vectorised for the piecewise-linear activations.
    static func activate(_ src: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int, _ f: Activation) {
        switch f.function {
        case .relu where f.alpha == 0 && f.beta == 0:
            if src != dst { dst.update(from: src, count: count) }
            skiff_clamp(dst, count, 0, .infinity)
        case .relu6:
            if src != dst { dst.update(from: src, count: count) }
            skiff_clamp(dst, count, 0, 6)
        case .identity:
            if src != dst { dst.update(from: src, count: count) }
        case .sigmoid, .swish, .hardSwish:
            if src != dst { dst.update(from: src, count: count) }
            let kind: Int32 = f.function == .sigmoid ? 1 : (f.function == .swish ? 2 : 3)
            if skiff_activate(dst, count, kind) == 0 { for i in 0..<count { dst[i] = f(dst[i]) } }
        default:
            for i in 0..<count { dst[i] = f(src[i]) }
        }
    }

    @inline(__always)
    static func simdMap(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ f: (SIMD8<Float>) -> SIMD8<Float>) {
        var i = 0
        let s = UnsafeMutableRawPointer(src), d = UnsafeMutableRawPointer(dst)
        while i + 8 <= count {
            d.storeBytes(of: f(s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)), toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            var v = SIMD8<Float>(repeating: 0)
            v[0] = src[i]
            dst[i] = f(v)[0]
            i += 1
        }
    }
}
