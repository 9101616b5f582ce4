import Formats

/// Reference kernels that move data without arithmetic: pad, transpose, concat, slice.
/// (`reshape` is a copy of the same row-major data.)
enum LayoutKernels {
    static func pad(_ x: View, pads: [Int], mode: String, value: Float, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let r = x.shape.count
        for i in 0..<outShape.reduce(1, *) {
            let idx = Broadcast.unravel(i, outShape)
            var src = 0
            var inside = true
            for d in 0..<r {
                var j = idx[d] - pads[2 * d]
                let n = x.shape[d]
                if j < 0 || j >= n {
                    switch mode {
                    case "reflect": j = j < 0 ? -j : 2 * (n - 1) - j
                    case "symmetric": j = j < 0 ? -j - 1 : 2 * n - 1 - j
                    default: inside = false
                    }
                }
                src = src * n + Swift.min(Swift.max(j, 0), n - 1)
            }
            out[i] = inside ? x.data[src] : value
        }
    }

    static func transpose(_ x: View, perm: [Int], _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        var strides = [Int](repeating: 1, count: x.shape.count)
        for d in stride(from: x.shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * x.shape[d + 1] }
        for i in 0..<outShape.reduce(1, *) {
            let idx = Broadcast.unravel(i, outShape)
            var src = 0
            for d in 0..<perm.count { src += idx[d] * strides[perm[d]] }
            out[i] = x.data[src]
        }
    }

    static func concat(_ xs: [View], axis: Int, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let outer = outShape[..<axis].reduce(1, *), inner = outShape[(axis + 1)...].reduce(1, *)
        var o = 0
        for b in 0..<outer {
            for x in xs {
                let chunk = x.shape[axis] * inner
                for j in 0..<chunk { out[o + j] = x.data[b * chunk + j] }
                o += chunk
            }
        }
    }

    static func slice(_ x: View, begins: [Int], ends: [Int], strides: [Int], _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let lo = (0..<x.shape.count).map { ShapeInference.sliceBounds(begins[$0], ends[$0], x.shape[$0]).0 }
        for i in 0..<outShape.reduce(1, *) {
            let idx = Broadcast.unravel(i, outShape)
            var src = 0
            for d in 0..<x.shape.count { src = src * x.shape[d] + lo[d] + idx[d] * strides[d] }
            out[i] = x.data[src]
        }
    }
}
