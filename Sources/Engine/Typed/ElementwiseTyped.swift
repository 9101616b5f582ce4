import Foundation
import Formats

/// Elementwise kernels over typed tensors: arithmetic with TF's integer semantics (wrapping, floor
/// division), comparisons, logic, bit operations, select, cast and bitcast. Broadcasting is NumPy's.
enum TypedElementwise {
    /// Both operands' element indices for the broadcast output shape.
    static func broadcast(_ shapes: [[Int]]) throws -> (shape: [Int], indices: [[Int]]) {
        let r = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: r)
        for s in shapes {
            let p = Array(repeating: 1, count: r - s.count) + s
            for d in 0..<r where p[d] != 1 {
                guard out[d] == 1 || out[d] == p[d] else { throw EngineError("shapes \(shapes) cannot be broadcast together (axis \(d))") }
                out[d] = p[d]
            }
        }
        return (out, shapes.map { $0 == out ? Array(0..<out.reduce(1, *)) : LayoutIndex.broadcast($0, to: out) })
    }

    static func binary(_ f: BinaryFunction, _ a: TypedTensor, _ b: TypedTensor) throws -> TypedTensor {
        let (shape, idx) = try broadcast([a.shape, b.shape])
        func ints<T: FixedWidthInteger>(_ x: [T], _ y: [T]) throws -> [T] {
            try zip(idx[0], idx[1]).map { i, j in
                let p = x[i], q = y[j]
                switch f {
                case .add: return p &+ q
                case .sub: return p &- q
                case .mul: return p &* q
                case .max: return Swift.max(p, q)
                case .min: return Swift.min(p, q)
                case .div, .floorDiv, .floorMod:
                    guard q != 0 else { throw EngineError("integer division by zero") }
                    if T.isSigned, p == T.min, q == T(truncatingIfNeeded: -1) { return f == .floorMod ? 0 : p }
                    let (d, r) = p.quotientAndRemainder(dividingBy: q)
                    let adjust = r != 0 && ((r < 0) != (q < 0))
                    switch f {
                    case .div: return d
                    case .floorDiv: return adjust ? d - 1 : d
                    default: return adjust ? r + q : r
                    }
                case .pow:
                    guard q >= 0 else { throw EngineError("integers cannot be raised to a negative power") }
                    var result: T = 1, base = p, e = q
                    while e > 0 { if e & 1 == 1 { result = result &* base }; base = base &* base; e >>= 1 }
                    return result
                }
            }
        }
        func floats(_ x: [Float], _ y: [Float]) -> [Float] {
            zip(idx[0], idx[1]).map { i, j in
                let p = x[i], q = y[j]
                switch f {
                case .add: return p + q
                case .sub: return p - q
                case .mul: return p * q
                case .div: return p / q
                case .max: return Swift.max(p, q)
                case .min: return Swift.min(p, q)
                case .pow: return Foundation.pow(p, q)
                case .floorDiv: return (p / q).rounded(.down)
                case .floorMod:
                    var r = fmodf(p, q)
                    if r != 0, (r < 0) != (q < 0) { r += q }
                    return r
                }
            }
        }
        switch (a.storage, b.storage) {
        case (.float32(let x), .float32(let y)): return TypedTensor(shape: shape, storage: .float32(floats(x, y)))
        case (.int32(let x), .int32(let y)): return TypedTensor(shape: shape, storage: .int32(try ints(x, y)))
        case (.int64(let x), .int64(let y)): return TypedTensor(shape: shape, storage: .int64(try ints(x, y)))
        case (.uint8(let x), .uint8(let y)): return TypedTensor(shape: shape, storage: .uint8(try ints(x, y)))
        default: throw EngineError("\(f.rawValue) takes two numbers of one type, got \(a.dtype) and \(b.dtype)")
        }
    }

    static func compare(_ f: CompareFunction, _ a: TypedTensor, _ b: TypedTensor) throws -> TypedTensor {
        let (shape, idx) = try broadcast([a.shape, b.shape])
        func go<T: Comparable>(_ x: [T], _ y: [T]) -> [Bool] {
            zip(idx[0], idx[1]).map { i, j in
                switch f {
                case .equal: x[i] == y[j]
                case .notEqual: x[i] != y[j]
                case .less: x[i] < y[j]
                case .lessEqual: x[i] <= y[j]
                case .greater: x[i] > y[j]
                case .greaterEqual: x[i] >= y[j]
                }
            }
        }
        let out: [Bool]
        switch (a.storage, b.storage) {
        case (.float32(let x), .float32(let y)): out = go(x, y)
        case (.int32(let x), .int32(let y)): out = go(x, y)
        case (.int64(let x), .int64(let y)): out = go(x, y)
        case (.uint8(let x), .uint8(let y)): out = go(x, y)
        case (.bool(let x), .bool(let y)):
            guard f == .equal || f == .notEqual else { throw EngineError("bools can only be compared for equality") }
            out = zip(idx[0], idx[1]).map { i, j in (x[i] == y[j]) == (f == .equal) }
        default: throw EngineError("\(f.rawValue) takes two values of one type, got \(a.dtype) and \(b.dtype)")
        }
        return TypedTensor(shape: shape, bools: out)
    }

    static func logical(_ f: LogicalFunction, _ ins: [TypedTensor]) throws -> TypedTensor {
        let bools = try ins.map { t -> [Bool] in
            guard case .bool(let v) = t.storage else { throw EngineError("logical \(f.rawValue) takes bools, got \(t.dtype)") }
            return v
        }
        if f == .not { return TypedTensor(shape: ins[0].shape, bools: bools[0].map { !$0 }) }
        let (shape, idx) = try broadcast(ins.map(\.shape))
        return TypedTensor(shape: shape, bools: zip(idx[0], idx[1]).map { i, j in
            switch f {
            case .and: bools[0][i] && bools[1][j]
            case .or: bools[0][i] || bools[1][j]
            default: bools[0][i] != bools[1][j]
            }
        })
    }

    static func bitwise(_ f: BitwiseFunction, _ a: TypedTensor, _ b: TypedTensor) throws -> TypedTensor {
        let (shape, idx) = try broadcast([a.shape, b.shape])
        func go<T: FixedWidthInteger>(_ x: [T], _ y: [T]) -> [T] {
            zip(idx[0], idx[1]).map { i, j in f == .and ? x[i] & y[j] : f == .or ? x[i] | y[j] : x[i] ^ y[j] }
        }
        switch (a.storage, b.storage) {
        case (.int32(let x), .int32(let y)): return TypedTensor(shape: shape, storage: .int32(go(x, y)))
        case (.int64(let x), .int64(let y)): return TypedTensor(shape: shape, storage: .int64(go(x, y)))
        case (.uint8(let x), .uint8(let y)): return TypedTensor(shape: shape, storage: .uint8(go(x, y)))
        default: throw EngineError("bitwise \(f.rawValue) takes two integers of one type, got \(a.dtype) and \(b.dtype)")
        }
    }

    static func select(_ c: TypedTensor, _ a: TypedTensor, _ b: TypedTensor) throws -> TypedTensor {
        guard case .bool(let cond) = c.storage else { throw EngineError("select's condition must be bool, it is \(c.dtype)") }
        guard a.dtype == b.dtype else { throw EngineError("select's branches have types \(a.dtype) and \(b.dtype)") }
        let (shape, idx) = try broadcast([c.shape, a.shape, b.shape])
        // Pick from a and b joined: b's elements follow a's.
        let picks = (0..<idx[0].count).map { k in cond[idx[0][k]] ? idx[1][k] : a.count + idx[2][k] }
        return TypedTensor(shape: shape, storage: TypedTensor.Storage.joined([a.storage, b.storage]).pick(picks))
    }

    /// TF's Cast: float → integer truncates toward zero (saturating here, where TF's result is undefined),
    /// integer → narrower integer wraps, anything → bool is `!= 0`.
    static func cast(_ x: TypedTensor, to dtype: DType) throws -> TypedTensor {
        let d = x.doubles
        func ints<T: FixedWidthInteger>(_: T.Type) -> [T] {
            switch x.storage {
            case .float32(let v): v.map { $0.isNaN ? 0 : T(exactly: $0.rounded(.towardZero)) ?? ($0 < 0 ? T.min : T.max) }
            case .int32(let v): v.map { T(truncatingIfNeeded: $0) }
            case .int64(let v): v.map { T(truncatingIfNeeded: $0) }
            case .uint8(let v): v.map { T(truncatingIfNeeded: $0) }
            case .bool(let v): v.map { $0 ? 1 : 0 }
            }
        }
        let storage: TypedTensor.Storage
        switch dtype {
        case .float32:
            if case .int64(let v) = x.storage { storage = .float32(v.map { Float($0) }) } else { storage = .float32(d.map { Float($0) }) }
        case .float16: storage = .float32(d.map { Float(Float16(Float($0))) })
        case .int32: storage = .int32(ints(Int32.self))
        case .int64: storage = .int64(ints(Int64.self))
        case .uint8: storage = .uint8(ints(UInt8.self))
        case .bool: storage = .bool(d.map { $0 != 0 })
        default: throw EngineError("cannot cast to \(dtype)")
        }
        return TypedTensor(shape: x.shape, storage: storage)
    }

    /// Reinterprets the bits of each element (types of one size: float32 ↔ int32).
    static func bitcast(_ x: TypedTensor, to dtype: DType) throws -> TypedTensor {
        switch (x.storage, dtype) {
        case (.float32(let v), .int32): return TypedTensor(shape: x.shape, int32: v.map { Int32(bitPattern: $0.bitPattern) })
        case (.int32(let v), .float32): return TypedTensor(shape: x.shape, floats: v.map { Float(bitPattern: UInt32(bitPattern: $0)) })
        case (_, let t) where t == x.dtype: return x
        default: throw EngineError("bitcast from \(x.dtype) to \(dtype) is not supported")
        }
    }

    /// `unary` on integers: the functions that keep integers integers.
    static func unaryInteger(_ f: String, _ x: TypedTensor) throws -> TypedTensor {
        func go<T: FixedWidthInteger>(_ v: [T]) throws -> [T] {
            switch f {
            case "identity": return v
            case "abs": return v.map { T.isSigned && $0 < 0 ? 0 &- $0 : $0 }
            case "neg": return v.map { 0 &- $0 }
            case "square": return v.map { $0 &* $0 }
            case "relu": return v.map { Swift.max($0, 0) }
            default: throw EngineError("unary \(f) takes float32 values")
            }
        }
        switch x.storage {
        case .int32(let v): return TypedTensor(shape: x.shape, storage: .int32(try go(v)))
        case .int64(let v): return TypedTensor(shape: x.shape, storage: .int64(try go(v)))
        case .uint8(let v): return TypedTensor(shape: x.shape, storage: .uint8(try go(v)))
        default: throw EngineError("unary \(f) does not take \(x.dtype)")
        }
    }
}
