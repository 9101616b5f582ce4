import Foundation
import Formats

/// Reference reductions: reduce over axes, and softmax along one axis.
enum ReductionKernels {
    static func reduce(_ x: View, axes: [Int], _ f: ReduceFunction, _ out: UnsafeMutableBufferPointer<Float>, _ outCount: Int) {
        let r = x.shape.count
        let keptShape = (0..<r).map { axes.contains($0) ? 1 : x.shape[$0] }
        let reduced = axes.reduce(1) { $0 * x.shape[$1] }
        let initial: Float
        switch f {
        case .mean, .sum: initial = 0
        case .prod: initial = 1
        case .max: initial = -.infinity
        case .min: initial = .infinity
        }
        for i in 0..<outCount { out[i] = initial }
        for i in 0..<x.count {
            let idx = Broadcast.unravel(i, x.shape)
            let o = Broadcast.offset(idx, keptShape)
            let v = x.data[i]
            switch f {
            case .mean, .sum: out[o] += v
            case .prod: out[o] *= v
            case .max: out[o] = Swift.max(out[o], v)
            case .min: out[o] = Swift.min(out[o], v)
            }
        }
        if f == .mean { for i in 0..<outCount { out[i] /= Float(Swift.max(reduced, 1)) } }
    }

    static func softmax(_ x: View, axis: Int, _ out: UnsafeMutableBufferPointer<Float>) {
        let n = x.shape[axis]
        let inner = x.shape[(axis + 1)...].reduce(1, *), outer = x.shape[..<axis].reduce(1, *)
        for o in 0..<outer { for i in 0..<inner {
            let base = o * n * inner + i
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, x.data[base + j * inner]) }
            var sum: Float = 0
            for j in 0..<n {
                let e = Foundation.exp(x.data[base + j * inner] - m)
                out[base + j * inner] = e
                sum += e
            }
            for j in 0..<n { out[base + j * inner] /= sum }
        } }
    }
}
