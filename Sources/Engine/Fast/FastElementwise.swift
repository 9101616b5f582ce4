import CSkiffKernels
import Foundation
import Formats

/// Vectorised elementwise kernels for the common layouts: equal shapes, and a per-channel (last-axis)
/// or scalar second operand. Other broadcasts use the reference kernel.
enum FastElementwise {
    static func binary(_ a: View, _ b: View, _ f: BinaryFunction, _ activation: Activation?, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) -> Bool {
        // Per-image channel vectors ([N, 1, 1, C] against [N, H, W, C], squeeze-and-excite): one image at a time.
        if outShape.count == 4, outShape[0] > 1 {
            let (n, c) = (outShape[0], outShape[3])
            let small = [n, 1, 1, c]
            if (a.shape == outShape && b.shape == small) || (b.shape == outShape && a.shape == small) {
                let image = outShape[1] * outShape[2] * c
                for i in 0..<n {
                    let full = a.shape == outShape ? a : b
                    let vec = a.shape == outShape ? b : a
                    let fv = View(shape: [1, outShape[1], outShape[2], c], data: UnsafeBufferPointer(rebasing: full.data[(i * image)..<((i + 1) * image)]))
                    let vv = View(shape: [c], data: UnsafeBufferPointer(rebasing: vec.data[(i * c)..<((i + 1) * c)]))
                    let o = UnsafeMutableBufferPointer(rebasing: out[(i * image)..<((i + 1) * image)])
                    let ok = a.shape == outShape ? binary(fv, vv, f, activation, o, fv.shape) : binary(vv, fv, f, activation, o, fv.shape)
                    if !ok { return false }
                }
                return true
            }
        }
        if b.shape == outShape, a.shape != outShape, f == .add || f == .mul || f == .max || f == .min {
            return binary(b, a, f, activation, out, outShape)  // commutative: put the full operand first
        }
        guard a.shape == outShape, BinaryFunction.version1.contains(f) else { return false }
        let count = a.count
        let inner: Int
        if b.shape == outShape { inner = count }
        else if b.count == 1 { inner = 1 }
        else if let last = outShape.last, b.count == last, b.shape.last == last { inner = last }
        else { return false }
        let ap = UnsafeRawPointer(a.data.baseAddress!), bp = UnsafeRawPointer(b.data.baseAddress!)
        let op = UnsafeMutableRawPointer(out.baseAddress!)
        @inline(__always) func apply(_ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
            switch f {
            case .add: x + y
            case .sub: x - y
            case .mul: x * y
            case .div: x / y
            case .max: pointwiseMax(x, y)
            case .min: pointwiseMin(x, y)
            case .pow: SIMD8((0..<8).map { Foundation.pow(x[$0], y[$0]) })
            case .floorDiv, .floorMod: x  // not reached: the reference kernel runs these
            }
        }
        var i = 0
        if inner == count || inner % 8 == 0 {
            while i + 8 <= count {
                let y: SIMD8<Float> = inner == count ? bp.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                    : bp.loadUnaligned(fromByteOffset: (i % inner) * 4, as: SIMD8<Float>.self)
                op.storeBytes(of: apply(ap.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self), y), toByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
        } else if inner == 1 {
            let y = SIMD8<Float>(repeating: b.data[0])
            while i + 8 <= count {
                op.storeBytes(of: apply(ap.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self), y), toByteOffset: i * 4, as: SIMD8<Float>.self)
                i += 8
            }
        }
        while i < count {
            var x = SIMD8<Float>(repeating: 0), y = SIMD8<Float>(repeating: 0)
            x[0] = a.data[i]
            y[0] = b.data[inner == count ? i : i % inner]
            out[i] = apply(x, y)[0]
            i += 1
        }
        if let activation { Epilogue.activate(out.baseAddress!, into: out.baseAddress!, count: count, activation) }
        return true
    }

    static func clamp(_ x: View, _ lo: Float, _ hi: Float, _ out: UnsafeMutableBufferPointer<Float>) {
        out.baseAddress!.update(from: x.data.baseAddress!, count: x.count)
        skiff_clamp(out.baseAddress!, x.count, lo, hi)
    }

    static func globalPool(_ x: View, max isMax: Bool, _ out: UnsafeMutableBufferPointer<Float>) {
        let (n, hw, c) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        for b in 0..<n {
            let o = out.baseAddress! + b * c
            o.update(from: x.data.baseAddress! + b * hw * c, count: c)
            for i in 1..<max(hw, 1) {
                let row = x.data.baseAddress! + (b * hw + i) * c
                if isMax { for ch in 0..<c { o[ch] = Swift.max(o[ch], row[ch]) } } else { for ch in 0..<c { o[ch] += row[ch] } }
            }
            if !isMax { let s = 1 / Float(hw); for ch in 0..<c { o[ch] *= s } }
        }
    }
}
