import Formats

/// The TensorFlow ops that lower to format 2.0 IR (typed values, several outputs, run-time shapes) and TF2
/// functional control flow (`While`/`StatelessWhile`, `If`/`StatelessIf`): each loop body, condition and
/// branch becomes a function of the graph's library, lowered by a nested `Lowering` of its own.
extension Lowering {
    /// TensorFlow `DataType` numbers of the value types the IR has.
    static func dtype(_ tf: Int) -> DType? { [1: .float32, 3: .int32, 9: .int64, 4: .uint8, 10: .bool][tf] }

    static let typedSupported: Set<String> = [
        "GatherV2", "GatherNd", "ScatterNd", "TopKV2", "ArgMax", "ArgMin", "Where", "Select", "SelectV2",
        "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr", "LogicalNot",
        "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Bitcast", "Range", "Fill", "Tile", "BroadcastTo", "Unpack", "Split", "SplitV",
        "ReverseV2", "Cumsum", "OneHot", "Size", "FloorDiv", "FloorMod", "Abs",
        "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5", "CombinedNonMaxSuppression",
        "CropAndResize", "While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase",
    ]

    /// Lowers `n` if it is one of the ops above (or a typed form of a format 1 op: Cast, Pack, ExpandDims,
    /// Squeeze on values the classifier lowering cannot take); nil leaves it to the classifier lowering.
    mutating func lowerTyped(_ n: TFNode, _ ins: [Value], _ name: String) throws -> [Value]? {
        func x(_ i: Int) throws -> String {
            guard i < ins.count else { throw fail("\(n.op) '\(n.name)' has \(ins.count) inputs, expected more than \(i)") }
            return try ir(ins[i], name + "/in\(i)")
        }
        func constInt(_ i: Int, _ what: String) throws -> [Int] {
            guard i < ins.count, case .const(let t) = ins[i] else { throw fail("\(n.op) '\(n.name)' has a \(what) that is not a constant") }
            return try t.values.map { try whole($0) }
        }
        func constFloat(_ i: Int, _ what: String) throws -> Double {
            guard i < ins.count, case .const(let t) = ins[i], let v = t.values.first else { throw fail("\(n.op) '\(n.name)' has a \(what) that is not a constant") }
            return v
        }
        func one(_ op: OpKind, _ inputs: [String], _ attrs: [String: Attribute] = [:]) throws -> [Value] {
            [.ir(try b.add(op, name, inputs, attrs))]
        }
        func many(_ op: OpKind, _ inputs: [String], _ attrs: [String: Attribute], _ count: Int) throws -> [Value] {
            try b.add(op, name, inputs, attrs, outputs: count, library: library).map { .ir($0) }
        }
        func typeName(_ key: String, _ def: Int) -> String { (Self.dtype(n.attrs[key].flatMap { if case .type(let t) = $0 { t } else { nil } } ?? def) ?? .int64).name }
        let compare = ["Equal": "equal", "NotEqual": "not_equal", "Less": "less", "LessEqual": "less_equal", "Greater": "greater", "GreaterEqual": "greater_equal"]
        switch n.op {
        case "GatherV2":
            return try one(.gather, [x(0), x(1)], ["axis": .int(try constInt(2, "axis").first ?? 0), "batch_dims": .int(n.attrs["batch_dims"]?.int ?? 0)])
        case "GatherNd": return try one(.gatherND, [x(0), x(1)])
        case "ScatterNd": return try one(.scatterND, [x(0), x(1), x(2)])
        case "TopKV2": return try many(.topK, [x(0), x(1)], ["sorted": .bool(n.attrs["sorted"]?.bool ?? true)], 2)
        case "ArgMax", "ArgMin":
            return try one(n.op == "ArgMax" ? .argMax : .argMin, [x(0)], ["axis": .int(try constInt(1, "axis").first ?? 0),
                                                                          "output_type": .string(typeName("output_type", 9))])
        case "Where": return try one(.where, [x(0)])
        case "Select", "SelectV2": return try one(.select, [x(0), x(1), x(2)])
        case _ where compare[n.op] != nil: return try one(.compare, [x(0), x(1)], ["function": .string(compare[n.op]!)])
        case "LogicalAnd", "LogicalOr": return try one(.logical, [x(0), x(1)], ["function": .string(n.op == "LogicalAnd" ? "and" : "or")])
        case "LogicalNot": return try one(.logical, [x(0)], ["function": .string("not")])
        case "BitwiseAnd", "BitwiseOr", "BitwiseXor":
            return try one(.bitwise, [x(0), x(1)], ["function": .string(String(n.op.dropFirst(7)).lowercased())])
        case "Bitcast": return try one(.bitcast, [x(0)], ["to": .string(typeName("type", 1))])
        case "Range": return try one(.range, [x(0), x(1), x(2)])
        case "Fill": return try one(.fill, [x(0), x(1)])
        case "Tile": return try one(.tile, [x(0), x(1)])
        case "BroadcastTo": return try one(.broadcastTo, [x(0), x(1)])
        case "Pack": return try one(.stack, try ins.indices.map { try x($0) }, ["axis": .int(n.attrs["axis"]?.int ?? 0)])
        case "Unpack": return try many(.unstack, [x(0)], ["axis": .int(n.attrs["axis"]?.int ?? 0)], n.attrs["num"]?.int ?? 1)
        case "Split":
            let axis = try constInt(0, "split dimension").first ?? 0, count = n.attrs["num_split"]?.int ?? 1
            let v = try x(1), shape = b.shape(of: v)
            let a = axis < 0 ? axis + shape.count : axis
            guard a >= 0, a < shape.count, let size = shape[a].fixedValue, count > 0, size % count == 0 else {
                throw fail("Split '\(n.name)' splits an axis that is not a fixed multiple of \(count)")
            }
            return try many(.split, [v], ["axis": .int(axis), "sizes": .ints(Array(repeating: size / count, count: count))], count)
        case "SplitV":
            let sizes = try constInt(1, "size_splits"), axis = try constInt(2, "axis").first ?? 0
            return try many(.split, [x(0)], ["axis": .int(axis), "sizes": .ints(sizes)], sizes.count)
        case "ReverseV2": return try one(.reverse, [x(0)], ["axes": .ints(try constInt(1, "axis"))])
        case "Cumsum":
            return try one(.cumsum, [x(0)], ["axis": .int(try constInt(1, "axis").first ?? 0), "exclusive": .bool(n.attrs["exclusive"]?.bool ?? false),
                                             "reverse": .bool(n.attrs["reverse"]?.bool ?? false)])
        case "OneHot":
            return try one(.oneHot, [x(0)], ["depth": .int(try constInt(1, "depth").first ?? 0), "on_value": .float(try constFloat(2, "on_value")),
                                             "off_value": .float(try constFloat(3, "off_value")), "axis": .int(n.attrs["axis"]?.int ?? -1),
                                             "dtype": .string(typeName("T", 1))])
        case "Size": return try one(.size, [x(0)], ["out_type": .string(typeName("out_type", 3))])
        case "FloorDiv", "FloorMod": return try one(.binary, [x(0), x(1)], ["function": .string(n.op == "FloorDiv" ? "floor_div" : "floor_mod")])
        case "Abs": return try one(.unary, [x(0)], ["function": .string("abs")])
        case "Cast":
            guard case .ir(let v)? = ins.first, let to = Self.dtype(n.attrs["DstT"].flatMap { if case .type(let t) = $0 { t } else { nil } } ?? 1) else { return nil }
            return b.type(of: v)?.dtype == to ? [ins[0]] : try one(.cast, [v], ["to": .string(to.name)])
        case "ExpandDims", "Squeeze":
            // The classifier lowering reshapes float32 values with a batch axis; anything else is a real op.
            guard case .ir(let v)? = ins.first, let t = b.type(of: v) else { return nil }
            let batchShaped = t.dtype == .float32 && !t.shape.isEmpty && t.shape.dropFirst().allSatisfy { $0.fixedValue != nil }
            if n.op == "ExpandDims" {
                let axis = try constInt(1, "axis").first ?? 0
                if batchShaped, (axis < 0 ? axis + t.shape.count + 1 : axis) >= 1 { return nil }
                return try one(.expandDims, [v], ["axis": .int(axis)])
            }
            if batchShaped, t.shape[0] != .fixed(1) || !(n.attrs["squeeze_dims"]?.ints ?? []).isEmpty { return nil }
            return try one(.squeeze, [v], n.attrs["squeeze_dims"]?.ints.map { ["axes": .ints($0)] } ?? [:])
        case "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5":
            var attrs: [String: Attribute] = ["max_output_size": .int(try constInt(2, "max_output_size").first ?? 0),
                                              "iou_threshold": .float(try constFloat(3, "iou_threshold"))]
            if n.op != "NonMaxSuppressionV2" { attrs["score_threshold"] = .float(try constFloat(4, "score_threshold")) }
            if n.op == "NonMaxSuppressionV5" { attrs["soft_nms_sigma"] = .float(try constFloat(5, "soft_nms_sigma")) }
            if n.op == "NonMaxSuppressionV4" || n.op == "NonMaxSuppressionV5" { attrs["pad_to_max_output_size"] = .bool(n.attrs["pad_to_max_output_size"]?.bool ?? false) }
            let outs = try many(.nonMaxSuppression, [x(0), x(1)], attrs, 3)
            // TF's outputs: V2/V3 the indices; V4 indices and valid count; V5 indices, scores, valid count.
            switch n.op {
            case "NonMaxSuppressionV4": return [outs[0], outs[2]]
            case "NonMaxSuppressionV5": return outs
            default: return [outs[0]]
            }
        case "CombinedNonMaxSuppression":
            return try many(.combinedNonMaxSuppression, [x(0), x(1)], [
                "max_output_size_per_class": .int(try constInt(2, "max_output_size_per_class").first ?? 0),
                "max_total_size": .int(try constInt(3, "max_total_size").first ?? 0), "iou_threshold": .float(try constFloat(4, "iou_threshold")),
                "score_threshold": .float(try constFloat(5, "score_threshold")), "pad_per_class": .bool(n.attrs["pad_per_class"]?.bool ?? false),
                "clip_boxes": .bool(n.attrs["clip_boxes"]?.bool ?? true)], 4)
        case "CropAndResize":
            return try one(.cropAndResize, [x(0), x(1), x(2)], ["crop_size": .ints(try constInt(3, "crop_size")),
                                                                 "method": .string(n.attrs["method"]?.string ?? "bilinear"),
                                                                 "extrapolation_value": .float(n.attrs["extrapolation_value"]?.float ?? 0)])
        case "While", "StatelessWhile":
            guard case .fn(let condName)? = n.attrs["cond"], case .fn(let bodyName)? = n.attrs["body"],
                  let cond = model.functions[condName], let body = model.functions[bodyName] else { throw fail("\(n.op) '\(n.name)' names an unknown function") }
            var ins = ins
            if ins.contains(where: { if case .list = $0 { true } else { false } }) {
                // Lists reserved with an unknown element shape: the body's first write fixes it.
                let types = ins.map { v -> ValueInfo? in if case .ir(let name) = v { b.type(of: name) } else { nil } }
                probeListTypes { probe in
                    var bound: [String: Value] = [:]
                    for (k, arg) in body.inputArgs.enumerated() where k < ins.count {
                        if case .list = ins[k] { bound[arg] = ins[k] } else if let t = types[k] { bound[arg] = .ir(probe.b.input(arg, t.dtype, t.shape)) } else { bound[arg] = ins[k] }
                    }
                    for arg in body.outputArgs { if let r = body.ret[arg] { _ = try? probe.value(ref: r, scope: "", nodes: body.nodes, args: bound, inputs: [:], function: body) } }
                }
                ins = try materialisePendingLists(ins, at: n)
            }
            let carried = try ins.indices.map { try ir(ins[$0], name + "/in\($0)") }
            var types = carried.map { b.type(of: $0)! }
            // Lower the body with the entry types; where it changes a shape, make those dimensions run-time and lower again.
            var bodyGraph = try function(body, types, scope: name)
            for _ in 0..<2 {
                let general = Self.generalised(types, bodyGraph.outputs, name: name)
                if general.map(\.shape) == types.map(\.shape) { break }
                types = general
                bodyGraph = try function(body, types, scope: name)
            }
            let condGraph = try function(cond, types, scope: name)
            let c = register(condName, condGraph), bd = register(bodyName, bodyGraph)
            return try many(.while, carried, ["cond": .string(c), "body": .string(bd), "max_iterations": .int(GraphLimits.maxIterations)], carried.count)
        case "If", "StatelessIf":
            guard case .fn(let thenName)? = n.attrs["then_branch"], case .fn(let elseName)? = n.attrs["else_branch"],
                  let thenFn = model.functions[thenName], let elseFn = model.functions[elseName] else { throw fail("\(n.op) '\(n.name)' names an unknown function") }
            let args = try ins.indices.dropFirst().map { try x($0) }
            let types = args.map { b.type(of: $0)! }
            let t = register(thenName, try function(thenFn, types, scope: name)), e = register(elseName, try function(elseFn, types, scope: name))
            return try many(.if, [try x(0)] + args, ["then_branch": .string(t), "else_branch": .string(e)], thenFn.outputArgs.count)
        case "Case", "StatelessCase":
            return try lowerCase(n, try index(try x(0), name), try ins.indices.dropFirst().map { try x($0) }, name)
        default:
            return nil
        }
    }

