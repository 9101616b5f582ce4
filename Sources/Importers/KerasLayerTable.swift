import Formats
/// Keras layer class → IR lowering. The table is the whole list of what Skiff reads; anything else is
/// refused before conversion starts (`KerasLowering.unsupported`). Readers emit plain ops; activation
/// fusion and BatchNormalization folding are left to the optimisation passes.
enum KerasLayerTable {
    typealias Lowering = @Sendable (inout LayerContext) throws -> [String]

    static func supports(_ layer: KerasLayer) -> Bool {
        if isOperation(layer) { return operations[layer.className] != nil }
        return layers[layer.className] != nil
    }

    static func lower(_ c: inout LayerContext) throws -> [String] {
        let table = isOperation(c.layer) ? operations : layers
        guard let f = table[c.layer.className] else { throw c.fail("is not supported") }
        return try f(&c)
    }

    /// Keras 3 writes tensor arithmetic (`x + 3.0`) as operation entries; some share a class name with
    /// a merge layer (`Add`), so the module, or else the argument form, tells them apart.
    static func isOperation(_ layer: KerasLayer) -> Bool {
        if let m = layer.module { return m.hasPrefix("keras.src.ops") }
        guard operations[layer.className] != nil else { return false }
        guard layers[layer.className] != nil else { return true }
        // Merge layers take one list argument; operations take two positional arguments.
        return layer.calls.contains { call in
            call.args.count != 1 || { if case .tensors = call.args[0] { false } else { true } }()
        }
    }

    static let identity: Lowering = { c in [try c.input()] }

    static let layers: [String: Lowering] = [
        "Conv2D": conv2d, "Convolution2D": conv2d,
        "DepthwiseConv2D": depthwise,
        "SeparableConv2D": separable, "SeparableConvolution2D": separable,
        "Conv2DTranspose": convTranspose, "Convolution2DTranspose": convTranspose,
        "Dense": dense,
        "BatchNormalization": batchNorm,
        "LayerNormalization": layerNorm,
        "Activation": { c in
            guard let a = c.config["activation"] else { throw c.fail("missing 'activation'") }
            return [try activation(&c, a, try c.input())]
        },
        "ReLU": relu,
        "LeakyReLU": { c in
            let alpha = c.config["negative_slope"]?.double ?? c.config["alpha"]?.double ?? 0.3
            return [try c.add(.unary, nil, [try c.input()], ["function": .string("leaky_relu"), "alpha": .float(alpha)])]
        },
        "ELU": { c in
            [try c.add(.unary, nil, [try c.input()], ["function": .string("elu"), "alpha": .float(c.config["alpha"]?.double ?? 1)])]
        },
        "PReLU": prelu,
        "Softmax": { c in
            let axis = c.config["axis"]?.int ?? c.config["axis"]?.ints?.first ?? -1
            return [try c.add(.softmax, nil, [try c.input()], ["axis": .int(axis)])]
        },
        "MaxPooling2D": { c in try pool(&c, .maxPool2d) }, "MaxPool2D": { c in try pool(&c, .maxPool2d) },
        "AveragePooling2D": { c in try pool(&c, .avgPool2d) }, "AvgPool2D": { c in try pool(&c, .avgPool2d) },
        "GlobalAveragePooling2D": { c in try globalPool(&c, .globalAvgPool) }, "GlobalAvgPool2D": { c in try globalPool(&c, .globalAvgPool) },
        "GlobalMaxPooling2D": { c in try globalPool(&c, .globalMaxPool) }, "GlobalMaxPool2D": { c in try globalPool(&c, .globalMaxPool) },
        "ZeroPadding2D": zeroPadding,
        "Cropping2D": cropping,
        "UpSampling2D": upSampling,
        "Flatten": { c in
            let x = try c.input()
            return [try c.add(.reshape, nil, [x], ["shape": .ints([0, -1])])]
        },
        "Reshape": { c in
            guard let target = c.config["target_shape"]?.ints else { throw c.fail("missing 'target_shape'") }
            return [try c.add(.reshape, nil, [try c.input()], ["shape": .ints([0] + target)])]
        },
        "Permute": { c in
            guard let dims = c.config["dims"]?.ints else { throw c.fail("missing 'dims'") }
            return [try c.add(.transpose, nil, [try c.input()], ["perm": .ints([0] + dims)])]
        },
        "Dropout": identity, "SpatialDropout1D": identity, "SpatialDropout2D": identity, "GaussianNoise": identity,
        "GaussianDropout": identity, "AlphaDropout": identity, "ActivityRegularization": identity,
        "Add": { c in try merge(&c, .add) }, "Subtract": { c in try merge(&c, .sub) }, "Multiply": { c in try merge(&c, .mul) },
        "Maximum": { c in try merge(&c, .max) }, "Minimum": { c in try merge(&c, .min) },
        "Average": { c in
            let sum = try merge(&c, .add)[0]
            let k = c.builder.constant("\(c.name)/scale", shape: [], values: [1 / Float(c.inputs.count)])
            return [try c.add(.binary, "mean", [sum, k], ["function": .string("mul")])]
        },
        "Concatenate": { c in
            guard c.inputs.count >= 1 else { throw c.fail("needs inputs") }
            return [try c.add(.concat, nil, c.inputs, ["axis": .int(c.config["axis"]?.int ?? -1)])]
        },
        "Rescaling": rescaling,
        "Normalization": normalization,
        "Resizing": { c in
            guard let h = c.config["height"]?.int, let w = c.config["width"]?.int else { throw c.fail("missing 'height'/'width'") }
            if c.config["crop_to_aspect_ratio"]?.bool == true || c.config["pad_to_aspect_ratio"]?.bool == true {
                throw c.fail("crop_to_aspect_ratio / pad_to_aspect_ratio are not supported")
            }
            let method = c.config["interpolation"]?.string ?? "bilinear"
            guard ["bilinear", "nearest"].contains(method) else { throw c.fail("interpolation '\(method)' is not supported (expected bilinear or nearest)") }
            return [try c.add(.resize, nil, [try c.input()], ["size": .ints([h, w]), "method": .string(method), "half_pixel_centers": .bool(true)])]
        },
        "CenterCrop": { c in
            guard let h = c.config["height"]?.int, let w = c.config["width"]?.int else { throw c.fail("missing 'height'/'width'") }
            let x = try c.input()
            let s = c.builder.shape(of: x)
            guard s.count == 4, let ih = s[1].fixedValue, let iw = s[2].fixedValue, ih >= h, iw >= w else {
                throw c.fail("needs a fixed input at least \(h)×\(w); got \(s.map(\.description))")
            }
            let top = (ih - h) / 2, left = (iw - w) / 2
            return [try c.add(.slice, nil, [x], ["begins": .ints([0, top, left, 0]), "ends": .ints([Int.max, top + h, left + w, Int.max])])]
        },
    ]

