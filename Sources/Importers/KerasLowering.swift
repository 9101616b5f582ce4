import Formats
/// Lowers a parsed Keras model config plus its weights into the IR: walks Sequential and Functional
/// models (nested ones recursively), calls each layer's lowering from `KerasLayerTable`, and resolves
/// references between layer calls, including shared layers and nested models' hidden first node.
struct KerasLowering {
    let builder = GraphBuilder()
    let weights: any KerasWeightSource
    let kerasMajor: Int
    let file: String

    /// Every layer class in the model (recursively) that Skiff cannot lower, as "'Class' (name)".
    static func unsupported(in model: KerasModelConfig) -> [String] {
        model.layers.flatMap { l -> [String] in
            if let nested = l.nested { return unsupported(in: nested) }
            if l.isInput || KerasLayerTable.supports(l) { return [] }
            return ["'\(l.className)' (\(l.name))"]
        }
    }

    func lower(_ model: KerasModelConfig) throws -> LoweredModel {
        let problems = Self.unsupported(in: model)
        guard problems.isEmpty else {
            let lambda = problems.contains { $0.hasPrefix("'Lambda'") || $0.hasPrefix("'TFOpLambda'") }
            throw FormatsError(.graphInvalid,
                "\(problems.count) unsupported layer\(problems.count == 1 ? "" : "s"): \(problems.joined(separator: ", "))"
                + (lambda ? ". Lambda layers hold Python code, which Skiff never runs; rewrite them with built-in layers" : ""),
                file: file)
        }
        var inputs: [String] = []
        for layer in model.layers where layer.isInput && (model.isSequential ? inputs.isEmpty : model.inputs.contains { $0.layer == layer.name }) {
            inputs.append(builder.input(layer.name, .float32, try Self.inputShape(layer, file: file)))
        }
        if !model.isSequential {
            // Inputs in the order the model declares them.
            let order = model.inputs.map(\.layer)
            inputs.sort { (order.firstIndex(of: $0) ?? 0) < (order.firstIndex(of: $1) ?? 0) }
        }
        guard !inputs.isEmpty else {
            throw FormatsError(.graphInvalid, "the model has no input shape: build it with an Input layer or input_shape before saving", file: file)
        }
        var outputs = try lowerModel(model, inputs: inputs, scope: [])
        // Outputs are named after their layers ("probs"), not the last op inside them ("probs/softmax").
        let layerNames = model.isSequential ? [model.layers.last?.name ?? "output"] : model.outputs.map(\.layer)
        outputs = zip(outputs, layerNames).map { builder.rename($0, to: $1) }
        return builder.finish(outputs: outputs)
    }

    static func inputShape(_ layer: KerasLayer, file: String) throws -> [Dim] {
        guard let dims = (layer.config["batch_shape"] ?? layer.config["batch_input_shape"])?.array else {
            throw FormatsError(.graphInvalid, "input layer '\(layer.name)' has no batch_shape / batch_input_shape", file: file)
        }
        return dims.enumerated().map { i, d in
            if let v = d.int { return .fixed(v) }
            return i == 0 ? .batch : .symbol("\(layer.name):\(i)")
        }
    }