    /// `Case(branch_index, args…)` as a chain of `if`s: level j runs branch j when the index is j, else level j+1;
    /// the last level is the last branch, which TensorFlow also runs for an index out of range. Every function of
    /// the chain takes the index first (branches ignore it).
    mutating func lowerCase(_ n: TFNode, _ index: String, _ args: [String], _ name: String) throws -> [Value] {
        guard case .fns(let names)? = n.attrs["branches"], !names.isEmpty else { throw fail("\(n.op) '\(n.name)' has no branches") }
        let branches = try names.map { f in
            guard let fn = model.functions[f] else { throw fail("\(n.op) '\(n.name)' names an unknown function \(f)") }
            guard fn.inputArgs.count == args.count else { throw fail("\(n.op) '\(n.name)' branch \(f) takes \(fn.inputArgs.count) arguments, not \(args.count)") }
            return fn
        }
        let types = [ValueInfo("branch_index", .int32, [])] + args.map { b.type(of: $0)! }
        var lowered: [String] = []
        for fn in branches {
            let g = try subgraph(fn.name, types: types, argNames: ["branch_index"] + fn.inputArgs) { sub, argNames in
                let bound = Dictionary(uniqueKeysWithValues: zip(fn.inputArgs, argNames.dropFirst().map { Value.ir($0) }))
                return try fn.outputArgs.map { arg in
                    guard let r = fn.ret[arg] else { throw sub.fail("function \(fn.name) does not return '\(arg)'") }
                    return try sub.value(ref: r, scope: "", nodes: fn.nodes, args: bound, inputs: [:], function: fn)
                }
            }
            lowered.append(register(fn.name + "/case_branch", g))
        }
        let count = branches[0].outputArgs.count
        var rest = lowered[lowered.count - 1]
        for j in stride(from: branches.count - 2, through: 1, by: -1) {
            let then = lowered[j], otherwise = rest
            let g = try subgraph("\(name)/level\(j)", types: types) { sub, argNames in
                let pred = try sub.b.add(.compare, "is\(j)", [argNames[0], sub.b.constant("case\(j)", dtype: .int32, shape: [], integers: [Int64(j)])],
                                         ["function": .string("equal")])
                return try sub.b.add(.if, "case\(j)", [pred] + argNames, ["then_branch": .string(then), "else_branch": .string(otherwise)],
                                     outputs: count, library: sub.library).map { .ir($0) }
            }
            rest = register("\(name)/level\(j)", g)
        }
        let pred = try b.add(.compare, name + "/is0", [index, b.constant(name + "/case0", dtype: .int32, shape: [], integers: [0])], ["function": .string("equal")])
        return try b.add(.if, name, [pred, index] + args, ["then_branch": .string(lowered[0]), "else_branch": .string(branches.count == 1 ? lowered[0] : rest)],
                         outputs: count, library: library).map { .ir($0) }
    }

