import Foundation
import Formats

/// Reference image resizing with `tf.image.resize` semantics (NHWC).
enum ResizeKernels {
    struct Params {
        var method: String
        var halfPixelCenters: Bool
        var alignCorners: Bool
    }

    static func resize(_ x: View, _ p: Params, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        func scale(_ i: Int, _ o: Int) -> Float {
            p.alignCorners && o > 1 ? Float(i - 1) / Float(o - 1) : Float(i) / Float(o)
        }
        let sy = scale(h, oh), sx = scale(w, ow)
        if p.method == "area" { return area(x, out, outShape) }
        if p.method == "antialias" { return antialiased(x, out, outShape) }
        if p.method == "nearest" {
            func src(_ o: Int, _ s: Float, _ size: Int) -> Int {
                let f = p.halfPixelCenters ? (Float(o) + 0.5) * s : Float(o) * s
                let i = p.alignCorners ? Int(f.rounded()) : Int(f.rounded(.down))
                return Swift.min(Swift.max(i, 0), size - 1)
            }
            for b in 0..<n { for oy in 0..<oh { let iy = src(oy, sy, h); for ox in 0..<ow {
                let ix = src(ox, sx, w)
                for ch in 0..<c { out[((b * oh + oy) * ow + ox) * c + ch] = x.data[((b * h + iy) * w + ix) * c + ch] }
            } } }
            return
        }
        // Bilinear: the source coordinate's floor and ceil (clamped), weighted by its fraction.
        func coord(_ o: Int, _ s: Float, _ size: Int) -> (Int, Int, Float) {
            let f = p.halfPixelCenters ? (Float(o) + 0.5) * s - 0.5 : Float(o) * s
            let lo = Int(f.rounded(.down))
            return (Swift.max(lo, 0), Swift.min(Int(f.rounded(.up)), size - 1), f - Float(lo))
        }
        for b in 0..<n { for oy in 0..<oh {
            let (y0, y1, fy) = coord(oy, sy, h)
            for ox in 0..<ow {
                let (x0, x1, fx) = coord(ox, sx, w)
                for ch in 0..<c {
                    func at(_ y: Int, _ xx: Int) -> Float { x.data[((b * h + y) * w + xx) * c + ch] }
                    let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx
                    let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx
                    out[((b * oh + oy) * ow + ox) * c + ch] = top + (bottom - top) * fy
                }
            }
        } }
    }

    /// TensorFlow's ResizeArea: each output cell averages the input cells its box covers, weighted by
    /// the covered fraction of each.
    static func area(_ x: View, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let sy = Float(h) / Float(oh), sx = Float(w) / Float(ow)
        func spans(_ o: Int, _ s: Float, _ size: Int) -> [(Int, Float)] {
            let lo = Float(o) * s, hi = Float(o + 1) * s
            return (Int(lo.rounded(.down))..<Int(hi.rounded(.up))).map { i in
                let f = Float(i)
                let weight = f < lo ? (f + 1 > hi ? s : f + 1 - lo) : (f + 1 > hi ? hi - f : 1)
                return (Swift.min(i, size - 1), weight)
            }
        }
        let ys = (0..<oh).map { spans($0, sy, h) }, xs = (0..<ow).map { spans($0, sx, w) }
        let norm = 1 / (sy * sx)
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c {
            var sum: Float = 0
            for (iy, wy) in ys[oy] {
                var row: Float = 0
                for (ix, wx) in xs[ox] { row += x.data[((b * h + iy) * w + ix) * c + ch] * wx }
                sum += row * wy
            }
            out[((b * oh + oy) * ow + ox) * c + ch] = sum * norm
        } } } }
    }

    /// `tf.image.resize(..., antialias=True)` for bilinear: a triangle filter widened by the downscale
    /// factor, weights renormalised over the in-bounds taps; separable (along the width, then the height).
    static func antialiased(_ x: View, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        func taps(_ outSize: Int, _ inSize: Int) -> [[(Int, Float)]] {
            let inv = 1 / (Float(outSize) / Float(inSize))  // TF passes scale = out/in and inverts it
            let kernelScale = Swift.max(inv, 1)
            return (0..<outSize).map { o in
                let center = (Float(o) + 0.5) * inv
                let lo = Swift.max(Int((center - kernelScale - 0.5).rounded(.up)), 0)
                let hi = Swift.min(Int((center + kernelScale - 0.5).rounded(.down)), inSize - 1)
                var t: [(Int, Float)] = []
                var total: Float = 0
                if lo <= hi {
                    for i in lo...hi {
                        let wgt = Swift.max(0, 1 - abs((Float(i) + 0.5 - center) * (1 / kernelScale)))
                        if wgt > 0 { t.append((i, wgt)); total += wgt }
                    }
                }
                return total > 0 ? t.map { ($0.0, $0.1 / total) } : t
            }
        }
        let ty = taps(oh, h), tx = taps(ow, w)
        var cols = [Float](repeating: 0, count: n * h * ow * c)  // resized along width first, as TensorFlow does
        for b in 0..<n { for iy in 0..<h { for ox in 0..<ow { for ch in 0..<c {
            var sum: Float = 0
            for (ix, wx) in tx[ox] { sum += x.data[((b * h + iy) * w + ix) * c + ch] * wx }
            cols[((b * h + iy) * ow + ox) * c + ch] = sum
        } } } }
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c {
            var sum: Float = 0
            for (iy, wy) in ty[oy] { sum += cols[((b * h + iy) * ow + ox) * c + ch] * wy }
            out[((b * oh + oy) * ow + ox) * c + ch] = sum
        } } } }
    }
}
