import Formats

/// The general executor (format 2.0 graphs): typed values, nodes with several outputs, shapes known only
/// while running, and `while`/`if` over the function library. Format 1 ops on float32 values run the same
/// fast and reference kernels as the classifier path; everything else runs the typed kernels.
///
/// Classifier graphs never come here (`ModelGraph.isStaticFloat`): they keep the static plan.
final class Interpreter: @unchecked Sendable {
    let graph: ModelGraph
    let library: [String: ModelGraph]
    /// Every constant of every graph of the file, in its own element type.
    let constants: [String: TypedTensor]
    /// Parsed steps of the format 1 nodes, by node name within each graph ("" = the top level).
    private let steps: [String: [String: Step]]
    private let scratch = Scratch()

    init(graph: ModelGraph, constants: [String: TypedTensor]) throws {
        self.graph = graph
        self.library = graph.functions ?? [:]
        self.constants = constants
        var steps: [String: [String: Step]] = [:]
        for (name, g) in [("", graph)] + library.map({ ($0.key, $0.value) }) {
            for c in g.constants where constants[c.name] == nil { throw EngineError("constant '\(c.name)' has no weights") }
            for node in g.nodes where !node.op.isVersion2 { steps[name, default: [:]][node.name] = try Planner.step(node) }
        }
        self.steps = steps
    }

    /// Loads every constant of every graph of `file` in its own type (float16/int8q storage widened).
    static func constants(of graph: ModelGraph, file: SkiffFile) throws -> [String: TypedTensor] {
        var out: [String: TypedTensor] = [:]
        for g in graph.allGraphs { for c in g.constants where out[c.name] == nil { out[c.name] = try TypedTensor.load(c.name, from: file) } }
        return out
    }

    func run(_ feeds: [String: TypedTensor]) throws -> [String: TypedTensor] {
        for unknown in feeds.keys where !graph.inputs.contains(where: { $0.name == unknown }) {
            throw EngineError("unknown input '\(unknown)' (the model's inputs are: \(graph.inputs.map(\.name).joined(separator: ", ")))")
        }
        let inputs = try graph.inputs.map { info -> TypedTensor in
            guard let t = feeds[info.name] else { throw EngineError("missing input '\(info.name)' (expected \(info))") }
            try Self.check(t, against: info)
            return t
        }
        let outs = try run(graph, name: "", inputs, depth: 0)
        return Dictionary(uniqueKeysWithValues: zip(graph.outputs.map(\.name), outs))
    }

    static func check(_ t: TypedTensor, against info: ValueInfo) throws {
        guard t.dtype == info.dtype else { throw EngineError("input '\(info.name)' is \(t.dtype), expected \(info.dtype) (\(info))") }
        guard t.shape.count == info.shape.count, zip(t.shape, info.shape).allSatisfy({ actual, expected in expected.fixedValue.map { $0 == actual } ?? true }) else {
            throw EngineError("input '\(info.name)' has shape \(t.shape), expected \(info.shape.map(\.description))")
        }
    }

    private func run(_ g: ModelGraph, name: String, _ inputs: [TypedTensor], depth: Int) throws -> [TypedTensor] {
        guard depth <= GraphLimits.maxCallDepth else { throw EngineError("functions nest more than \(GraphLimits.maxCallDepth) deep") }
        var values: [String: TypedTensor] = [:]
        for (info, t) in zip(g.inputs, inputs) { values[info.name] = t }
        for c in g.constants { values[c.name] = constants[c.name] }
        for node in g.nodes {
            let ins = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let outs: [TypedTensor]
            do {
                outs = try execute(node, ins, step: steps[name]?[node.name], depth: depth)
            } catch let e as EngineError where !e.message.hasPrefix("node '") {
                throw EngineError("node '\(node.name)' (\(node.op.rawValue))\(name.isEmpty ? "" : " in function '\(name)'"): \(e.message)")
            }
            for (info, t) in zip(node.outputs, outs) { values[info.name] = t }
        }
        return try g.outputs.map { o in
            guard let v = values[o.name] else { throw EngineError("output '\(o.name)' was not computed") }
            return v
        }
    }