    /// Lowers one model given the value names of its inputs; returns its outputs' value names.
    func lowerModel(_ model: KerasModelConfig, inputs: [String], scope: [KerasLayer]) throws -> [String] {
        let prefix = scope.map(\.name).joined(separator: "/")
        if model.isSequential {
            var x = inputs
            for layer in model.layers where !layer.isInput {
                x = try lowerLayer(layer, args: x.map { .value($0) }, scope: scope, prefix: prefix)
            }
            return x
        }
        // Functional: resolve calls in dependency order (config order is not always topological).
        var produced: [String: [[String]]] = [:]  // layer → per call → outputs
        let inputNames = model.inputs.map(\.layer)
        for (name, value) in zip(inputNames, inputs) { produced[name] = [[value]] }
        for layer in model.layers where layer.isInput && produced[layer.name] == nil {
            throw FormatsError(.graphInvalid, "input layer '\(layer.name)' of '\(model.name)' is not one of its declared inputs", file: file)
        }
        let byName = Dictionary(model.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // A nested model referenced with node index == its call count has a hidden first node.
        var maxRef: [String: Int] = [:]
        for l in model.layers { for c in l.calls { for r in c.refs { maxRef[r.layer] = max(maxRef[r.layer] ?? 0, r.node) } } }
        for r in model.outputs { maxRef[r.layer] = max(maxRef[r.layer] ?? 0, r.node) }
        func callIndex(_ r: KerasRef) -> Int {
            guard let l = byName[r.layer], l.nested != nil, let m = maxRef[r.layer] else { return r.node }
            return m >= l.calls.count ? r.node - 1 : r.node
        }
        func resolve(_ r: KerasRef) -> String? {
            guard let calls = produced[r.layer] else { return nil }
            let i = callIndex(r)
            guard i >= 0, i < calls.count, r.tensor < calls[i].count else { return nil }
            return calls[i][r.tensor]
        }
        var pending = model.layers.filter { !$0.isInput }.flatMap { l in l.calls.indices.map { (l, $0) } }
        while !pending.isEmpty {
            var progressed = false
            var rest: [(KerasLayer, Int)] = []
            for (layer, i) in pending {
                let call = layer.calls[i]
                // Calls must run in order per layer (shared layers record them in call order).
                if (produced[layer.name]?.count ?? 0) != i || call.refs.contains(where: { resolve($0) == nil }) {
                    rest.append((layer, i))
                    continue
                }
                let args: [LayerArg] = call.args.map { a in
                    switch a {
                    case .tensor(let r): .value(resolve(r)!)
                    case .tensors(let rs): .values(rs.map { resolve($0)! })
                    case .number(let n): .number(n)
                    case .other: .other
                    }
                }
                let outs = try lowerLayer(layer, args: args, kwargs: call.kwargs, scope: scope, prefix: prefix)
                produced[layer.name, default: []].append(outs)
                progressed = true
            }
            pending = rest
            if !progressed {
                let names = Set(pending.map { $0.0.name }).sorted().map { "'\($0)'" }.joined(separator: ", ")
                throw FormatsError(.graphInvalid, "model '\(model.name)': the inputs of \(names) are never produced (a reference to a missing layer or call)", file: file)
            }
        }
        return try model.outputs.map { r in
            guard let v = resolve(r) else {
                throw FormatsError(.graphInvalid, "model '\(model.name)' output refers to '\(r.layer)' call \(r.node), which is never produced", file: file)
            }
            return v
        }
    }

    func lowerLayer(_ layer: KerasLayer, args: [LayerArg], kwargs: [String: JSONValue] = [:], scope: [KerasLayer], prefix: String) throws -> [String] {
        if let nested = layer.nested {
            let inputs = args.flatMap { a -> [String] in
                switch a {
                case .value(let v): [v]
                case .values(let vs): vs
                default: []
                }
            }
            return try lowerModel(nested, inputs: inputs, scope: scope + [layer])
        }
        var context = LayerContext(layer: layer, args: args, kwargs: kwargs, builder: builder, kerasMajor: kerasMajor,
                                   name: prefix.isEmpty ? layer.name : "\(prefix)/\(layer.name)", file: file,
                                   fetch: { try weights.variables(of: layer, scope: scope) })
        do {
            return try KerasLayerTable.lower(&context)
        } catch let e as FormatsError where e.code == .graphInvalid && !e.message.contains("layer '") {
            throw FormatsError(.graphInvalid, "cannot lower layer '\(layer.name)' (\(layer.className)): \(e.message)", file: file)
        }
    }
}

/// An argument of one layer call, with values already lowered.
enum LayerArg {
    case value(String)
    case values([String])
    case number(Double)
    case other
}

/// What a layer lowering sees: the layer, its arguments, the builder, and its weights on demand.
struct LayerContext {
    let layer: KerasLayer
    let args: [LayerArg]
    let kwargs: [String: JSONValue]
    let builder: GraphBuilder
    let kerasMajor: Int
    /// Scoped name for nodes and constants ("outer/inner/conv1").
    let name: String
    let file: String
    let fetch: () throws -> [String: ConstantData]
    /// Identifies the layer object (not the call), so shared layers share constants.
    var weightScope: String { name }
    private var cache: [String: ConstantData]?

    init(layer: KerasLayer, args: [LayerArg], kwargs: [String: JSONValue], builder: GraphBuilder, kerasMajor: Int, name: String,
         file: String, fetch: @escaping () throws -> [String: ConstantData]) {
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.builder = builder
        self.kerasMajor = kerasMajor
        self.name = name
        self.file = file
        self.fetch = fetch
    }

    var config: JSONValue { layer.config }

    func fail(_ message: String) -> FormatsError {
        FormatsError(.graphInvalid, "layer '\(layer.name)' (\(layer.className)): \(message)", file: file)
    }

    /// All tensor inputs of the call, flattened.
    var inputs: [String] {
        args.flatMap { a -> [String] in
            switch a {
            case .value(let v): [v]
            case .values(let vs): vs
            default: []
            }
        }
    }

    func input() throws -> String {
        guard let x = inputs.first else { throw fail("expected a tensor input") }
        return x
    }

    /// A weight by role, checked against the expected rank.
    mutating func weight(_ role: String, alternatives: [String] = [], required: Bool = true) throws -> ConstantData? {
        if cache == nil { cache = try fetch() }
        for r in [role] + alternatives { if let w = cache![r] { return w } }
        if !required { return nil }
        let have = cache!.keys.sorted().joined(separator: ", ")
        throw FormatsError(.missingTensor, "layer '\(layer.name)' (\(layer.className)) is missing its '\(role)' weight (found: \(have.isEmpty ? "none" : have))", file: file)
    }

    /// Adds a weight as a constant named after this layer.
    func constant(_ role: String, _ w: ConstantData) -> String {
        builder.constant(key: "\(weightScope)|\(role)", "\(name)/\(role)", shape: w.shape, values: w.values)
    }

    func add(_ op: OpKind, _ suffix: String? = nil, _ inputs: [String], _ attributes: [String: Attribute] = [:]) throws -> String {
        try builder.add(op, suffix.map { "\(name)/\($0)" } ?? name, inputs, attributes)
    }

    /// Int or pair config values (`kernel_size: 3` or `[3, 3]`).
    func pair(_ key: String, default def: [Int]? = nil) throws -> [Int] {
        guard let v = config[key]?.ints ?? def else { throw fail("missing '\(key)'") }
        if v.count == 1 { return [v[0], v[0]] }
        guard v.count == 2 else { throw fail("'\(key)' is \(v), expected one or two integers") }
        return v
    }
}
