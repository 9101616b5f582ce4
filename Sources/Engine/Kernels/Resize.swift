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
}