    /// Keras 3 operation entries (tensor arithmetic written into the config).
    static let operations: [String: Lowering] = [
        "Add": { c in try arithmetic(&c, .add) }, "Subtract": { c in try arithmetic(&c, .sub) },
        "Multiply": { c in try arithmetic(&c, .mul) }, "Divide": { c in try arithmetic(&c, .div) },
        "TrueDivide": { c in try arithmetic(&c, .div) }, "Maximum": { c in try arithmetic(&c, .max) },
        "Minimum": { c in try arithmetic(&c, .min) }, "Power": { c in try arithmetic(&c, .pow) },
        "Negative": { c in try unaryOp(&c, "neg") }, "Absolute": { c in try unaryOp(&c, "abs") },
        "Square": { c in try unaryOp(&c, "square") }, "Sqrt": { c in try unaryOp(&c, "sqrt") },
        "Exp": { c in try unaryOp(&c, "exp") }, "Log": { c in try unaryOp(&c, "log") },
        "Sigmoid": { c in try unaryOp(&c, "sigmoid") }, "Tanh": { c in try unaryOp(&c, "tanh") },
        "Relu": { c in try unaryOp(&c, "relu") }, "Relu6": { c in
            [try c.add(.clamp, nil, [try c.input()], ["min": .float(0), "max": .float(6)])]
        },
        "Silu": { c in try unaryOp(&c, "swish") }, "HardSilu": { c in try unaryOp(&c, "hard_swish") },
        "HardSigmoid": { c in try unaryOp(&c, "hard_sigmoid") },
    ]

    // MARK: - Convolutions and dense

