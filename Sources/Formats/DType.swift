/// Element types. The raw values are the `.skiff` dtype numbers (docs/FORMAT.md §6) and never change.
public enum DType: UInt8, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case float32 = 1
    case float16 = 2
    /// int8 per-channel quantised weights (format 1.1): value = q · scale[i mod C], the scales in a
    /// float32 companion tensor `<name>:scale` of shape [C].
    case int8q = 3
    case int32 = 4
    case int64 = 5
    case uint8 = 6
    case bool = 7
    case float64 = 8

    /// Bytes per element.
    public var size: Int? {
        switch self {
        case .float32, .int32: 4
        case .float16: 2
        case .int64, .float64: 8
        case .uint8, .bool, .int8q: 1
        }
    }

    public var name: String {
        switch self {
        case .float32: "float32"
        case .float16: "float16"
        case .int8q: "int8q"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .bool: "bool"
        case .float64: "float64"
        }
    }

    public init?(name: String) {
        guard let t = DType.allCases.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    public var description: String { name }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let t = DType(name: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown dtype '\(s)' (expected one of \(DType.allCases.map(\.name).joined(separator: ", ")))")
        }
        self = t
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

/// How a tensor's bytes are stored (docs/FORMAT.md §7). Raw values are fixed forever.
public enum TensorEncoding: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    case stored = 0
    case zstd = 1
    case shuffleZstd = 2

    public var description: String {
        switch self {
        case .stored: "stored"
        case .zstd: "zstd"
        case .shuffleZstd: "shuffle-zstd"
        }
    }
}
