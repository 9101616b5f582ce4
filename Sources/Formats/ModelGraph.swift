/// One dimension of a value's shape: a fixed size or a named symbol (the batch dimension is `"N"`).
public enum Dim: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    case fixed(Int)
    case symbol(String)

    public static let batch = Dim.symbol("N")

    public init(integerLiteral value: Int) { self = .fixed(value) }
    public init(stringLiteral value: String) { self = .symbol(value) }

    public var fixedValue: Int? { if case .fixed(let v) = self { v } else { nil } }

    public var description: String {
        switch self {
        case .fixed(let v): "\(v)"
        case .symbol(let s): s
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Int.self) {
            guard v >= 0 else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "dimension \(v) is negative") }
            self = .fixed(v)
        } else {
            self = .symbol(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .fixed(let v): try c.encode(v)
        case .symbol(let s): try c.encode(s)
        }
    }
}

/// A named, typed value of the graph: a graph input, a constant, or a node output.
public struct ValueInfo: Hashable, Sendable, Codable, CustomStringConvertible {
    public var name: String
    public var dtype: DType
    public var shape: [Dim]

    public init(_ name: String, _ dtype: DType, _ shape: [Dim]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    public var description: String { "'\(name)' \(dtype)[\(shape.map(\.description).joined(separator: ", "))]" }
}

/// A typed attribute value. Encoded in JSON as a one-key object naming its type (`{"ints": [1, 1]}`),
/// so every attribute round-trips exactly, including its type.
public enum Attribute: Hashable, Sendable, Codable {
    case int(Int)
    case ints([Int])
    case float(Double)
    case floats([Double])
    case string(String)
    case strings([String])
    case bool(Bool)

    public enum Kind: String, Sendable, CaseIterable { case int, ints, float, floats, string, strings, bool }

    public var kind: Kind {
        switch self {
        case .int: .int
        case .ints: .ints
        case .float: .float
        case .floats: .floats
        case .string: .string
        case .strings: .strings
        case .bool: .bool
        }
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        guard c.allKeys.count == 1, let key = c.allKeys.first, let kind = Kind(rawValue: key.stringValue) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "an attribute must be an object with exactly one of the keys \(Kind.allCases.map(\.rawValue))"))
        }
        switch kind {
        case .int: self = .int(try c.decode(Int.self, forKey: key))
        case .ints: self = .ints(try c.decode([Int].self, forKey: key))
        case .float: self = .float(try c.decode(Double.self, forKey: key))
        case .floats: self = .floats(try c.decode([Double].self, forKey: key))
        case .string: self = .string(try c.decode(String.self, forKey: key))
        case .strings: self = .strings(try c.decode([String].self, forKey: key))
        case .bool: self = .bool(try c.decode(Bool.self, forKey: key))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        let key = Key(stringValue: kind.rawValue)
        switch self {
        case .int(let v): try c.encode(v, forKey: key)
        case .ints(let v): try c.encode(v, forKey: key)
        case .float(let v): try c.encode(v, forKey: key)
        case .floats(let v): try c.encode(v, forKey: key)
        case .string(let v): try c.encode(v, forKey: key)
        case .strings(let v): try c.encode(v, forKey: key)
        case .bool(let v): try c.encode(v, forKey: key)
        }
    }
}

/// One operation: an op kind, its inputs by value name, its typed outputs and attributes.
public struct Node: Hashable, Sendable, Codable {
    public var name: String
    public var op: OpKind
    /// Value names; `""` marks an absent optional input.
    public var inputs: [String]
    public var outputs: [ValueInfo]
    public var attributes: [String: Attribute]

    public init(name: String, op: OpKind, inputs: [String], outputs: [ValueInfo], attributes: [String: Attribute] = [:]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    public func int(_ key: String) -> Int? { if case .int(let v) = attributes[key] { v } else { nil } }
    public func ints(_ key: String) -> [Int]? { if case .ints(let v) = attributes[key] { v } else { nil } }
    public func float(_ key: String) -> Double? { if case .float(let v) = attributes[key] { v } else { nil } }
    public func string(_ key: String) -> String? { if case .string(let v) = attributes[key] { v } else { nil } }
    public func bool(_ key: String) -> Bool? { if case .bool(let v) = attributes[key] { v } else { nil } }
}

/// Skiff's one graph IR. Every reader (Keras HDF5, `.keras`, SavedModel) lowers into it, the optimiser
/// rewrites it, the writer stores it in the manifest, and the engine plans from it.
///
/// Nodes are in topological order; constants name tensors of the file's tensor table. Layouts: NHWC
/// activations, HWIO filters, `[in, out]` dense kernels (docs/FORMAT.md §4.1).
public struct ModelGraph: Hashable, Sendable, Codable {
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var constants: [ValueInfo]
    public var nodes: [Node]
    /// The function library (format 2.0): subgraphs that `while` and `if` nodes name as their bodies and
    /// branches. Only the top-level graph has one; a function's own constants name tensors of the same
    /// file table, and a function may use `while`/`if` naming other functions of the library (no recursion).
    public var functions: [String: ModelGraph]?

    public init(inputs: [ValueInfo] = [], outputs: [ValueInfo] = [], constants: [ValueInfo] = [], nodes: [Node] = [],
                functions: [String: ModelGraph]? = nil) {
        self.inputs = inputs
        self.outputs = outputs
        self.constants = constants
        self.nodes = nodes
        self.functions = functions
    }

    /// Every graph of the file: this one, then its functions in name order.
    public var allGraphs: [ModelGraph] {
        [self] + (functions ?? [:]).sorted { $0.key < $1.key }.map(\.value)
    }

    /// Whether the graph needs format 2.0: an op, function or attribute value that 1.x does not define,
    /// a node with several outputs, a function library, or a value that is not float32 (1.x engines carry
    /// every value as float32). Anything else is written as 1.x, so older readers keep reading classifiers.
    public var needsVersion2: Bool {
        if let functions, !functions.isEmpty { return true }
        if (inputs + constants + nodes.flatMap(\.outputs)).contains(where: { $0.dtype != .float32 }) { return true }
        return nodes.contains { node in
            if node.op.isVersion2 || node.outputs.count != 1 { return true }
            if node.op == .binary, let f = BinaryFunction(rawValue: node.string("function") ?? ""), !BinaryFunction.version1.contains(f) { return true }
            return false
        }
    }

    /// Whether every value the engine sees is float32 and shapes are fixed at load (batch aside): the
    /// classifier path, planned statically. Anything else runs in the general executor.
    public var isStaticFloat: Bool { !needsVersion2 }

    /// Number of op nodes of each kind.
    public var opHistogram: [OpKind: Int] {
        nodes.reduce(into: [:]) { $0[$1.op, default: 0] += 1 }
    }
}
