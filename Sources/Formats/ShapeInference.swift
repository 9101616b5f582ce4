/// Output shapes of every op kind: one implementation used by readers (to type the values they
/// create) and by the engine planner (with concrete dims, to check a model at load and size buffers).
///
/// Where an output dimension depends on a symbolic input dimension, the result is a symbol derived from
/// the node name, resolved at run time when concrete shapes flow through the same function.
public enum ShapeInference {
    /// TF's SAME/VALID/explicit window arithmetic for one spatial dimension (docs/FORMAT.md §4.1.1).
    public struct Window: Equatable, Sendable {
        public var output: Int
        public var padBefore: Int
        public var padAfter: Int

        public static func compute(input: Int, kernel: Int, stride: Int, dilation: Int, padding: String,
                                   explicit: (Int, Int) = (0, 0)) -> Window {
            let effective = (kernel - 1) * dilation + 1
            switch padding {
            case "same":
                let out = (input + stride - 1) / stride
                let total = max(0, (out - 1) * stride + effective - input)
                return Window(output: out, padBefore: total / 2, padAfter: total - total / 2)
            case "explicit":
                let out = (input + explicit.0 + explicit.1 - effective) / stride + 1
                return Window(output: max(out, 0), padBefore: explicit.0, padAfter: explicit.1)
            default:
                let out = input >= effective ? (input - effective) / stride + 1 : 0
                return Window(output: out, padBefore: 0, padAfter: 0)
            }
        }
    }

    struct Failure: Error { let message: String }

    /// The output shape of `node` given its inputs' shapes.
    /// - Throws: `FormatsError.graphInvalid` naming the node, the shapes, and what was expected.
    ///   `FormatsError.attributeOutOfRange` / `.badPads` when an attribute is outside `GraphLimits`.
    public static func outputShape(of node: Node, inputs: [[Dim]]) throws -> [Dim] {
        try GraphLimits.check(node)
        do {
            for (i, shape) in inputs.enumerated() where GraphLimits.elementCount(shape) == nil {
                throw Failure(message: "input \(i) is larger than the limits (dimensions 0…2^32, at most 2^34 elements)")
            }
            let out = try infer(node, inputs)
            guard GraphLimits.elementCount(out) != nil else {
                throw Failure(message: "the output would have shape [\(out.map(\.description).joined(separator: ", "))], more than the limits (dimensions 0…2^32, at most 2^34 elements)")
            }
            return out
        } catch let f as Failure {
            let shapes = inputs.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" }.joined(separator: ", ")
            throw FormatsError(.graphInvalid, "node '\(node.name)' (\(node.op.rawValue)) cannot take inputs of shape \(shapes): \(f.message)")
        }
    }

