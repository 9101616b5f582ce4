/// Float weights held in memory between a reader and the writer (and by optimisation passes).
public struct ConstantData: Equatable, Sendable {
    public var shape: [Int]
    /// The values of a float32 constant.
    public var values: [Float]
    /// The element type; for int32, int64, uint8 and bool constants the values are in `integers`.
    public var dtype: DType
    public var integers: [Int64]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
        self.dtype = .float32
        self.integers = []
    }

    public init(shape: [Int], dtype: DType, integers: [Int64]) {
        self.shape = shape
        self.values = []
        self.dtype = dtype
        self.integers = integers
    }

    /// The little-endian bytes of a non-float constant, as the tensor table stores them.
    public var integerBytes: [UInt8] {
        switch dtype {
        case .int32: integers.flatMap { v in withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { Array($0) } }
        case .int64: integers.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        default: integers.map { UInt8(truncatingIfNeeded: $0) }
        }
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
        for c in graph.allGraphs.flatMap(\.constants) {
            guard let w = weights[c.name] else { throw FormatsError(.missingTensor, "constant '\(c.name)' has no weights") }
            if w.dtype == .float32 {
                try writer.addTensor(c.name, floats: w.values, shape: w.shape, storage: storage)
            } else {
                try writer.addTensor(c.name, dtype: w.dtype, shape: w.shape, bytes: w.integerBytes)
            }
        }
    }

    /// Drops constants no node reads any more.
    public mutating func pruneConstants() {
        let used = Set(graph.nodes.flatMap(\.inputs))
        graph.constants.removeAll { !used.contains($0.name) }
        let kept = Set(graph.allGraphs.flatMap(\.constants).map(\.name))
        weights = weights.filter { kept.contains($0.key) }
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

    /// Takes the weights of a function's constants (they live in the file's one tensor table).
    public func adopt(weights more: [String: ConstantData]) {
        weights.merge(more) { a, _ in a }
    }

    /// Adds an integer or bool constant (int32, int64, uint8, bool) and returns its value name.
    public func constant(_ name: String, dtype: DType, shape: [Int], integers data: [Int64]) -> String {
        precondition(shape.reduce(1, *) == data.count)
        let n = unique(name, in: Set(values.keys))
        let v = ValueInfo(n, dtype, shape.map(Dim.fixed))
        constants.append(v)
        values[n] = v
        weights[n] = ConstantData(shape: shape, dtype: dtype, integers: data)
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
        try add(op, name, inputs, attributes, outputs: 1)[0]
    }

    /// Adds a node with `outputs` outputs (`name`, `name:1`, …), each typed by type inference; `library`
    /// holds the functions a `while`/`if` names.
    public func add(_ op: OpKind, _ name: String, _ inputs: [String], _ attributes: [String: Attribute] = [:], outputs count: Int,
                    library: [String: ModelGraph] = [:]) throws -> [String] {
        let nodeName = unique(name, in: nodeNames)
        nodeNames.insert(nodeName)
        let placeholder = (0..<count).map { ValueInfo("\(nodeName):\($0)", .float32, []) }
        let probe = Node(name: nodeName, op: op, inputs: inputs, outputs: placeholder, attributes: attributes)
        let types = try ShapeInference.outputTypes(of: probe, inputs: inputs.filter { !$0.isEmpty }.map {
            TypedShape(values[$0]?.dtype ?? .float32, self.shape(of: $0)) }, library: library)
        guard types.count == count else {
            throw FormatsError(.graphInvalid, "node '\(nodeName)' (\(op.rawValue)) gives \(types.count) outputs, not \(count)")
        }
        let outs = types.enumerated().map { i, t in
            let out = unique(i == 0 ? nodeName : "\(nodeName):\(i)", in: Set(values.keys))
            let v = ValueInfo(out, t.dtype, t.shape)
            values[out] = v
            return v
        }
        nodes.append(Node(name: nodeName, op: op, inputs: inputs, outputs: outs, attributes: attributes))
        return outs.map(\.name)
    }

    /// Renames a node output (e.g. a model output to its layer's name); a no-op if the name is taken.
    @discardableResult
    public func rename(_ value: String, to name: String) -> String {
        guard value != name, var v = values[value], let i = nodes.firstIndex(where: { $0.outputs.contains { $0.name == value } }) else { return value }
        if values[name] != nil {
            // Taken by an inner node's output (the layer's op before its activation): move that one aside.
            guard nodes.contains(where: { $0.outputs.contains { $0.name == name } }) else { return value }
            rename(name, to: unique("\(name)/pre", in: Set(values.keys)))
        }
        v.name = name
        nodes[i].outputs[nodes[i].outputs.firstIndex { $0.name == value }!] = v
        for j in nodes.indices { nodes[j].inputs = nodes[j].inputs.map { $0 == value ? name : $0 } }
        values[value] = nil
        values[name] = v
        return name
    }

    public func finish(outputs names: [String], functions: [String: ModelGraph]? = nil) -> LoweredModel {
        let graph = ModelGraph(inputs: inputs, outputs: names.compactMap { values[$0] }, constants: constants, nodes: nodes, functions: functions)
        return LoweredModel(graph: graph, weights: weights)
    }
}