    static func checkChannelsLast(_ c: LayerContext) throws {
        if let f = c.config["data_format"]?.string, f != "channels_last" {
            throw c.fail("data_format '\(f)' is not supported (expected channels_last)")
        }
    }

    static func padding(_ c: LayerContext) throws -> String {
        let p = c.config["padding"]?.string ?? "valid"
        guard p == "same" || p == "valid" else { throw c.fail("padding '\(p)' is not supported (expected same or valid)") }
        return p
    }

    static func convAttributes(_ c: LayerContext) throws -> [String: Attribute] {
        try checkChannelsLast(c)
        return ["strides": .ints(try c.pair("strides", default: [1, 1])), "dilations": .ints(try c.pair("dilation_rate", default: [1, 1])),
                "padding": .string(try padding(c))]
    }

    /// Applies the layer's `activation` config (if any) after `x`.
    static func withActivation(_ c: inout LayerContext, _ x: String) throws -> String {
        guard let a = c.config["activation"] else { return x }
        return try activation(&c, a, x)
    }

    static func conv2d(_ c: inout LayerContext) throws -> [String] {
        var attrs = try convAttributes(c)
        attrs["groups"] = .int(c.config["groups"]?.int ?? 1)
        let k = try c.weight("kernel")!
        let b = (c.config["use_bias"]?.bool ?? true) ? try c.weight("bias") : nil
        let y = try c.add(.conv2d, nil, [try c.input(), c.constant("kernel", k), b.map { c.constant("bias", $0) } ?? ""].filter { !$0.isEmpty }, attrs)
        return [try withActivation(&c, y)]
    }

    static func depthwise(_ c: inout LayerContext) throws -> [String] {
        let attrs = try convAttributes(c)
        let k = try c.weight("kernel", alternatives: ["depthwise_kernel"])!
        let b = (c.config["use_bias"]?.bool ?? true) ? try c.weight("bias") : nil
        let y = try c.add(.depthwiseConv2d, nil, [try c.input(), c.constant("kernel", k)] + (b.map { [c.constant("bias", $0)] } ?? []), attrs)
        return [try withActivation(&c, y)]
    }

    static func separable(_ c: inout LayerContext) throws -> [String] {
        let attrs = try convAttributes(c)
        let dk = try c.weight("depthwise_kernel")!, pk = try c.weight("pointwise_kernel")!
        let b = (c.config["use_bias"]?.bool ?? true) ? try c.weight("bias") : nil
        let d = try c.add(.depthwiseConv2d, "depthwise", [try c.input(), c.constant("depthwise_kernel", dk)], attrs)
        let y = try c.add(.conv2d, nil, [d, c.constant("pointwise_kernel", pk)] + (b.map { [c.constant("bias", $0)] } ?? []), ["padding": .string("valid")])
        return [try withActivation(&c, y)]
    }

    static func convTranspose(_ c: inout LayerContext) throws -> [String] {
        var attrs = try convAttributes(c)
        if let op = c.config["output_padding"], !op.isNull { attrs["output_padding"] = .ints(try c.pair("output_padding")) }
        let k = try c.weight("kernel")!
        let b = (c.config["use_bias"]?.bool ?? true) ? try c.weight("bias") : nil
        let y = try c.add(.conv2dTranspose, nil, [try c.input(), c.constant("kernel", k)] + (b.map { [c.constant("bias", $0)] } ?? []), attrs)
        return [try withActivation(&c, y)]
    }

    static func dense(_ c: inout LayerContext) throws -> [String] {
        let k = try c.weight("kernel")!
        let b = (c.config["use_bias"]?.bool ?? true) ? try c.weight("bias") : nil
        let y = try c.add(.dense, nil, [try c.input(), c.constant("kernel", k)] + (b.map { [c.constant("bias", $0)] } ?? []))
        return [try withActivation(&c, y)]
    }

    // MARK: - Normalisation

    /// The channel axis a per-feature layer normalises, which must be the last one.
    static func lastAxis(_ c: LayerContext, _ x: String) throws {
        let rank = c.builder.shape(of: x).count
        let axes = c.config["axis"]?.ints ?? [-1]
        guard axes.count == 1, axes[0] == -1 || axes[0] == rank - 1 else {
            throw c.fail("axis \(axes) is not supported (only the last axis, channels_last)")
        }
    }

