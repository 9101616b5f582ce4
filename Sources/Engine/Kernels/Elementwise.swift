import Foundation
import Formats

/// Index helpers for NumPy-style broadcasting.
enum Broadcast {
    static func unravel(_ i: Int, _ shape: [Int]) -> [Int] {
        var r = i
        var idx = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            idx[d] = r % shape[d]
            r /= shape[d]
        }
        return idx
    }

    /// Flat offset into `shape` (right-aligned against `idx`; size-1 axes broadcast).
    static func offset(_ idx: [Int], _ shape: [Int]) -> Int {
        var off = 0
        let skip = idx.count - shape.count
        for d in 0..<shape.count { off = off * shape[d] + (shape[d] == 1 ? 0 : idx[skip + d]) }
        return off
    }
}

/// Reference elementwise kernels: unary, binary with broadcasting, clamp, cast.
enum ElementwiseKernels {
    static func unary(_ x: View, _ f: Activation, _ out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<x.count { out[i] = f(x.data[i]) }
    }

    static func binary(_ a: View, _ b: View, _ f: BinaryFunction, _ activation: Activation?, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let op: (Float, Float) -> Float
        switch f {
        case .add: op = { $0 + $1 }
        case .sub: op = { $0 - $1 }
        case .mul: op = { $0 * $1 }
        case .div: op = { $0 / $1 }
        case .max: op = { Swift.max($0, $1) }
        case .min: op = { Swift.min($0, $1) }
        case .pow: op = { Foundation.pow($0, $1) }
        case .floorDiv: op = { ($0 / $1).rounded(.down) }
        case .floorMod: op = { x, y in
            let r = fmodf(x, y)
            return r != 0 && (r < 0) != (y < 0) ? r + y : r
        }
        }
        let count = outShape.reduce(1, *)
        if a.shape == outShape, b.shape == outShape {
            for i in 0..<count { out[i] = op(a.data[i], b.data[i]) }
        } else {
            // Walk the output in order, keeping each operand's offset with per-axis strides (0 on broadcast axes).
            let r = outShape.count
            func strides(_ shape: [Int]) -> [Int] {
                let padded = Array(repeating: 1, count: r - shape.count) + shape
                var s = [Int](repeating: 0, count: r), acc = 1
                for d in stride(from: r - 1, through: 0, by: -1) { s[d] = padded[d] == 1 ? 0 : acc; acc *= padded[d] }
                return s
            }
            let sa = strides(a.shape), sb = strides(b.shape)
            var idx = [Int](repeating: 0, count: r)
            var oa = 0, ob = 0
            for i in 0..<count {
                out[i] = op(a.data[oa], b.data[ob])
                var d = r - 1
                while d >= 0 {
                    idx[d] += 1; oa += sa[d]; ob += sb[d]
                    if idx[d] < outShape[d] { break }
                    oa -= sa[d] * idx[d]; ob -= sb[d] * idx[d]; idx[d] = 0
                    d -= 1
                }
            }
        }
        if let activation { activation.apply(UnsafeMutableBufferPointer(rebasing: out[0..<count])) }
    }

    static func clamp(_ x: View, min lo: Float, max hi: Float, _ out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<x.count { out[i] = Swift.min(Swift.max(x.data[i], lo), hi) }
    }

    /// Values are carried as float32; casting to an integer type truncates toward zero (and saturates
    /// for uint8), to bool gives 0/1.
    static func cast(_ x: View, to dtype: DType, _ out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<x.count {
            let v = x.data[i]
            switch dtype {
            case .int32, .int64: out[i] = v.rounded(.towardZero)
            case .uint8: out[i] = Swift.min(Swift.max(v.rounded(.towardZero), 0), 255)
            case .bool: out[i] = v != 0 ? 1 : 0
            case .float16: out[i] = Float(Float16(v))
            default: out[i] = v
            }
        }
    }
}
