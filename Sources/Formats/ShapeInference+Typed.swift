/// An element type and a shape: what type inference knows about a value.
public struct TypedShape: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Dim]

    public init(_ dtype: DType, _ shape: [Dim]) {
        self.dtype = dtype
        self.shape = shape
    }

    public var description: String { "\(dtype)[\(shape.map(\.description).joined(separator: ", "))]" }
}

/// Element types and shapes of every output of every op (format 1 ops through `outputShape(of:inputs:)`).
/// Where an output's size depends on values only known while running (`where`, `range`, NMS without
/// padding, a loop's changing shapes), the dimension is a symbol minted from the node name.
extension ShapeInference {
    /// Ops whose inputs must be float32.
    static let floatOnly: Set<OpKind> = [.conv2d, .depthwiseConv2d, .conv2dTranspose, .dense, .matmul, .maxPool2d, .avgPool2d,
                                         .globalAvgPool, .globalMaxPool, .softmax, .resize]
    static let integers: Set<DType> = [.int32, .int64, .uint8]

    /// The types and shapes of `node`'s outputs given its present inputs'. `library` holds the functions
    /// `while`/`if` nodes name.
    /// - Throws: `FormatsError.graphInvalid` / `.typeMismatch` naming the node, the inputs and what was expected.
    public static func outputTypes(of node: Node, inputs: [TypedShape], library: [String: ModelGraph] = [:]) throws -> [TypedShape] {
        try GraphLimits.check(node)
        let shapes = inputs.map(\.shape)
        func describe() -> String { inputs.map(\.description).joined(separator: ", ") }
        if !node.op.isVersion2 {
            let shape = try outputShape(of: node, inputs: shapes)
            let x = inputs.first?.dtype ?? .float32
            if floatOnly.contains(node.op) || node.op == .unary && !["abs", "neg", "square", "identity", "relu"].contains(node.string("function") ?? "") {
                if let bad = inputs.first(where: { $0.dtype != .float32 }) {
                    throw FormatsError(.typeMismatch, "node '\(node.name)' (\(node.op.rawValue)) takes float32 values, got \(bad.dtype) (inputs: \(describe()))")
                }
            }
            if node.op == .binary || node.op == .concat, let bad = inputs.first(where: { $0.dtype != x }) {
                throw FormatsError(.typeMismatch, "node '\(node.name)' (\(node.op.rawValue)) takes inputs of one type, got \(x) and \(bad.dtype) (inputs: \(describe()))")
            }
            if node.op == .cast { return [TypedShape(DType(name: node.string("to") ?? "") ?? .float32, shape)] }
            return [TypedShape(x, shape)]
        }
        do {
            return try GraphLimits.checked(try inferTyped(node, inputs, library), node)
        } catch let f as Failure {
            throw FormatsError(.graphInvalid, "node '\(node.name)' (\(node.op.rawValue)) cannot take inputs \(describe()): \(f.message)")
        }
    }

