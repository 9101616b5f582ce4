import Formats

/// Reference pooling kernels. Max pooling ignores padded cells; average pooling divides by the number
/// of in-bounds cells (TensorFlow's rule, not k·k).
enum PoolingKernels {
    static func pool(_ x: View, kernel: [Int], _ p: ConvParams, max isMax: Bool, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let top = p.window(0, input: h, kernel: kernel[0]).padBefore, left = p.window(1, input: w, kernel: kernel[1]).padBefore
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c {
            var acc: Float = isMax ? -.infinity : 0
            var count = 0
            for ky in 0..<kernel[0] {
                let iy = oy * p.strides[0] - top + ky
                if iy < 0 || iy >= h { continue }
                for kx in 0..<kernel[1] {
                    let ix = ox * p.strides[1] - left + kx
                    if ix < 0 || ix >= w { continue }
                    let v = x.data[((b * h + iy) * w + ix) * c + ch]
                    acc = isMax ? Swift.max(acc, v) : acc + v
                    count += 1
                }
            }
            out[((b * oh + oy) * ow + ox) * c + ch] = isMax ? acc : acc / Float(Swift.max(count, 1))
        } } } }
    }

    static func global(_ x: View, max isMax: Bool, _ out: UnsafeMutableBufferPointer<Float>) {
        let (n, hw, c) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        for b in 0..<n { for ch in 0..<c {
            var acc: Float = isMax ? -.infinity : 0
            for i in 0..<hw {
                let v = x.data[(b * hw + i) * c + ch]
                acc = isMax ? Swift.max(acc, v) : acc + v
            }
            out[b * c + ch] = isMax ? acc : acc / Float(hw)
        } }
    }
}