    private func execute(_ node: Node, _ ins: [TypedTensor?], step: Step?, depth: Int) throws -> [TypedTensor] {
        let present = ins.compactMap { $0 }
        guard present.count == ins.filter({ $0 != nil }).count, let x = present.first ?? nil as TypedTensor? else {
            throw EngineError("an input was not computed")
        }
        if let step { return [try runFormat1(node, step, ins, x)] }
        func float(_ key: String, _ def: Double) -> Float { Float(node.float(key) ?? def) }
        switch node.op {
        case .gather:
            return [try TypedIndexing.gather(x, present[1], axis: node.int("axis") ?? 0, batchDims: node.int("batch_dims") ?? 0)]
        case .gatherND:
            return [try TypedIndexing.gatherND(x, present[1], batchDims: node.int("batch_dims") ?? 0)]
        case .scatterND:
            return [try TypedIndexing.scatterND(x, present[1], shape: present[2].ints)]
        case .topK:
            guard present[1].count == 1 else { throw EngineError("k must be a scalar") }
            return try TypedSequences.topK(x, k: present[1].ints[0])
        case .argMax, .argMin:
            guard x.shape.count > 0 else { throw EngineError("needs an input of rank ≥ 1") }
            let axis = node.int("axis") ?? 0
            guard (-x.shape.count..<x.shape.count).contains(axis), x.shape[axis < 0 ? axis + x.shape.count : axis] > 0 else {
                throw EngineError("axis \(axis) is out of range or empty for shape \(x.shape)")
            }
            return [TypedSequences.argExtreme(x, axis: axis, max: node.op == .argMax, outputType: DType(name: node.string("output_type") ?? "int64") ?? .int64)]
        case .where: return [TypedSequences.whereTrue(x)]
        case .select: return [try TypedElementwise.select(x, present[1], present[2])]
        case .compare:
            return [try TypedElementwise.compare(CompareFunction(rawValue: node.string("function") ?? "") ?? .equal, x, present[1])]
        case .logical:
            return [try TypedElementwise.logical(LogicalFunction(rawValue: node.string("function") ?? "") ?? .and, present)]
        case .bitwise:
            return [try TypedElementwise.bitwise(BitwiseFunction(rawValue: node.string("function") ?? "") ?? .and, x, present[1])]
        case .bitcast: return [try TypedElementwise.bitcast(x, to: DType(name: node.string("to") ?? "") ?? .float32)]
        case .range: return [try TypedSequences.range(x, present[1], present[2])]
        case .fill: return [try TypedSequences.fill(x.ints, present[1])]
        case .tile:
            let m = present[1].ints
            guard m.count == x.shape.count, m.allSatisfy({ $0 >= 0 }) else { throw EngineError("multiples \(m) must hold \(x.shape.count) values ≥ 0") }
            _ = try TypedIndexing.checkedCount(zip(x.shape, m).map { $0 * $1 }, "tile output")
            let (shape, idx) = LayoutIndex.tile(x.shape, m)
            return [TypedTensor(shape: shape, storage: x.storage.pick(idx))]
        case .broadcastTo:
            let target = present[1].ints
            _ = try TypedIndexing.checkedCount(target, "broadcast_to output")
            let (shape, _) = try TypedElementwise.broadcast([x.shape, target])
            guard shape == target else { throw EngineError("shape \(x.shape) cannot be broadcast to \(target)") }
            return [TypedTensor(shape: target, storage: x.storage.pick(LayoutIndex.broadcast(x.shape, to: target)))]
        case .expandDims:
            var shape = x.shape
            let a = node.int("axis") ?? 0
            shape.insert(1, at: a < 0 ? a + x.shape.count + 1 : a)
            return [TypedTensor(shape: shape, storage: x.storage)]
        case .squeeze:
            let r = x.shape.count
            let axes = Set((node.ints("axes") ?? []).map { $0 < 0 ? $0 + r : $0 })
            for a in axes where x.shape[a] != 1 { throw EngineError("cannot squeeze axis \(a) of size \(x.shape[a])") }
            let shape = x.shape.enumerated().filter { axes.isEmpty ? $0.element != 1 : !axes.contains($0.offset) }.map(\.element)
            return [TypedTensor(shape: shape, storage: x.storage)]
        case .stack:
            let r = x.shape.count, a0 = node.int("axis") ?? 0, a = a0 < 0 ? a0 + r + 1 : a0
            guard present.allSatisfy({ $0.shape == x.shape && $0.dtype == x.dtype }) else { throw EngineError("stacked values differ in shape or type") }
            let expanded = present.map { var s = $0.shape; s.insert(1, at: a); return s }
            let (shape, idx) = LayoutIndex.concat(expanded, axis: a)
            return [TypedTensor(shape: shape, storage: TypedTensor.Storage.joined(present.map(\.storage)).pick(idx))]
        case .unstack:
            let a0 = node.int("axis") ?? 0, a = a0 < 0 ? a0 + x.shape.count : a0
            guard x.shape[a] == node.outputs.count else { throw EngineError("axis \(a) has size \(x.shape[a]), the node has \(node.outputs.count) outputs") }
            return (0..<x.shape[a]).map { i in
                var b = [Int](repeating: 0, count: x.shape.count), e = x.shape
                b[a] = i; e[a] = i + 1
                let (_, idx) = LayoutIndex.slice(x.shape, begins: b, ends: e, strides: Array(repeating: 1, count: x.shape.count))
                var shape = x.shape
                shape.remove(at: a)
                return TypedTensor(shape: shape, storage: x.storage.pick(idx))
            }
        case .split:
            let a0 = node.int("axis") ?? 0, a = a0 < 0 ? a0 + x.shape.count : a0
            var sizes = node.ints("sizes") ?? []
            if let i = sizes.firstIndex(of: -1) { sizes[i] = x.shape[a] - sizes.filter { $0 >= 0 }.reduce(0, +) }
            guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == x.shape[a] else { throw EngineError("sizes \(node.ints("sizes") ?? []) do not add up to \(x.shape[a])") }
            var start = 0
            return sizes.map { n in
                var b = [Int](repeating: 0, count: x.shape.count), e = x.shape
                b[a] = start; e[a] = start + n
                start += n
                let (shape, idx) = LayoutIndex.slice(x.shape, begins: b, ends: e, strides: Array(repeating: 1, count: x.shape.count))
                return TypedTensor(shape: shape, storage: x.storage.pick(idx))
            }
        case .reverse:
            let r = x.shape.count
            return [TypedTensor(shape: x.shape, storage: x.storage.pick(LayoutIndex.reverse(x.shape, Set((node.ints("axes") ?? []).map { $0 < 0 ? $0 + r : $0 }))))]
        case .cumsum:
            return [try TypedSequences.cumsum(x, axis: node.int("axis") ?? 0, exclusive: node.bool("exclusive") ?? false, reverse: node.bool("reverse") ?? false)]
        case .oneHot:
            return [try TypedIndexing.oneHot(x, depth: node.int("depth") ?? 0, on: node.float("on_value") ?? 1, off: node.float("off_value") ?? 0,
                                             axis: node.int("axis") ?? -1, dtype: DType(name: node.string("dtype") ?? "float32") ?? .float32)]
        case .shape:
            let s = x.shape
            return [node.string("out_type") == "int64" ? TypedTensor(shape: [s.count], int64: s.map { Int64($0) }) : TypedTensor(shape: [s.count], int32: s.map { Int32($0) })]
        case .size:
            return [node.string("out_type") == "int64" ? TypedTensor(shape: [], int64: [Int64(x.count)]) : TypedTensor(shape: [], int32: [Int32(x.count)])]
        case .nonMaxSuppression:
            return try DetectionKernels.nonMaxSuppression(x, present[1], maxOutput: node.int("max_output_size") ?? 0, iouThreshold: float("iou_threshold", 0.5),
                                                          scoreThreshold: float("score_threshold", -Double.infinity), softSigma: float("soft_nms_sigma", 0),
                                                          pad: node.bool("pad_to_max_output_size") ?? false)
        case .combinedNonMaxSuppression:
            return try DetectionKernels.combined(x, present[1], maxPerClass: node.int("max_output_size_per_class") ?? 0, maxTotal: node.int("max_total_size") ?? 0,
                                                 iouThreshold: float("iou_threshold", 0.5), scoreThreshold: float("score_threshold", -Double.infinity),
                                                 padPerClass: node.bool("pad_per_class") ?? false, clip: node.bool("clip_boxes") ?? true)
        case .cropAndResize:
            return [try DetectionKernels.cropAndResize(x, present[1], present[2], cropSize: node.ints("crop_size") ?? [1, 1],
                                                       nearest: node.string("method") == "nearest", extrapolation: float("extrapolation_value", 0))]
        case .while:
            let cond = library[node.string("cond") ?? ""]!, body = library[node.string("body") ?? ""]!
            let limit = node.int("max_iterations") ?? 0, stops = node.string("on_limit") == "stop"
            var carried = present, iterations = 0
            while try truth(try run(cond, name: node.string("cond")!, carried, depth: depth + 1)[0]) {
                if iterations == limit {
                    if stops { break }
                    throw EngineError("the loop ran \(limit) iterations, its bound, and would go on")
                }
                carried = try run(body, name: node.string("body")!, carried, depth: depth + 1)
                iterations += 1
            }
            return carried
        case .if:
            let branch = try truth(x) ? node.string("then_branch")! : node.string("else_branch")!
            return try run(library[branch]!, name: branch, Array(present.dropFirst()), depth: depth + 1)
        default:
            throw EngineError("no kernel")
        }
    }