    private static func infer(_ node: Node, _ inputs: [[Dim]]) throws -> [Dim] {
        let x = inputs.first ?? []
        func fail(_ m: String) -> Failure { Failure(message: m) }
        func sym(_ axis: Int) -> Dim { .symbol("\(node.name):\(axis)") }
        func rank(_ r: Int, _ what: String = "input") throws {
            guard x.count == r else { throw fail("\(what) must have rank \(r), it has rank \(x.count)") }
        }
        func fixed(_ d: Dim, _ what: String) throws -> Int {
            guard let v = d.fixedValue else { throw fail("\(what) must be a fixed size") }
            return v
        }
        func pair(_ key: String, _ def: [Int]) throws -> [Int] {
            let v = node.ints(key) ?? def
            guard v.count == 2, v.allSatisfy({ $0 >= 1 }) || key == "output_padding" else { throw fail("'\(key)' must be two positive integers, got \(v)") }
            return v
        }
        func window(_ kernel: [Int]) throws -> [Dim] {
            try rank(4)
            let strides = try pair("strides", node.op == .maxPool2d || node.op == .avgPool2d ? kernel : [1, 1])
            let dilations = try pair("dilations", [1, 1])
            let padding = node.string("padding") ?? "valid"
            let pads = node.ints("pads") ?? [0, 0, 0, 0]
            if padding == "explicit", pads.count != 4 || pads.contains(where: { $0 < 0 }) { throw fail("'pads' must be 4 non-negative integers") }
            return try (0..<2).map { i -> Dim in
                guard let input = x[1 + i].fixedValue else { return sym(1 + i) }
                let w = Window.compute(input: input, kernel: kernel[i], stride: strides[i], dilation: dilations[i], padding: padding,
                                       explicit: (pads[2 * i], pads[2 * i + 1]))
                guard w.output >= 1 else { throw fail("the \(kernel[i])-wide window (dilation \(dilations[i])) does not fit in \(input) with '\(padding)' padding") }
                return .fixed(w.output)
            }
        }
        func filter(_ i: Int) throws -> [Int] {
            guard inputs.count > i else { throw fail("missing filter") }
            return try inputs[i].map { try fixed($0, "filter dims") }
        }
        func checkBias(_ channels: Int) throws {
            if inputs.count > 2, !node.inputs[2].isEmpty {
                guard inputs[2] == [.fixed(channels)] else { throw fail("bias must have shape [\(channels)]") }
            }
        }

        switch node.op {
        case .conv2d:
            let f = try filter(1)
            guard f.count == 4 else { throw fail("filter must be [kh, kw, in/groups, out]") }
            let groups = node.int("groups") ?? 1
            if let c = x.count == 4 ? x[3].fixedValue : nil {
                guard groups >= 1, c % groups == 0, f[2] * groups == c, f[3] % groups == 0 else {
                    throw fail("filter \(f) with \(groups) groups does not match \(c) input channels (expected [\(f[0]), \(f[1]), \(c / max(groups, 1)), \(f[3])])")
                }
            }
            try checkBias(f[3])
            let hw = try window([f[0], f[1]])
            return [x[0], hw[0], hw[1], .fixed(f[3])]
        case .depthwiseConv2d:
            let f = try filter(1)
            guard f.count == 4 else { throw fail("depthwise filter must be [kh, kw, in, multiplier]") }
            if let c = x.count == 4 ? x[3].fixedValue : nil, c != f[2] {
                throw fail("depthwise filter \(f) does not match \(c) input channels")
            }
            try checkBias(f[2] * f[3])
            let hw = try window([f[0], f[1]])
            return [x[0], hw[0], hw[1], .fixed(f[2] * f[3])]
        case .conv2dTranspose:
            let f = try filter(1)
            guard f.count == 4 else { throw fail("transposed filter must be [kh, kw, out, in]") }
            try rank(4)
            if let c = x[3].fixedValue, c != f[3] { throw fail("transposed filter \(f) does not match \(c) input channels") }
            try checkBias(f[2])
            let strides = try pair("strides", [1, 1]), dil = try pair("dilations", [1, 1])
            let outPad = node.ints("output_padding") ?? [0, 0]
            let padding = node.string("padding") ?? "valid"
            let hw = (0..<2).map { i -> Dim in
                guard let input = x[1 + i].fixedValue else { return sym(1 + i) }
                let k = (f[i] - 1) * dil[i] + 1
                // Keras/TF: same → in·s; valid → in·s + max(k − s, 0).
                let out = padding == "same" ? input * strides[i] : input * strides[i] + max(k - strides[i], 0)
                return .fixed(out + outPad[i])
            }
            return [x[0], hw[0], hw[1], .fixed(f[2])]
        case .dense:
            let k = try filter(1)
            guard k.count == 2 else { throw fail("kernel must be [in, out]") }
            guard let last = x.last else { throw fail("input must have rank ≥ 1") }
            if let l = last.fixedValue, l != k[0] { throw fail("kernel \(k) expects \(k[0]) input features, the input has \(l)") }
            try checkBias(k[1])
            return x.dropLast() + [.fixed(k[1])]
        case .matmul:
            guard inputs.count == 2, x.count >= 2, inputs[1].count >= 2 else { throw fail("both inputs need rank ≥ 2") }
            let b = inputs[1]
            let ta = node.bool("transpose_a") ?? false, tb = node.bool("transpose_b") ?? false
            let m = ta ? x[x.count - 1] : x[x.count - 2], k1 = ta ? x[x.count - 2] : x[x.count - 1]
            let k2 = tb ? b[b.count - 1] : b[b.count - 2], n = tb ? b[b.count - 2] : b[b.count - 1]
            if let a = k1.fixedValue, let c = k2.fixedValue, a != c { throw fail("inner dimensions \(a) and \(c) differ") }
            let batchA = Array(x.dropLast(2)), batchB = Array(b.dropLast(2))
            return try broadcast(batchA, batchB, sym) + [m, n]
        case .maxPool2d, .avgPool2d:
            let k = try pair("kernel", [1, 1])
            let hw = try window(k)
            return [x[0], hw[0], hw[1], x[3]]
        case .globalAvgPool, .globalMaxPool:
            try rank(4)
            return (node.bool("keepdims") ?? false) ? [x[0], 1, 1, x[3]] : [x[0], x[3]]
        case .unary, .clamp, .softmax, .cast:
            if node.op == .softmax, let axis = node.int("axis"), axis >= x.count || axis < -x.count {
                throw fail("axis \(axis) is out of range for rank \(x.count)")
            }
            return x
        case .binary:
            guard inputs.count == 2 else { throw fail("needs two inputs") }
            return try broadcast(x, inputs[1], sym)
        case .pad:
            let pads = node.ints("pads") ?? []
            guard pads.count == 2 * x.count, pads.allSatisfy({ $0 >= 0 }) else { throw fail("'pads' must hold \(2 * x.count) non-negative values, got \(pads)") }
            // An unpadded symbolic axis (the batch, as ZeroPadding2D leaves it) keeps its symbol.
            return x.enumerated().map { i, d in
                d.fixedValue.map { .fixed($0 + pads[2 * i] + pads[2 * i + 1]) } ?? (pads[2 * i] == 0 && pads[2 * i + 1] == 0 ? d : sym(i))
            }
        case .reshape:
            let target = node.ints("shape") ?? []
            guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 }) else { throw fail("'shape' \(target) may hold one -1 at most and no other negatives") }
            var out: [Dim] = target.enumerated().map { i, t in t == 0 ? (i < x.count ? x[i] : .fixed(0)) : .fixed(t) }
            guard GraphLimits.elementCount(out.map { $0 == -1 ? .fixed(1) : $0 }) != nil else { throw fail("'shape' \(target) has more than 2^34 elements") }
            if let i = target.firstIndex(of: -1) {
                let known = out.enumerated().filter { $0.offset != i }.map(\.element)
                if x.allSatisfy({ $0.fixedValue != nil }), known.allSatisfy({ $0.fixedValue != nil }) {
                    let total = x.reduce(1) { $0 * $1.fixedValue! }, part = known.reduce(1) { $0 * $1.fixedValue! }
                    guard part > 0, total % part == 0 else { throw fail("\(total) elements cannot be reshaped to \(target)") }
                    out[i] = .fixed(total / part)
                } else {
                    // Symbolic dims on both sides cancel when the remaining sizes match (the usual Flatten).
                    let xs = x.filter { $0.fixedValue == nil }, ks = known.filter { $0.fixedValue == nil }
                    let xf = x.compactMap(\.fixedValue).reduce(1, *), kf = known.compactMap(\.fixedValue).reduce(1, *)
                    // Or a single symbolic input dim carries over to the -1 when the fixed parts hold the same
                    // number of elements ([N, 7, 7, 64] → [-1, 3136] is [N, 3136]).
                    if xs == ks, kf > 0, xf % kf == 0 { out[i] = .fixed(xf / kf) }
                    else if xs.count == 1, ks.isEmpty, kf > 0, xf == kf { out[i] = xs[0] }
                    else { out[i] = sym(i) }
                }
            } else if x.allSatisfy({ $0.fixedValue != nil }), out.allSatisfy({ $0.fixedValue != nil }) {
                let a = x.reduce(1) { $0 * $1.fixedValue! }, b = out.reduce(1) { $0 * $1.fixedValue! }
                guard a == b else { throw fail("\(a) elements cannot be reshaped to \(target) (\(b) elements)") }
            }
            return out
        case .transpose:
            let perm = node.ints("perm") ?? []
            guard perm.sorted() == Array(0..<x.count) else { throw fail("'perm' \(perm) is not a permutation of 0..<\(x.count)") }
            return perm.map { x[$0] }
        case .concat:
            guard var axis = node.int("axis") else { throw fail("missing 'axis'") }
            if axis < 0 { axis += x.count }
            guard axis >= 0, axis < x.count else { throw fail("axis is out of range for rank \(x.count)") }
            var total: Dim = .fixed(0)
            for (j, s) in inputs.enumerated() {
                guard s.count == x.count else { throw fail("input \(j) has rank \(s.count), expected \(x.count)") }
                for i in 0..<x.count where i != axis && s[i] != x[i] && s[i].fixedValue != nil && x[i].fixedValue != nil {
                    throw fail("input \(j) has size \(s[i]) on axis \(i), expected \(x[i])")
                }
                if let t = total.fixedValue, let v = s[axis].fixedValue { total = .fixed(t + v) } else { total = sym(axis) }
            }
            return x.enumerated().map { $0.offset == axis ? total : $0.element }
        case .resize:
            try rank(4)
            let size = node.ints("size") ?? []
            guard size.count == 2, size.allSatisfy({ $0 >= 1 }) else { throw fail("'size' must be two positive integers") }
            return [x[0], .fixed(size[0]), .fixed(size[1]), x[3]]
        case .slice:
            let b = node.ints("begins") ?? [], e = node.ints("ends") ?? [], s = node.ints("strides") ?? Array(repeating: 1, count: x.count)
            guard b.count == x.count, e.count == x.count, s.count == x.count, s.allSatisfy({ $0 >= 1 }) else {
                throw fail("'begins', 'ends' and 'strides' must each hold \(x.count) values (strides ≥ 1)")
            }
            return try x.enumerated().map { i, d in
                guard let n = d.fixedValue else {
                    if b[i] == 0, e[i] == Int.max, s[i] == 1 { return d }
                    return sym(i)
                }
                let (lo, hi) = sliceBounds(b[i], e[i], n)
                guard hi >= lo else { throw fail("axis \(i): slice \(b[i])..<\(e[i]) is empty for size \(n)") }
                return .fixed((hi - lo + s[i] - 1) / s[i])
            }
        case .reduce:
            let axes = try normalizedAxes(node.ints("axes") ?? [], rank: x.count)
            let keep = node.bool("keepdims") ?? false
            return x.enumerated().compactMap { i, d in axes.contains(i) ? (keep ? .fixed(1) : nil) : d }
        default:
            // Format 2.0 ops have typed (and possibly several) outputs: `outputTypes(of:inputs:library:)`.
            guard let first = try outputTypes(of: node, inputs: inputs.map { TypedShape(.float32, $0) }).first else {
                throw fail("has no outputs")
            }
            return first.shape
        }
    }

    /// Clamps Python-style slice bounds (negative counts from the end) to `0...n`.
    public static func sliceBounds(_ begin: Int, _ end: Int, _ n: Int) -> (Int, Int) {
        func norm(_ v: Int) -> Int { v < 0 ? max(0, n + v) : min(v, n) }
        return (norm(begin), norm(end))
    }

    public static func normalizedAxes(_ axes: [Int], rank: Int) throws -> [Int] {
        try axes.map { a in
            let v = a < 0 ? a + rank : a
            guard v >= 0, v < rank else { throw Failure(message: "axis \(a) is out of range for rank \(rank)") }
            return v
        }
    }

    /// NumPy broadcasting of two shapes.
    static func broadcast(_ a: [Dim], _ b: [Dim], _ sym: (Int) -> Dim) throws -> [Dim] {
        let r = max(a.count, b.count)
        let pa = Array(repeating: Dim.fixed(1), count: r - a.count) + a, pb = Array(repeating: Dim.fixed(1), count: r - b.count) + b
        return try (0..<r).map { i in
            switch (pa[i], pb[i]) {
            case (.fixed(1), let d), (let d, .fixed(1)): return d
            case (.fixed(let x), .fixed(let y)):
                guard x == y else { throw Failure(message: "shapes cannot be broadcast: size \(x) vs \(y) on axis \(i)") }
                return .fixed(x)
            case (let d, let e): return d == e ? d : (d.fixedValue != nil ? d : (e.fixedValue != nil ? e : sym(i)))
            }
        }
    }
}
