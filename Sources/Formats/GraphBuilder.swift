/// Float weights held in memory between a reader and the writer (and by optimisation passes).
public struct ConstantData: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// A graph with its weights, as readers produce it and passes rewrite it, before it is written.
public struct LoweredModel: Sendable {
    public var graph: ModelGraph
    public var weights: [String: ConstantData]

    public init(graph: ModelGraph, weights: [String: ConstantData]) {
        self.graph = graph
        self.weights = weights
    }

    /// Adds every constant as a tensor of `writer` (float32, or float16 storage).
    public func addTensors(to writer: inout SkiffWriter, storage: DType = .float32) throws {
        for c in graph.constants {
            guard let w = weights[c.name] else { throw FormatsError(.missingTensor, "constant '\(c.name)' has no weights") }
            try writer.addTensor(c.name, floats: w.values, shape: w.shape, storage: storage)
        }
    }

    /// Drops constants no node reads any more.
    public mutating func pruneConstants() {
        let used = Set(graph.nodes.flatMap(\.inputs))
        graph.constants.removeAll { !used.contains($0.name) }
        weights = weights.filter { used.contains($0.key) }
    }
}

/// Builds a `ModelGraph` node by node, typing each output with `ShapeInference` so readers never
/// compute shapes themselves, and keeping names unique.
public final class GraphBuilder {
    public private(set) var inputs: [ValueInfo] = []
    public private(set) var nodes: [Node] = []
    public private(set) var constants: [ValueInfo] = []
    public private(set) var weights: [String: ConstantData] = [:]
    private var values: [String: ValueInfo] = [:]
    private var nodeNames: Set<String> = []
    private var keyed: [String: String] = [:]

    public init() {}

    public func unique(_ base: String, in used: Set<String>) -> String {
        if !used.contains(base) { return base }
        var i = 1
        while used.contains("\(base)_\(i)") { i += 1 }
        return "\(base)_\(i)"
    }

    public func type(of value: String) -> ValueInfo? { values[value] }
    public func shape(of value: String) -> [Dim] { values[value]?.shape ?? [] }

    @discardableResult
    public func input(_ name: String, _ dtype: DType, _ shape: [Dim]) -> String {
        let n = unique(name, in: Set(values.keys))
        let v = ValueInfo(n, dtype, shape)
        inputs.append(v)
        values[n] = v
        return n
    }

    /// Adds a float constant (its name made unique) and returns its value name.
    public func constant(_ name: String, shape: [Int], values data: [Float]) -> String {
        precondition(shape.reduce(1, *) == data.count)
        let n = unique(name, in: Set(values.keys))
        let v = ValueInfo(n, .float32, shape.map(Dim.fixed))
        constants.append(v)
        values[n] = v
        weights[n] = ConstantData(shape: shape, values: data)
        return n
    }

    /// A constant added once per `key`: a shared layer's second call reuses its first call's weights.
    public func constant(key: String, _ name: String, shape: [Int], values data: [Float]) -> String {
        if let v = keyed[key] { return v }
        let v = constant(name, shape: shape, values: data)
        keyed[key] = v
        return v
    }

    /// Adds a node with one output named after it, typed by shape inference.
    /// - Throws: `FormatsError.graphInvalid` when the inputs' shapes do not fit the op.
    public func add(_ op: OpKind, _ name: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) throws -> String {
        let nodeName = unique(name, in: nodeNames)
        nodeNames.insert(nodeName)
        let probe = Node(name: nodeName, op: op, inputs: inputs, outputs: [], attributes: attributes)
        let shape = try ShapeInference.outputShape(of: probe, inputs: inputs.filter { !$0.isEmpty }.map { self.shape(of: $0) })
        let dtype = op == .cast ? (DType(name: attributes["to"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "") ?? .float32) : .float32
        let out = unique(nodeName, in: Set(values.keys))
        let v = ValueInfo(out, dtype, shape)
        nodes.append(Node(name: nodeName, op: op, inputs: inputs, outputs: [v], attributes: attributes))
        values[out] = v
        return out
    }

    /// Renames a node output (e.g. a model output to its layer's name); a no-op if the name is taken.
    @discardableResult
    public func rename(_ value: String, to name: String) -> String {
        guard value != name, var v = values[value], let i = nodes.firstIndex(where: { $0.outputs[0].name == value }) else { return value }
        if values[name] != nil {
            // Taken by an inner node's output (the layer's op before its activation): move that one aside.
            guard nodes.contains(where: { $0.outputs[0].name == name }) else { return value }
            rename(name, to: unique("\(name)/pre", in: Set(values.keys)))
        }
        v.name = name
        nodes[i].outputs[0] = v
        for j in nodes.indices { nodes[j].inputs = nodes[j].inputs.map { $0 == value ? name : $0 } }
        values[value] = nil
        values[name] = v
        return name
    }

    public func finish(outputs names: [String]) -> LoweredModel {
        let graph = ModelGraph(inputs: inputs, outputs: names.compactMap { values[$0] }, constants: constants, nodes: nodes)
        return LoweredModel(graph: graph, weights: weights)
    }
}
