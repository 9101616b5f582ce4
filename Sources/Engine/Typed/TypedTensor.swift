import Formats

/// A tensor of any run-time element type (format 2.0): float32, int32, int64, uint8 or bool, row-major.
/// Integers and booleans are never carried as floats. The classifier path keeps using `Tensor` (float32).
public struct TypedTensor: Equatable, Sendable, CustomStringConvertible {
    public enum Storage: Equatable, Sendable {
        case float32([Float]), int32([Int32]), int64([Int64]), uint8([UInt8]), bool([Bool])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], storage: Storage) {
        precondition(shape.reduce(1, *) == storage.count, "tensor shape \(shape) does not match \(storage.count) values")
        self.shape = shape
        self.storage = storage
    }

    public init(_ t: Tensor) { self.init(shape: t.shape, storage: .float32(t.values)) }
    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, storage: .float32(floats)) }
    public init(shape: [Int], int32: [Int32]) { self.init(shape: shape, storage: .int32(int32)) }
    public init(shape: [Int], int64: [Int64]) { self.init(shape: shape, storage: .int64(int64)) }
    public init(shape: [Int], bools: [Bool]) { self.init(shape: shape, storage: .bool(bools)) }
    public static func scalar(_ v: Int32) -> TypedTensor { TypedTensor(shape: [], int32: [v]) }

    public var dtype: DType { storage.dtype }
    public var count: Int { storage.count }

    /// The float32 tensor, or nil for other types.
    public var floatTensor: Tensor? {
        if case .float32(let v) = storage { return Tensor(shape: shape, values: v) }
        return nil
    }

    /// Every element as an Int (integers and bools; floats truncate toward zero). For index inputs.
    public var ints: [Int] {
        switch storage {
        case .float32(let v): v.map { Int($0.rounded(.towardZero)) }
        case .int32(let v): v.map(Int.init)
        case .int64(let v): v.map(Int.init)
        case .uint8(let v): v.map(Int.init)
        case .bool(let v): v.map { $0 ? 1 : 0 }
        }
    }

    /// Every element as a Double (for attributes and tests).
    public var doubles: [Double] {
        switch storage {
        case .float32(let v): v.map(Double.init)
        case .int32(let v): v.map(Double.init)
        case .int64(let v): v.map(Double.init)
        case .uint8(let v): v.map(Double.init)
        case .bool(let v): v.map { $0 ? 1 : 0 }
        }
    }

    public var description: String { "\(dtype)\(shape)" }

    /// Reads a `.npy` array of any supported type.
    public init(_ npy: NpyArray) throws {
        let n = npy.elementCount
        func load<T>(_: T.Type) -> [T] {
            npy.data.withUnsafeBytes { raw in (0..<n).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
        }
        switch npy.dtype {
        case .float32, .float16, .float64: self.init(shape: npy.shape, storage: .float32(npy.floats))
        case .int32: self.init(shape: npy.shape, storage: .int32(load(Int32.self)))
        case .int64: self.init(shape: npy.shape, storage: .int64(load(Int64.self)))
        case .uint8: self.init(shape: npy.shape, storage: .uint8(npy.data))
        case .bool: self.init(shape: npy.shape, storage: .bool(npy.data.map { $0 != 0 }))
        case .int8q: throw EngineError("a .npy array cannot hold int8q values")
        }
    }

    public var npy: NpyArray {
        func bytes<T>(_ v: [T]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }
        switch storage {
        case .float32(let v): return NpyArray(floats: v, shape: shape)
        case .int32(let v): return NpyArray(dtype: .int32, shape: shape, data: bytes(v))
        case .int64(let v): return NpyArray(dtype: .int64, shape: shape, data: bytes(v))
        case .uint8(let v): return NpyArray(dtype: .uint8, shape: shape, data: v)
        case .bool(let v): return NpyArray(dtype: .bool, shape: shape, data: v.map { $0 ? 1 : 0 })
        }
    }

    /// A converted model's constant, before it is written.
    public init(_ c: ConstantData) {
        switch c.dtype {
        case .int32: self.init(shape: c.shape, int32: c.integers.map { Int32(truncatingIfNeeded: $0) })
        case .int64: self.init(shape: c.shape, int64: c.integers)
        case .uint8: self.init(shape: c.shape, storage: .uint8(c.integers.map { UInt8(truncatingIfNeeded: $0) }))
        case .bool: self.init(shape: c.shape, bools: c.integers.map { $0 != 0 })
        default: self.init(shape: c.shape, floats: c.values)
        }
    }

    /// The tensor stored in a `.skiff` file's table, in its own type (float16/int8q storage widened to float32).
    static func load(_ name: String, from file: SkiffFile) throws -> TypedTensor {
        guard let e = file.entry(name) else { throw EngineError("constant '\(name)' has no tensor") }
        switch e.dtype {
        case .float32, .float16, .int8q, .float64: return TypedTensor(shape: e.shape, floats: try file.floats(name))
        default:
            let raw = try file.tensorBytes(name)
            return try TypedTensor(NpyArray(dtype: e.dtype, shape: e.shape, data: Array(raw.bytes)))
        }
    }
}

extension TypedTensor.Storage {
    public var dtype: DType {
        switch self {
        case .float32: .float32
        case .int32: .int32
        case .int64: .int64
        case .uint8: .uint8
        case .bool: .bool
        }
    }

    public var count: Int {
        switch self {
        case .float32(let v): v.count
        case .int32(let v): v.count
        case .int64(let v): v.count
        case .uint8(let v): v.count
        case .bool(let v): v.count
        }
    }

    /// Elements picked by flat index; index −1 gives `fill` (zero/false by default). The one primitive
    /// every layout op (transpose, slice, pad, tile, gather, …) is written with, for every type at once.
    func pick(_ indices: [Int], fill: Double = 0) -> Self {
        func go<T>(_ v: [T], _ f: T) -> [T] { indices.map { $0 < 0 ? f : v[$0] } }
        switch self {
        case .float32(let v): return .float32(go(v, Float(fill)))
        case .int32(let v): return .int32(go(v, Int32(clamping: Int(fill))))
        case .int64(let v): return .int64(go(v, Int64(fill)))
        case .uint8(let v): return .uint8(go(v, UInt8(clamping: Int(fill))))
        case .bool(let v): return .bool(go(v, fill != 0))
        }
    }

    /// The elements of several storages of one type, one after another.
    static func joined(_ parts: [Self]) -> Self {
        func all<T>(_ get: (Self) -> [T]?) -> [T] { parts.flatMap { get($0) ?? [] } }
        switch parts.first {
        case .float32?: return .float32(all { if case .float32(let v) = $0 { return v }; return nil })
        case .int32?: return .int32(all { if case .int32(let v) = $0 { return v }; return nil })
        case .int64?: return .int64(all { if case .int64(let v) = $0 { return v }; return nil })
        case .uint8?: return .uint8(all { if case .uint8(let v) = $0 { return v }; return nil })
        case .bool?: return .bool(all { if case .bool(let v) = $0 { return v }; return nil })
        case nil: return .float32([])
        }
    }

    /// An empty storage of `dtype`.
    static func empty(_ dtype: DType) -> Self {
        switch dtype {
        case .int32: .int32([])
        case .int64: .int64([])
        case .uint8: .uint8([])
        case .bool: .bool([])
        default: .float32([])
        }
    }
}
