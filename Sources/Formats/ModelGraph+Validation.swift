extension ModelGraph {
    /// Checks the structural rules of docs/FORMAT.md §4.1: unique names, topological order, known
    /// inputs, attribute schemas, and that outputs exist. Collects every problem, then throws one error
    /// listing them all, so a bad graph is fixed in one pass.
    ///
    /// Then checks every number against `GraphLimits` (its own error codes, first offender only). Shapes are
    /// inferred by `checkShapes()`, which `SkiffManifest.validate()` runs next.
    public func validate() throws {
        var problems: [String] = []
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
            if node.outputs.count != schema.outputs {
                problems.append("\(at) has \(node.outputs.count) outputs, expected \(schema.outputs)")
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
        if outputs.isEmpty { problems.append("the graph has no outputs") }
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
        var shapes: [String: [Dim]] = [:]
        for v in inputs { shapes[v.name] = v.shape }
        for c in constants { shapes[c.name] = c.shape }
        for node in nodes {
            let ins = node.inputs.filter { !$0.isEmpty }.map { shapes[$0] ?? [] }
            let inferred = try ShapeInference.outputShape(of: node, inputs: ins)
            let recorded = node.outputs[0].shape
            let compatible = inferred.count == recorded.count && zip(inferred, recorded).allSatisfy { a, b in
                a == b || a.fixedValue == nil || b.fixedValue == nil
            }
            guard compatible else {
                throw FormatsError(.shapeMismatch, "node '\(node.name)' (\(node.op.rawValue)) produces shape \(inferred.map(\.description)), but the model records \(recorded.map(\.description))")
            }
            shapes[node.outputs[0].name] = recorded.contains(where: { $0.fixedValue == nil }) ? inferred : recorded
        }
    }
}