    static func batchNorm(_ c: inout LayerContext) throws -> [String] {
        let x = try c.input()
        try lastAxis(c, x)
        let eps = Float(c.config["epsilon"]?.double ?? 1e-3)
        let mean = try c.weight("moving_mean")!.values, variance = try c.weight("moving_variance")!.values
        let gamma = try c.weight("gamma", required: false)?.values ?? [Float](repeating: 1, count: mean.count)
        let beta = try c.weight("beta", required: false)?.values ?? [Float](repeating: 0, count: mean.count)
        guard gamma.count == mean.count, beta.count == mean.count, variance.count == mean.count else {
            throw c.fail("gamma/beta/mean/variance sizes differ (\(gamma.count), \(beta.count), \(mean.count), \(variance.count))")
        }
        let scale = (0..<mean.count).map { gamma[$0] / (variance[$0] + eps).squareRoot() }
        let shift = (0..<mean.count).map { beta[$0] - mean[$0] * scale[$0] }
        let s = c.builder.constant("\(c.name)/scale", shape: [scale.count], values: scale)
        let t = c.builder.constant("\(c.name)/shift", shape: [shift.count], values: shift)
        let y = try c.add(.binary, "scale", [x, s], ["function": .string("mul")])
        return [try c.add(.binary, nil, [y, t], ["function": .string("add")])]
    }

    static func layerNorm(_ c: inout LayerContext) throws -> [String] {
        let x = try c.input()
        if c.config["rms_scaling"]?.bool == true { throw c.fail("rms_scaling is not supported") }
        let rank = c.builder.shape(of: x).count
        let axes = (c.config["axis"]?.ints ?? [-1]).map { $0 < 0 ? $0 + rank : $0 }
        let eps = c.config["epsilon"]?.double ?? 1e-3
        let mean = try c.add(.reduce, "mean", [x], ["function": .string("mean"), "axes": .ints(axes), "keepdims": .bool(true)])
        let d = try c.add(.binary, "centered", [x, mean], ["function": .string("sub")])
        let sq = try c.add(.binary, "squared", [d, d], ["function": .string("mul")])
        let v = try c.add(.reduce, "variance", [sq], ["function": .string("mean"), "axes": .ints(axes), "keepdims": .bool(true)])
        let e = c.builder.constant("\(c.name)/epsilon", shape: [], values: [Float(eps)])
        let ve = try c.add(.binary, "variance_eps", [v, e], ["function": .string("add")])
        let inv = try c.add(.unary, "rsqrt", [ve], ["function": .string("rsqrt")])
        var y = try c.add(.binary, "normalized", [d, inv], ["function": .string("mul")])
        if let g = try c.weight("gamma", required: false) { y = try c.add(.binary, "gamma", [y, c.constant("gamma", g)], ["function": .string("mul")]) }
        if let b = try c.weight("beta", required: false) { y = try c.add(.binary, "beta", [y, c.constant("beta", b)], ["function": .string("add")]) }
        return [y]
    }

    static func rescaling(_ c: inout LayerContext) throws -> [String] {
        func values(_ key: String, _ def: Double) -> [Float] {
            if let d = c.config[key]?.double { return [Float(d)] }
            if let a = c.config[key]?.array { return a.compactMap(\.double).map(Float.init) }
            return [Float(def)]
        }
        let scale = values("scale", 1), offset = values("offset", 0)
        var y = try c.input()
        let sc = c.builder.constant("\(c.name)/scale", shape: scale.count == 1 ? [] : [scale.count], values: scale)
        y = try c.add(.binary, "scale", [y, sc], ["function": .string("mul")])
        let of = c.builder.constant("\(c.name)/offset", shape: offset.count == 1 ? [] : [offset.count], values: offset)
        return [try c.add(.binary, nil, [y, of], ["function": .string("add")])]
    }