    private func truth(_ t: TypedTensor) throws -> Bool {
        guard t.count == 1 else { throw EngineError("a condition must be a single value, it has shape \(t.shape)") }
        return t.doubles[0] != 0
    }

    /// A format 1 op: float32 inputs run the classifier kernels; other types run the typed layout and
    /// elementwise kernels (`cast` always does, as integers stay integers).
    private func runFormat1(_ node: Node, _ step: Step, _ ins: [TypedTensor?], _ x: TypedTensor) throws -> TypedTensor {
        let present = ins.compactMap { $0 }
        if node.op == .cast { return try TypedElementwise.cast(x, to: DType(name: node.string("to") ?? "") ?? .float32) }
        if present.allSatisfy({ $0.dtype == .float32 }) {
            let outShape = try ShapeInference.outputShape(of: node, inputs: present.map { $0.shape.map(Dim.fixed) }).map { $0.fixedValue ?? 0 }
            let count = try TypedIndexing.checkedCount(outShape, "the output")
            let buffers = ins.map { t -> Buffer? in
                guard let t, case .float32(let v) = t.storage else { return nil }
                let b = Buffer(capacity: v.count)
                v.withUnsafeBufferPointer { _ = b.mutable(v.count).update(fromContentsOf: $0) }
                return b
            }
            let views = zip(buffers, ins).map { b, t in b.map { $0.view(t!.shape) } }
            let out = Buffer(capacity: count)
            if !FastKernels.run(step, views, out.mutable(count), outShape, scratch) { Model.execute(step, views, out.mutable(count), outShape) }
            return TypedTensor(shape: outShape, floats: Array(out.mutable(count)))
        }
        let r = x.shape.count
        switch node.op {
        case .binary:
            return try TypedElementwise.binary(BinaryFunction(rawValue: node.string("function") ?? "") ?? .add, x, present[1])
        case .unary: return try TypedElementwise.unaryInteger(node.string("function") ?? "", x)
        case .clamp:
            let lo = node.float("min") ?? -.infinity, hi = node.float("max") ?? .infinity
            let clamped = x.doubles.map { Float(Swift.min(Swift.max($0, lo), hi)) }
            return try TypedElementwise.cast(TypedTensor(shape: x.shape, floats: clamped), to: x.dtype)
        case .reshape:
            return TypedTensor(shape: try TypedIndexing.reshape(x.shape, to: node.ints("shape") ?? []), storage: x.storage)
        case .transpose:
            let (shape, idx) = LayoutIndex.transpose(x.shape, node.ints("perm") ?? [])
            return TypedTensor(shape: shape, storage: x.storage.pick(idx))
        case .slice:
            let b = node.ints("begins") ?? [], e = node.ints("ends") ?? [], s = node.ints("strides") ?? Array(repeating: 1, count: r)
            let (shape, idx) = LayoutIndex.slice(x.shape, begins: b, ends: e, strides: s)
            return TypedTensor(shape: shape, storage: x.storage.pick(idx))
        case .pad:
            let (shape, idx) = LayoutIndex.pad(x.shape, node.ints("pads") ?? [], mode: node.string("mode") ?? "constant")
            return TypedTensor(shape: shape, storage: x.storage.pick(idx, fill: node.float("value") ?? 0))
        case .concat:
            let a0 = node.int("axis") ?? 0, a = a0 < 0 ? a0 + r : a0
            let (shape, idx) = LayoutIndex.concat(present.map(\.shape), axis: a)
            return TypedTensor(shape: shape, storage: TypedTensor.Storage.joined(present.map(\.storage)).pick(idx))
        case .reduce:
            return try TypedSequences.reduceIntegers(x, axes: node.ints("axes") ?? [], ReduceFunction(rawValue: node.string("function") ?? "") ?? .sum,
                                                     keepDims: node.bool("keepdims") ?? false)
        default:
            throw EngineError("takes float32 values, got \(present.map(\.dtype))")
        }
    }
}
