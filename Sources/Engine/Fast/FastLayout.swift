import Formats

/// Fast NHWC layout and pooling kernels: constant padding by whole rows, and pooling vectorised over
/// channels.
enum FastLayout {
    /// Constant padding of a rank-4 NHWC tensor (batch and channel pads must be zero).
    static func pad(_ x: View, pads: [Int], value: Float, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) -> Bool {
        guard x.shape.count == 4, pads[0] == 0, pads[1] == 0, pads[6] == 0, pads[7] == 0 else { return false }
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let (top, left) = (pads[2], pads[4])
        out.update(repeating: value)
        let src = x.data.baseAddress!, dst = out.baseAddress!
        for b in 0..<n { for y in 0..<h {
            (dst + ((b * oh + y + top) * ow + left) * c).update(from: src + (b * h + y) * w * c, count: w * c)
        } }
        return true
    }

    /// Max / average pooling (average over in-bounds cells), eight channels at a time.
    static func pool(_ x: View, kernel: [Int], _ p: ConvParams, max isMax: Bool, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let top = p.window(0, input: h, kernel: kernel[0]).padBefore, left = p.window(1, input: w, kernel: kernel[1]).padBefore
        let xp = x.data.baseAddress!, op = out.baseAddress!
        FastKernels.parallel(n * oh, work: n * oh * ow * c * kernel[0] * kernel[1]) { range in
            for row in range {
                let b = row / oh, oy = row % oh
                let y0 = Swift.max(oy * p.strides[0] - top, 0), y1 = Swift.min(oy * p.strides[0] - top + kernel[0], h)
                for ox in 0..<ow {
                    let x0 = Swift.max(ox * p.strides[1] - left, 0), x1 = Swift.min(ox * p.strides[1] - left + kernel[1], w)
                    let o = op + ((b * oh + oy) * ow + ox) * c
                    o.update(repeating: isMax ? -.infinity : 0, count: c)
                    for iy in y0..<y1 { for ix in x0..<x1 {
                        let src = xp + ((b * h + iy) * w + ix) * c
                        if isMax { for ch in 0..<c { o[ch] = Swift.max(o[ch], src[ch]) } } else { for ch in 0..<c { o[ch] += src[ch] } }
                    } }
                    if !isMax {
                        let s = 1 / Float(Swift.max((y1 - y0) * (x1 - x0), 1))
                        for ch in 0..<c { o[ch] *= s }
                    }
                }
            }
        }
    }
}
