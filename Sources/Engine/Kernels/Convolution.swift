import Formats

/// Attributes of conv2d / depthwise_conv2d / conv2d_transpose, parsed and checked once at plan time.
struct ConvParams {
    var strides: [Int]
    var dilations: [Int]
    var padding: String
    var pads: [Int]
    var groups: Int
    var outputPadding: [Int]
    var activation: Activation?

    init(_ node: Node) {
        strides = node.ints("strides") ?? [1, 1]
        dilations = node.ints("dilations") ?? [1, 1]
        padding = node.string("padding") ?? "valid"
        pads = node.ints("pads") ?? [0, 0, 0, 0]
        groups = node.int("groups") ?? 1
        outputPadding = node.ints("output_padding") ?? [0, 0]
        activation = Activation(fusedIn: node)
    }

    /// Window placement for spatial axis `i` (0 = height, 1 = width): the shared SAME/VALID rule.
    func window(_ i: Int, input: Int, kernel: Int) -> ShapeInference.Window {
        .compute(input: input, kernel: kernel, stride: strides[i], dilation: dilations[i], padding: padding,
                 explicit: (pads[2 * i], pads[2 * i + 1]))
    }
}

/// Reference convolution kernels: direct loops, the executable definition of each op.
enum ConvolutionKernels {
    /// NHWC input, HWIO filter [kh, kw, cin/groups, cout], optional bias [cout].
    static func conv2d(_ x: View, _ w: View, _ bias: View?, _ p: ConvParams, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw, cinG, cout) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let (oh, ow) = (outShape[1], outShape[2])
        let top = p.window(0, input: h, kernel: kh).padBefore, left = p.window(1, input: wd, kernel: kw).padBefore
        let coutG = cout / p.groups
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for oc in 0..<cout {
            let g = oc / coutG
            var sum: Float = bias.map { $0.data[oc] } ?? 0
            for ky in 0..<kh {
                let iy = oy * p.strides[0] - top + ky * p.dilations[0]
                if iy < 0 || iy >= h { continue }
                for kx in 0..<kw {
                    let ix = ox * p.strides[1] - left + kx * p.dilations[1]
                    if ix < 0 || ix >= wd { continue }
                    let xBase = ((b * h + iy) * wd + ix) * c + g * cinG
                    let wBase = (ky * kw + kx) * cinG * cout + oc
                    for ic in 0..<cinG { sum += x.data[xBase + ic] * w.data[wBase + ic * cout] }
                }
            }
            out[((b * oh + oy) * ow + ox) * cout + oc] = p.activation.map { $0(sum) } ?? sum
        } } } }
    }

    /// NHWC input, filter [kh, kw, c, multiplier]; output channel = c·multiplier + m.
    static func depthwise(_ x: View, _ w: View, _ bias: View?, _ p: ConvParams, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw, mult) = (w.shape[0], w.shape[1], w.shape[3])
        let (oh, ow, cout) = (outShape[1], outShape[2], outShape[3])
        let top = p.window(0, input: h, kernel: kh).padBefore, left = p.window(1, input: wd, kernel: kw).padBefore
        for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ic in 0..<c { for m in 0..<mult {
            let oc = ic * mult + m
            var sum: Float = bias.map { $0.data[oc] } ?? 0
            for ky in 0..<kh {
                let iy = oy * p.strides[0] - top + ky * p.dilations[0]
                if iy < 0 || iy >= h { continue }
                for kx in 0..<kw {
                    let ix = ox * p.strides[1] - left + kx * p.dilations[1]
                    if ix < 0 || ix >= wd { continue }
                    sum += x.data[((b * h + iy) * wd + ix) * c + ic] * w.data[((ky * kw + kx) * c + ic) * mult + m]
                }
            }
            out[((b * oh + oy) * ow + ox) * cout + oc] = p.activation.map { $0(sum) } ?? sum
        } } } } }
    }

    /// Transposed convolution (the gradient of conv2d): filter [kh, kw, cout, cin]. Each input pixel
    /// scatters its contribution; padding is the forward convolution's from the output size.
    static func transpose(_ x: View, _ w: View, _ bias: View?, _ p: ConvParams, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let (n, h, wd, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw, cout) = (w.shape[0], w.shape[1], w.shape[2])
        let (oh, ow) = (outShape[1], outShape[2])
        func padBefore(_ i: Int, _ input: Int, _ output: Int, _ k: Int) -> Int {
            guard p.padding == "same" else { return p.padding == "explicit" ? p.pads[2 * i] : 0 }
            let eff = (k - 1) * p.dilations[i] + 1
            return max(0, (input - 1) * p.strides[i] + eff - output) / 2
        }
        let top = padBefore(0, h, oh, kh), left = padBefore(1, wd, ow, kw)
        for i in 0..<(n * oh * ow) { for oc in 0..<cout { out[i * cout + oc] = bias.map { $0.data[oc] } ?? 0 } }
        for b in 0..<n { for iy in 0..<h { for ix in 0..<wd {
            for ky in 0..<kh {
                let oy = iy * p.strides[0] - top + ky * p.dilations[0]
                if oy < 0 || oy >= oh { continue }
                for kx in 0..<kw {
                    let ox = ix * p.strides[1] - left + kx * p.dilations[1]
                    if ox < 0 || ox >= ow { continue }
                    for oc in 0..<cout {
                        var sum: Float = 0
                        for ic in 0..<cin { sum += x.data[((b * h + iy) * wd + ix) * cin + ic] * w.data[((ky * kw + kx) * cout + oc) * cin + ic] }
                        out[((b * oh + oy) * ow + ox) * cout + oc] += sum
                    }
                }
            }
        } } }
        if let a = p.activation { a.apply(out) }
    }
}
