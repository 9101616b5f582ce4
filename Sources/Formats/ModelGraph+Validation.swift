extension ModelGraph {
    /// Checks the structural rules of docs/FORMAT.md §4.1: unique names, topological order, known
    /// inputs, attribute schemas, and that outputs exist. Collects every problem, then throws one error
    /// listing them all, so a bad graph is fixed in one pass.
    ///
    /// Then checks every number against `GraphLimits` (its own error codes, first offender only). Shapes are
    /// inferred by `checkShapes()`, which `SkiffManifest.validate()` runs next.
    public func validate() throws {
        try validateGraph(library: functions ?? [:], isFunction: false)
        try validateLibrary()
    }

    func validateGraph(library: [String: ModelGraph], isFunction: Bool) throws {
        var problems: [String] = []
        if isFunction, functions != nil { problems.append("a function has its own function library (only the top-level graph has one)") }
        var defined: Set<String> = []
        func define(_ v: ValueInfo, _ what: String) {
            if v.name.isEmpty { problems.append("\(what) has an empty name") }
            else if !defined.insert(v.name).inserted { problems.append("value name '\(v.name)' is defined twice (again by \(what))") }
        }
        for v in inputs { define(v, "graph input") }
        for v in constants {
            define(v, "constant")
            if v.shape.contains(where: { $0.fixedValue == nil }) {
                problems.append("constant '\(v.name)' has a symbolic dimension in \(v.shape); constants need fixed shapes")
            }
        }
        var nodeNames: Set<String> = []
        for node in nodes {
            let at = "node '\(node.name)' (\(node.op.rawValue))"
            if !nodeNames.insert(node.name).inserted { problems.append("node name '\(node.name)' is used twice") }
            let schema = node.op.schema
            if node.inputs.count < schema.minInputs || node.inputs.count > schema.maxInputs {
                let expected = schema.maxInputs == Int.max ? "at least \(schema.minInputs)"
                    : schema.minInputs == schema.maxInputs ? "\(schema.minInputs)" : "\(schema.minInputs)–\(schema.maxInputs)"
                problems.append("\(at) has \(node.inputs.count) inputs, expected \(expected)")
            }
            for (i, input) in node.inputs.enumerated() {
                if input.isEmpty {
                    if i < schema.minInputs { problems.append("\(at) input \(i) is required but empty") }
                } else if !defined.contains(input) {
                    problems.append("\(at) input \(i) '\(input)' is not a graph input, constant or output of an earlier node")
                }
            }
            if !schema.outputs.contains(node.outputs.count) {
                let expected = schema.outputs.count == 1 ? "\(schema.outputs.lowerBound)" : "\(schema.outputs.lowerBound)–\(schema.outputs.upperBound)"
                problems.append("\(at) has \(node.outputs.count) outputs, expected \(expected)")
            }
            for (key, value) in node.attributes.sorted(by: { $0.key < $1.key }) {
                guard let spec = schema.spec(key) else {
                    problems.append("\(at) has attribute '\(key)', which \(node.op.rawValue) does not take (it takes: \(schema.attributes.map(\.name).joined(separator: ", ")))")
                    continue
                }
                if value.kind != spec.kind {
                    problems.append("\(at) attribute '\(key)' is \(value.kind.rawValue), expected \(spec.kind.rawValue)")
                } else if let allowed = spec.allowed, case .string(let s) = value, !allowed.contains(s) {
                    problems.append("\(at) attribute '\(key)' is '\(s)', expected one of: \(allowed.joined(separator: ", "))")
                }
            }
            for spec in schema.attributes where spec.required && node.attributes[spec.name] == nil {
                problems.append("\(at) is missing required attribute '\(spec.name)' (\(spec.kind.rawValue))")
            }
            for v in node.outputs { define(v, at) }
        }
        var outputNames: Set<String> = []
        for v in outputs {
            if !defined.contains(v.name) { problems.append("graph output '\(v.name)' is not produced by any node or input") }
            if !outputNames.insert(v.name).inserted { problems.append("graph output '\(v.name)' is listed twice") }
        }
        if outputs.isEmpty, !isFunction { problems.append("the graph has no outputs") }
        guard problems.isEmpty else {
            let head = problems.count == 1 ? "invalid graph: " : "invalid graph (\(problems.count) problems): "
            throw FormatsError(.graphInvalid, head + problems.joined(separator: "; "))
        }
        for v in inputs { try GraphLimits.check(v, "graph input") }
        for v in constants { try GraphLimits.check(v, "constant") }
        for node in nodes {
            try GraphLimits.check(node)
            for v in node.outputs { try GraphLimits.check(v, "node '\(node.name)' output") }
        }
        for v in outputs { try GraphLimits.check(v, "graph output") }
    }

    /// Re-derives every node's output shape from its inputs' (batch symbolic) with `ShapeInference` and
    /// compares it with the shape the graph records: what the engine checks at load, run for every file
    /// opened, so a file `inspect` accepts is one the engine loads. Call after `validate()`.
    /// - Throws: `FormatsError.graphInvalid` when a node cannot take its inputs' shapes,
    ///   `FormatsError.shapeMismatch` when the recorded shape differs from the inferred one.
    public func checkShapes() throws {
        for graph in allGraphs { try graph.checkTypes(library: functions ?? [:]) }
    }

    /// `checkShapes()` for one graph of the file (the top level or a function of `library`): every output of
    /// every node, its element type and shape.
    func checkTypes(library: [String: ModelGraph]) throws {
        var types: [String: TypedShape] = [:]
        for v in inputs { types[v.name] = TypedShape(v.dtype, v.shape) }
        for c in constants { types[c.name] = TypedShape(c.dtype == .float16 || c.dtype == .int8q ? .float32 : c.dtype, c.shape) }
        for node in nodes {
            let ins = node.inputs.filter { !$0.isEmpty }.map { types[$0] ?? TypedShape(.float32, []) }
            let inferred = try ShapeInference.outputTypes(of: node, inputs: ins, library: library)
            guard inferred.count == node.outputs.count else {
                throw FormatsError(.graphInvalid, "node '\(node.name)' (\(node.op.rawValue)) has \(node.outputs.count) outputs, but its inputs give \(inferred.count)")
            }
            for (i, (t, recorded)) in zip(inferred, node.outputs).enumerated() {
                let compatible = t.shape.count == recorded.shape.count && zip(t.shape, recorded.shape).allSatisfy { a, b in
                    a == b || a.fixedValue == nil || b.fixedValue == nil
                }
                let which = node.outputs.count == 1 ? "" : " output \(i)"
                guard compatible else {
                    throw FormatsError(.shapeMismatch, "node '\(node.name)' (\(node.op.rawValue))\(which) produces shape \(t.shape.map(\.description)), but the model records \(recorded.shape.map(\.description))")
                }
                guard t.dtype == recorded.dtype else {
                    throw FormatsError(.typeMismatch, "node '\(node.name)' (\(node.op.rawValue))\(which) produces \(t.dtype), but the model records \(recorded.dtype)")
                }
                types[recorded.name] = TypedShape(t.dtype, recorded.shape.contains(where: { $0.fixedValue == nil }) ? t.shape : recorded.shape)
            }
        }
        for o in outputs {
            if let t = types[o.name], t.dtype != o.dtype {
                throw FormatsError(.typeMismatch, "graph output '\(o.name)' is \(t.dtype), but the graph records \(o.dtype)")
            }
        }
    }

    /// The function library's rules: size, every `while`/`if` names functions that exist with the right
    /// numbers of inputs and outputs, and no function calls itself, directly or through others.
    func validateLibrary() throws {
        let library = functions ?? [:]
        guard library.count <= GraphLimits.maxFunctions else {
            throw FormatsError(.functionInvalid, "the graph has \(library.count) functions, at most \(GraphLimits.maxFunctions) are allowed")
        }
        for (name, f) in library.sorted(by: { $0.key < $1.key }) {
            do { try f.validateGraph(library: library, isFunction: true) } catch let e as FormatsError {
                throw FormatsError(e.code, "function '\(name)': \(e.message)")
            }
        }
        // Calls: graph → functions it names. Checked for arity here, for cycles below.
        var calls: [String: [String]] = [:]
        for (owner, graph) in [("", self)] + library.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) {
            for node in graph.nodes where node.op == .while || node.op == .if {
                let at = "node '\(node.name)' (\(node.op.rawValue))" + (owner.isEmpty ? "" : " in function '\(owner)'")
                func callee(_ key: String, inputs: Int, outputs: Int?) throws {
                    let name = node.string(key) ?? ""
                    guard let f = library[name] else {
                        throw FormatsError(.functionInvalid, "\(at) names \(key) '\(name)', which is not in the function library (it has: \(library.keys.sorted().joined(separator: ", ")))")
                    }
                    guard f.inputs.count == inputs, outputs.map({ f.outputs.count == $0 }) ?? true else {
                        throw FormatsError(.functionInvalid, "\(at): function '\(name)' (its \(key)) takes \(f.inputs.count) inputs and gives \(f.outputs.count) outputs; expected \(inputs) inputs\(outputs.map { " and \($0) outputs" } ?? "")")
                    }
                    calls[owner, default: []].append(name)
                }
                if node.op == .while {
                    guard node.inputs.count == node.outputs.count else {
                        throw FormatsError(.functionInvalid, "\(at) has \(node.inputs.count) loop inputs but \(node.outputs.count) outputs; a loop gives back every value it carries")
                    }
                    try callee("cond", inputs: node.inputs.count, outputs: 1)
                    try callee("body", inputs: node.inputs.count, outputs: node.inputs.count)
                } else {
                    try callee("then_branch", inputs: node.inputs.count - 1, outputs: node.outputs.count)
                    try callee("else_branch", inputs: node.inputs.count - 1, outputs: node.outputs.count)
                }
            }
        }
        // Depth-first over the call graph, iteratively: a function reached again while on the path is recursion.
        var state: [String: Int] = [:]  // 1 on the path, 2 done
        var stack: [(String, Int)] = [("", 0)]
        while let (f, i) = stack.popLast() {
            let callees = calls[f] ?? []
            if i == 0 { state[f] = 1 }
            if stack.count >= GraphLimits.maxCallDepth {
                throw FormatsError(.functionInvalid, "functions call each other more than \(GraphLimits.maxCallDepth) deep (at '\(f)')")
            }
            if i < callees.count {
                stack.append((f, i + 1))
                let g = callees[i]
                if state[g] == 1 { throw FormatsError(.functionInvalid, "function '\(g)' calls itself (through '\(f.isEmpty ? "the main graph" : f)'); recursion is not allowed") }
                if state[g] == nil { stack.append((g, 0)) }
            } else {
                state[f] = 2
            }
        }
    }
}