    static func normalization(_ c: inout LayerContext) throws -> [String] {
        let x = try c.input()
        if c.config["invert"]?.bool == true { throw c.fail("invert=True is not supported") }
        try lastAxis(c, x)
        var mean: [Float], variance: [Float]
        if let m = c.config["mean"], !m.isNull, let v = c.config["variance"], !v.isNull {
            func flat(_ j: JSONValue) -> [Float] { j.double.map { [Float($0)] } ?? (j.array ?? []).flatMap { flat($0) } }
            mean = flat(m); variance = flat(v)
        } else {
            mean = try c.weight("mean")!.values
            variance = try c.weight("variance")!.values
        }
        guard mean.count == variance.count, !mean.isEmpty else { throw c.fail("mean and variance sizes differ") }
        // (x − mean) / max(sqrt(variance), 1e-7), as one multiply and one add.
        let scale = variance.map { 1 / max($0.squareRoot(), 1e-7) }
        let shift = (0..<mean.count).map { -mean[$0] * scale[$0] }
        let s = c.builder.constant("\(c.name)/scale", shape: mean.count == 1 ? [] : [mean.count], values: scale)
        let t = c.builder.constant("\(c.name)/shift", shape: mean.count == 1 ? [] : [mean.count], values: shift)
        let y = try c.add(.binary, "scale", [x, s], ["function": .string("mul")])
        return [try c.add(.binary, nil, [y, t], ["function": .string("add")])]
    }

    // MARK: - Activations

    static func relu(_ c: inout LayerContext) throws -> [String] {
        let x = try c.input()
        let maxValue = c.config["max_value"]?.double
        let slope = c.config["negative_slope"]?.double ?? 0, threshold = c.config["threshold"]?.double ?? 0
        var y: String
        if slope == 0, threshold == 0, let m = maxValue {
            y = try c.add(.clamp, nil, [x], ["min": .float(0), "max": .float(m)])
            return [y]
        }
        var attrs: [String: Attribute] = ["function": .string("relu")]
        if slope != 0 { attrs["alpha"] = .float(slope) }
        if threshold != 0 { attrs["beta"] = .float(threshold) }
        y = try c.add(.unary, maxValue == nil ? nil : "relu", [x], attrs)
        if let m = maxValue { y = try c.add(.clamp, nil, [y], ["max": .float(m)]) }
        return [y]
    }

    static func prelu(_ c: inout LayerContext) throws -> [String] {
        let x = try c.input()
        let alpha = try c.weight("alpha")!
        let a = c.constant("alpha", alpha)
        let zero = c.builder.constant("\(c.name)/zero", shape: [], values: [0])
        let pos = try c.add(.unary, "positive", [x], ["function": .string("relu")])
        let neg = try c.add(.binary, "negative", [x, zero], ["function": .string("min")])
        let scaled = try c.add(.binary, "scaled", [neg, a], ["function": .string("mul")])
        return [try c.add(.binary, nil, [pos, scaled], ["function": .string("add")])]
    }

    /// A named Keras activation applied to `x` (none for "linear").
    static func activation(_ c: inout LayerContext, _ spec: JSONValue, _ x: String) throws -> String {
        guard let name = spec.string ?? spec["config"]?["name"]?.string.flatMap({ _ in spec["class_name"]?.string?.lowercased() }) else {
            throw c.fail("activation \(spec) is not a built-in activation name")
        }
        func unary(_ f: String, _ extra: [String: Attribute] = [:]) throws -> String {
            try c.add(.unary, c.layer.className == "Activation" ? nil : f, [x], ["function": .string(f)].merging(extra) { a, _ in a })
        }
        switch name {
        case "linear": return x
        case "relu": return try unary("relu")
        case "relu6": return try c.add(.clamp, c.layer.className == "Activation" ? nil : "relu6", [x], ["min": .float(0), "max": .float(6)])
        case "sigmoid": return try unary("sigmoid")
        case "hard_sigmoid":
            // Keras 2: clip(0.2·x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
            return c.kerasMajor < 3 ? try unary("hard_sigmoid", ["alpha": .float(0.2), "beta": .float(0.5)]) : try unary("hard_sigmoid")
        case "swish", "silu": return try unary("swish")
        case "hard_swish", "hard_silu": return try unary("hard_swish")
        case "gelu": return try unary("gelu")
        case "elu": return try unary("elu")
        case "selu": return try unary("selu")
        case "softplus": return try unary("softplus")
        case "softsign": return try unary("softsign")
        case "tanh": return try unary("tanh")
        case "exponential": return try unary("exp")
        case "leaky_relu": return try unary("leaky_relu", ["alpha": .float(0.2)])
        case "softmax": return try c.add(.softmax, c.layer.className == "Activation" ? nil : "softmax", [x], ["axis": .int(-1)])
        default: throw c.fail("activation '\(name)' is not supported")
        }
    }