    /// Adds a lowered function to the library under its TensorFlow name (or that name with a suffix when the
    /// same function was lowered before for other argument types) and returns the name.
    mutating func register(_ name: String, _ graph: ModelGraph) -> String {
        var key = name, i = 1
        while let existing = library[key], existing != graph { key = "\(name)_\(i)"; i += 1 }
        library[key] = graph
        return key
    }

    /// Lowers `fn` as a function of the library with arguments of `types`.
    mutating func function(_ fn: TFFunction, _ types: [ValueInfo], scope: String) throws -> ModelGraph {
        guard types.count == fn.inputArgs.count else {
            throw fail("function \(fn.name) takes \(fn.inputArgs.count) arguments, \(scope) gives \(types.count)")
        }
        return try subgraph(fn.name, types: types, argNames: fn.inputArgs) { sub, argNames in
            let bound = Dictionary(uniqueKeysWithValues: zip(fn.inputArgs, argNames.map { Value.ir($0) }))
            return try fn.outputArgs.map { arg in
                guard let r = fn.ret[arg] else { throw sub.fail("function \(fn.name) does not return '\(arg)'") }
                return try sub.value(ref: r, scope: "", nodes: fn.nodes, args: bound, inputs: [:], function: fn)
            }
        }
    }

    /// Lowers a function of the library named `what`, with arguments of `types`: `build` gets a nested lowering
    /// and the arguments' value names and returns the outputs. Its constants get names unique in the file (they
    /// share the tensor table) and its weights join this lowering's.
    mutating func subgraph(_ what: String, types: [ValueInfo], argNames: [String]? = nil,
                           _ build: (inout Lowering, [String]) throws -> [Value]) throws -> ModelGraph {
        guard callDepth < Self.maxCallDepth else {
            throw FormatsError(.graphTooDeep, "function \(what) is nested more than \(Self.maxCallDepth) levels deep", file: file)
        }
        var sub = Lowering(model: model, file: file)
        sub.resources = resources
        sub.library = library
        sub.callDepth = callDepth + 1
        sub.tracesImages = tracesImages
        let names = argNames ?? types.indices.map { "arg\($0)" }
        let args = zip(names, types).map { sub.b.input($0, $1.dtype, $1.shape) }
        let values = try build(&sub, args)
        for (op, entry) in sub.unsupported { unsupported[op, default: (0, entry.1)].0 += entry.0 }
        loweredOps += sub.loweredOps
        var outputs: [String] = []
        for (k, v) in values.enumerated() {
            var out = try sub.ir(v, "\(what)/output \(k)")
            // A graph lists each output once and a function's outputs are node values: copy repeats and pass-throughs.
            if outputs.contains(out) || sub.b.inputs.contains(where: { $0.name == out }) {
                out = try sub.b.add(.unary, "output\(k)/copy", [out], ["function": .string("identity")])
            }
            outputs.append(out)
        }
        library.merge(sub.library) { a, _ in a }
        var lowered = sub.b.finish(outputs: outputs)
        let prefix = "\(what)#\(library.count + 1)/"
        lowered.prefixConstants(prefix)
        b.adopt(weights: lowered.weights)
        return lowered.graph
    }
}

extension LoweredModel {
    /// Renames every constant (and its weights) with `prefix`: a function's constants share the file's tensor table.
    mutating func prefixConstants(_ prefix: String) {
        let names = Set(graph.constants.map(\.name))
        graph.constants = graph.constants.map { var c = $0; c.name = prefix + c.name; return c }
        graph.nodes = graph.nodes.map { n in var n = n; n.inputs = n.inputs.map { names.contains($0) ? prefix + $0 : $0 }; return n }
        weights = Dictionary(uniqueKeysWithValues: weights.map { (names.contains($0.key) ? prefix + $0.key : $0.key, $0.value) })
    }
}