    private static func inferTyped(_ node: Node, _ ins: [TypedShape], _ library: [String: ModelGraph]) throws -> [TypedShape] {
        func fail(_ m: String) -> Failure { Failure(message: m) }
        func sym(_ axis: Int, _ output: Int = 0) -> Dim { .symbol("\(node.name):\(output == 0 ? "" : "\(output):")\(axis)") }
        func input(_ i: Int) throws -> TypedShape {
            guard i < ins.count else { throw fail("missing input \(i)") }
            return ins[i]
        }
        func integer(_ i: Int, _ what: String) throws -> TypedShape {
            let t = try input(i)
            guard t.dtype == .int32 || t.dtype == .int64 else { throw fail("\(what) must be int32 or int64, it is \(t.dtype)") }
            return t
        }
        func vector(_ i: Int, _ what: String) throws -> Int {
            let t = try integer(i, what)
            guard t.shape.count == 1, let n = t.shape[0].fixedValue else { throw fail("\(what) must be a 1-D tensor of fixed length, it has shape \(t.shape)") }
            return n
        }
        func axis(_ a: Int, rank: Int) throws -> Int {
            let v = a < 0 ? a + rank : a
            guard v >= 0, v < rank else { throw fail("axis \(a) is out of range for rank \(rank)") }
            return v
        }
        func sameType(_ a: TypedShape, _ b: TypedShape) throws {
            guard a.dtype == b.dtype else { throw fail("both inputs must have one type, got \(a.dtype) and \(b.dtype)") }
        }
        let x = ins.first ?? TypedShape(.float32, [])
        let r = x.shape.count

        switch node.op {
        case .gather:
            let idx = try integer(1, "indices")
            let batch = node.int("batch_dims") ?? 0
            let a = try axis(node.int("axis") ?? 0, rank: r)
            guard batch >= 0, batch <= a, batch <= idx.shape.count else { throw fail("batch_dims \(batch) must be ≤ axis \(a) and ≤ the indices' rank") }
            return [TypedShape(x.dtype, Array(x.shape[..<a]) + Array(idx.shape[batch...]) + Array(x.shape[(a + 1)...]))]
        case .gatherND:
            let idx = try integer(1, "indices")
            let batch = node.int("batch_dims") ?? 0
            guard let q = idx.shape.last?.fixedValue else { throw fail("the indices' last dimension must be fixed") }
            guard batch >= 0, batch + q <= r, batch < idx.shape.count else { throw fail("indices of depth \(q) with batch_dims \(batch) do not fit params of rank \(r)") }
            return [TypedShape(x.dtype, Array(idx.shape.dropLast()) + Array(x.shape[(batch + q)...]))]
        case .scatterND:
            _ = try integer(0, "indices")
            let n = try vector(2, "shape")
            return [TypedShape(try input(1).dtype, (0..<n).map { sym($0) })]
        case .topK:
            guard r >= 1 else { throw fail("input must have rank ≥ 1") }
            let k = try integer(1, "k")
            guard k.shape.isEmpty else { throw fail("k must be a scalar") }
            let shape = Array(x.shape.dropLast()) + [sym(r - 1)]
            return [TypedShape(x.dtype, shape), TypedShape(.int32, shape)]
        case .argMax, .argMin:
            let a = try axis(node.int("axis") ?? 0, rank: r)
            var shape = x.shape
            shape.remove(at: a)
            return [TypedShape(DType(name: node.string("output_type") ?? "int64") ?? .int64, shape)]
        case .where:
            return [TypedShape(.int64, [sym(0), .fixed(r)])]
        case .select:
            let a = try input(1), b = try input(2)
            try sameType(a, b)
            guard x.dtype == .bool else { throw fail("the condition must be bool, it is \(x.dtype)") }
            return [TypedShape(a.dtype, try broadcast(try broadcast(x.shape, a.shape, { sym($0) }), b.shape, { sym($0) }))]
        case .compare:
            let b = try input(1)
            try sameType(x, b)
            return [TypedShape(.bool, try broadcast(x.shape, b.shape, { sym($0) }))]
        case .logical:
            let not = node.string("function") == "not"
            guard ins.count == (not ? 1 : 2) else { throw fail("'\(node.string("function") ?? "")' takes \(not ? 1 : 2) inputs") }
            guard ins.allSatisfy({ $0.dtype == .bool }) else { throw fail("inputs must be bool") }
            return [TypedShape(.bool, not ? x.shape : try broadcast(x.shape, ins[1].shape, { sym($0) }))]
        case .bitwise:
            let b = try input(1)
            try sameType(x, b)
            guard integers.contains(x.dtype) else { throw fail("inputs must be integers, they are \(x.dtype)") }
            return [TypedShape(x.dtype, try broadcast(x.shape, b.shape, { sym($0) }))]
        case .bitcast:
            let to = DType(name: node.string("to") ?? "") ?? .float32
            guard to.size == x.dtype.size, to != .bool, x.dtype != .bool else {
                throw fail("bitcast from \(x.dtype) to \(to) is not supported (both must be numeric of one size)")
            }
            return [TypedShape(to, x.shape)]
        case .range:
            guard ins.count == 3, ins.allSatisfy({ $0.shape.isEmpty && $0.dtype == x.dtype }), x.dtype != .bool else {
                throw fail("start, limit and delta must be scalars of one numeric type")
            }
            return [TypedShape(x.dtype, [sym(0)])]
        case .fill:
            let n = try vector(0, "dims")
            guard try input(1).shape.isEmpty else { throw fail("value must be a scalar") }
            return [TypedShape(ins[1].dtype, (0..<n).map { sym($0) })]
        case .tile:
            guard try vector(1, "multiples") == r else { throw fail("multiples must have one entry per input dimension (\(r))") }
            return [TypedShape(x.dtype, x.shape.enumerated().map { $0.element == .fixed(0) ? .fixed(0) : sym($0.offset) })]
        case .broadcastTo:
            let n = try vector(1, "shape")
            guard n >= r else { throw fail("shape has \(n) entries, fewer than the input's rank \(r)") }
            return [TypedShape(x.dtype, (0..<n).map { sym($0) })]
        case .expandDims:
            let a = try axis(node.int("axis") ?? 0, rank: r + 1)
            var shape = x.shape
            shape.insert(.fixed(1), at: a)
            return [TypedShape(x.dtype, shape)]
        case .squeeze:
            let axes: [Int]
            if let given = node.ints("axes"), !given.isEmpty {
                axes = try given.map { try axis($0, rank: r) }
                for a in axes where x.shape[a].fixedValue.map({ $0 != 1 }) ?? false { throw fail("axis \(a) has size \(x.shape[a]), not 1") }
            } else {
                guard x.shape.allSatisfy({ $0.fixedValue != nil }) else { throw fail("squeezing every size-1 axis needs fixed dimensions; name the axes") }
                axes = x.shape.indices.filter { x.shape[$0] == .fixed(1) }
            }
            return [TypedShape(x.dtype, x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))]
        case .stack:
            let a = try axis(node.int("axis") ?? 0, rank: r + 1)
            for (j, t) in ins.enumerated() {
                try sameType(x, t)
                guard t.shape.count == r, zip(t.shape, x.shape).allSatisfy({ $0 == $1 || $0.fixedValue == nil || $1.fixedValue == nil }) else {
                    throw fail("input \(j) has shape \(t.shape), expected \(x.shape) like input 0")
                }
            }
            var shape = x.shape
            shape.insert(.fixed(ins.count), at: a)
            return [TypedShape(x.dtype, shape)]
        case .unstack:
            let a = try axis(node.int("axis") ?? 0, rank: r)
            if let n = x.shape[a].fixedValue, n != node.outputs.count {
                throw fail("axis \(a) has size \(n), but the node has \(node.outputs.count) outputs")
            }
            var shape = x.shape
            shape.remove(at: a)
            return Array(repeating: TypedShape(x.dtype, shape), count: node.outputs.count)
        case .split:
            let a = try axis(node.int("axis") ?? 0, rank: r)
            let sizes = node.ints("sizes") ?? []
            guard sizes.count == node.outputs.count, sizes.filter({ $0 == -1 }).count <= 1, sizes.allSatisfy({ $0 >= -1 }) else {
                throw fail("'sizes' \(sizes) must give one size per output (\(node.outputs.count)), with at most one −1")
            }
            let known = sizes.filter { $0 >= 0 }.reduce(0, +)
            var resolved = sizes.map { Dim.fixed($0) }
            if let n = x.shape[a].fixedValue {
                if let i = sizes.firstIndex(of: -1) {
                    guard known <= n else { throw fail("'sizes' \(sizes) add up to more than \(n)") }
                    resolved[i] = .fixed(n - known)
                } else if known != n {
                    throw fail("'sizes' \(sizes) add up to \(known), but axis \(a) has size \(n)")
                }
            } else if let i = sizes.firstIndex(of: -1) {
                resolved[i] = sym(a, i)
            }
            return resolved.map { d in var s = x.shape; s[a] = d; return TypedShape(x.dtype, s) }
        case .reverse:
            _ = try (node.ints("axes") ?? []).map { try axis($0, rank: r) }
            return [x]
        case .cumsum:
            _ = try axis(node.int("axis") ?? 0, rank: max(r, 1))
            guard x.dtype != .bool else { throw fail("input must be numeric") }
            return [x]
        case .oneHot:
            guard x.dtype == .int32 || x.dtype == .int64 || x.dtype == .uint8 else { throw fail("indices must be integers, they are \(x.dtype)") }
            let depth = node.int("depth") ?? 0
            let a = node.int("axis") ?? -1
            guard a >= -1, a <= r else { throw fail("axis \(a) must be −1 … \(r)") }
            var shape = x.shape
            shape.insert(.fixed(depth), at: a == -1 ? r : a)
            return [TypedShape(DType(name: node.string("dtype") ?? "float32") ?? .float32, shape)]
        case .shape:
            return [TypedShape(DType(name: node.string("out_type") ?? "int32") ?? .int32, [.fixed(r)])]
        case .size:
            return [TypedShape(DType(name: node.string("out_type") ?? "int32") ?? .int32, [])]
        case .nonMaxSuppression:
            let scores = try input(1)
            guard x.shape.count == 2, x.shape[1] == .fixed(4), x.dtype == .float32 else { throw fail("boxes must be float32 [n, 4]") }
            guard scores.shape.count == 1, scores.dtype == .float32 else { throw fail("scores must be float32 [n]") }
            let n: Dim = node.bool("pad_to_max_output_size") == true ? .fixed(node.int("max_output_size") ?? 0) : sym(0)
            return [TypedShape(.int32, [n]), TypedShape(.float32, [n]), TypedShape(.int32, [])]
        case .combinedNonMaxSuppression:
            let scores = try input(1)
            guard x.shape.count == 4, x.shape[3] == .fixed(4), x.dtype == .float32 else { throw fail("boxes must be float32 [batch, n, q, 4]") }
            guard scores.shape.count == 3, scores.dtype == .float32 else { throw fail("scores must be float32 [batch, n, classes]") }
            let perClass = node.int("max_output_size_per_class") ?? 0, total = node.int("max_total_size") ?? 0
            var t: Dim = .fixed(total)
            if node.bool("pad_per_class") == true {
                t = scores.shape[2].fixedValue.map { .fixed(min(perClass * $0, total)) } ?? sym(1)
            }
            let b = x.shape[0]
            return [TypedShape(.float32, [b, t, 4]), TypedShape(.float32, [b, t]), TypedShape(.float32, [b, t]), TypedShape(.int32, [b])]
        case .cropAndResize:
            let boxes = try input(1), idx = try integer(2, "box indices")
            guard x.shape.count == 4, x.dtype == .float32 else { throw fail("image must be float32 [batch, height, width, channels]") }
            guard boxes.shape.count == 2, boxes.shape[1] == .fixed(4), boxes.dtype == .float32 else { throw fail("boxes must be float32 [n, 4]") }
            guard idx.shape.count == 1 else { throw fail("box indices must be [n]") }
            let size = node.ints("crop_size") ?? []
            guard size.count == 2 else { throw fail("'crop_size' must be two positive integers") }
            return [TypedShape(.float32, [boxes.shape[0], .fixed(size[0]), .fixed(size[1]), x.shape[3]])]
        case .while:
            guard let cond = library[node.string("cond") ?? ""], let body = library[node.string("body") ?? ""] else { throw fail("names a function that does not exist") }
            for (i, t) in ins.enumerated() {
                guard i < body.inputs.count, body.inputs[i].dtype == t.dtype, cond.inputs.count > i, cond.inputs[i].dtype == t.dtype else {
                    throw fail("loop value \(i) is \(t.dtype), but the cond/body functions take other types")
                }
                guard i < body.outputs.count, body.outputs[i].dtype == t.dtype else { throw fail("the body gives back loop value \(i) with another type") }
            }
            guard cond.outputs.count == 1, cond.outputs[0].dtype == .bool else { throw fail("the cond function must give one bool") }
            // A value whose shape the body keeps is known; one it changes is known only at run time.
            return ins.enumerated().map { i, t in
                let out = body.outputs[i].shape
                let same = out.count == t.shape.count && zip(out, t.shape).allSatisfy { $0 == $1 }
                return TypedShape(t.dtype, same ? t.shape : t.shape.indices.map { d in
                    out.count == t.shape.count && out[d] == t.shape[d] ? t.shape[d] : sym(d, i) })
            }
        case .if:
            guard let a = library[node.string("then_branch") ?? ""], let b = library[node.string("else_branch") ?? ""] else { throw fail("names a function that does not exist") }
            guard x.shape.isEmpty || x.shape.allSatisfy({ $0 == .fixed(1) }) else { throw fail("the predicate must be a scalar") }
            for (i, t) in ins.dropFirst().enumerated() {
                guard a.inputs[i].dtype == t.dtype, b.inputs[i].dtype == t.dtype else { throw fail("argument \(i) is \(t.dtype), but a branch takes another type") }
            }
            return try zip(a.outputs, b.outputs).enumerated().map { i, pair in
                guard pair.0.dtype == pair.1.dtype else { throw fail("the branches give output \(i) as \(pair.0.dtype) and \(pair.1.dtype)") }
                let same = pair.0.shape == pair.1.shape
                return TypedShape(pair.0.dtype, same ? pair.0.shape : pair.0.shape.indices.map { sym($0, i) })
            }
        default:
            throw fail("no type rule")
        }
    }
}

extension GraphLimits {
    /// Checks every output of a node against the value caps.
    static func checked(_ outputs: [TypedShape], _ node: Node) throws -> [TypedShape] {
        for t in outputs where elementCount(t.shape) == nil {
            throw FormatsError(.absurdValueShape, "node '\(node.name)' (\(node.op.rawValue)) would give a value of shape \(t.shape.map(\.description)), more than the limits (dimensions 0…2^32, at most 2^34 elements)")
        }
        return outputs
    }
}