    static func unaryOp(_ c: inout LayerContext, _ f: String) throws -> [String] {
        [try c.add(.unary, nil, [try c.input()], ["function": .string(f)])]
    }

    // MARK: - Pooling, padding, resizing

    static func pool(_ c: inout LayerContext, _ op: OpKind) throws -> [String] {
        try checkChannelsLast(c)
        let size = try c.pair("pool_size", default: [2, 2])
        let strides = c.config["strides"].flatMap { $0.isNull ? nil : $0.ints }.map { $0.count == 1 ? [$0[0], $0[0]] : $0 } ?? size
        return [try c.add(op, nil, [try c.input()], ["kernel": .ints(size), "strides": .ints(strides), "padding": .string(try padding(c))])]
    }

    static func globalPool(_ c: inout LayerContext, _ op: OpKind) throws -> [String] {
        try checkChannelsLast(c)
        return [try c.add(op, nil, [try c.input()], ["keepdims": .bool(c.config["keepdims"]?.bool ?? false)])]
    }

    /// ((top, bottom), (left, right)) from an int, a pair, or a pair of pairs.
    static func pads(_ c: LayerContext, _ key: String) throws -> [Int] {
        guard let v = c.config[key] else { throw c.fail("missing '\(key)'") }
        if let i = v.int { return [i, i, i, i] }
        guard let a = v.array, a.count == 2 else { throw c.fail("'\(key)' is \(v), expected an int or two values") }
        if let h = a[0].int, let w = a[1].int { return [h, h, w, w] }
        guard let h = a[0].ints, let w = a[1].ints, h.count == 2, w.count == 2 else { throw c.fail("'\(key)' is \(v)") }
        return h + w
    }

    static func zeroPadding(_ c: inout LayerContext) throws -> [String] {
        try checkChannelsLast(c)
        let p = try pads(c, "padding")
        return [try c.add(.pad, nil, [try c.input()], ["pads": .ints([0, 0] + p + [0, 0])])]
    }

    static func cropping(_ c: inout LayerContext) throws -> [String] {
        try checkChannelsLast(c)
        let p = try pads(c, "cropping")
        func end(_ v: Int) -> Int { v == 0 ? Int.max : -v }
        return [try c.add(.slice, nil, [try c.input()], ["begins": .ints([0, p[0], p[2], 0]), "ends": .ints([Int.max, end(p[1]), end(p[3]), Int.max])])]
    }

    static func upSampling(_ c: inout LayerContext) throws -> [String] {
        try checkChannelsLast(c)
        let f = try c.pair("size", default: [2, 2])
        let x = try c.input()
        let s = c.builder.shape(of: x)
        guard s.count == 4, let h = s[1].fixedValue, let w = s[2].fixedValue else { throw c.fail("needs a fixed input height and width") }
        let method = c.config["interpolation"]?.string ?? "nearest"
        guard ["nearest", "bilinear"].contains(method) else { throw c.fail("interpolation '\(method)' is not supported") }
        return [try c.add(.resize, nil, [x], ["size": .ints([h * f[0], w * f[1]]), "method": .string(method), "half_pixel_centers": .bool(true)])]
    }

    // MARK: - Merging and arithmetic

    static func merge(_ c: inout LayerContext, _ f: BinaryFunction) throws -> [String] {
        let xs = c.inputs
        guard xs.count >= 2 else { throw c.fail("needs at least two inputs, got \(xs.count)") }
        if f == .sub, xs.count != 2 { throw c.fail("Subtract needs exactly two inputs") }
        var y = xs[0]
        for (i, x) in xs.dropFirst().enumerated() {
            y = try c.add(.binary, i == xs.count - 2 ? nil : "\(f.rawValue)\(i)", [y, x], ["function": .string(f.rawValue)])
        }
        return [y]
    }

    static func arithmetic(_ c: inout LayerContext, _ f: BinaryFunction) throws -> [String] {
        let operands = try c.args.map { a -> String in
            switch a {
            case .value(let v): return v
            case .number(let n): return c.builder.constant("\(c.name)/constant", shape: [], values: [Float(n)])
            default: throw c.fail("unsupported operand")
            }
        }
        guard operands.count == 2 else { throw c.fail("expected two operands, got \(operands.count)") }
        return [try c.add(.binary, nil, operands, ["function": .string(f.rawValue)])]
    }
}
