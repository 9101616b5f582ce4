import Formats

/// range, fill, cumsum, where, arg_max/arg_min, top_k and reductions on integers.
enum TypedSequences {
    /// TF Range: ⌈(limit − start) / delta⌉ values (integers: exact arithmetic).
    static func range(_ start: TypedTensor, _ limit: TypedTensor, _ delta: TypedTensor) throws -> TypedTensor {
        switch (start.storage, limit.storage, delta.storage) {
        case (.float32(let s), .float32(let l), .float32(let d)):
            guard d[0] != 0 else { throw EngineError("range: delta must not be 0") }
            guard (d[0] > 0 && l[0] >= s[0]) || (d[0] < 0 && l[0] <= s[0]) else { throw EngineError("range: start \(s[0]) and limit \(l[0]) do not fit delta \(d[0])") }
            let n = Double((l[0] - s[0]) / d[0]).rounded(.up)
            guard n.isFinite, n <= Double(GraphLimits.maxElements) else { throw EngineError("range: \(n) values is more than the limit") }
            return TypedTensor(shape: [Int(n)], floats: (0..<Int(n)).map { s[0] + Float($0) * d[0] })
        default:
            let s = start.ints[0], l = limit.ints[0], d = delta.ints[0]
            guard d != 0 else { throw EngineError("range: delta must not be 0") }
            guard (d > 0 && l >= s) || (d < 0 && l <= s) else { throw EngineError("range: start \(s) and limit \(l) do not fit delta \(d)") }
            let n = (abs(l - s) + abs(d) - 1) / abs(d)
            guard n <= GraphLimits.maxElements else { throw EngineError("range: \(n) values is more than the limit") }
            let v = (0..<n).map { s + $0 * d }
            switch start.storage {
            case .int64: return TypedTensor(shape: [n], int64: v.map { Int64($0) })
            case .uint8: return TypedTensor(shape: [n], storage: .uint8(v.map { UInt8(truncatingIfNeeded: $0) }))
            default: return TypedTensor(shape: [n], int32: v.map { Int32(truncatingIfNeeded: $0) })
            }
        }
    }

    static func fill(_ dims: [Int], _ value: TypedTensor) throws -> TypedTensor {
        let n = try TypedIndexing.checkedCount(dims, "fill")
        return TypedTensor(shape: dims, storage: value.storage.pick([Int](repeating: 0, count: n)))
    }

    static func cumsum(_ x: TypedTensor, axis: Int, exclusive: Bool, reverse: Bool) throws -> TypedTensor {
        let a = axis < 0 ? axis + x.shape.count : axis
        let outer = x.shape[..<a].reduce(1, *), n = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *)
        func go<T>(_ v: [T], _ zero: T, _ add: (T, T) -> T) -> [T] {
            var out = v
            for o in 0..<outer { for i in 0..<inner {
                var acc = zero
                for k in 0..<n {
                    let j = reverse ? n - 1 - k : k
                    let at = (o * n + j) * inner + i
                    if exclusive { out[at] = acc; acc = add(acc, v[at]) } else { acc = add(acc, v[at]); out[at] = acc }
                }
            } }
            return out
        }
        switch x.storage {
        case .float32(let v): return TypedTensor(shape: x.shape, storage: .float32(go(v, 0, +)))
        case .int32(let v): return TypedTensor(shape: x.shape, storage: .int32(go(v, 0, &+)))
        case .int64(let v): return TypedTensor(shape: x.shape, storage: .int64(go(v, 0, &+)))
        case .uint8(let v): return TypedTensor(shape: x.shape, storage: .uint8(go(v, 0, &+)))
        case .bool: throw EngineError("cumsum takes numbers, not bools")
        }
    }

    /// TF Where with one input: the coordinates of the true (non-zero) elements, row-major, int64 [n, rank].
    static func whereTrue(_ x: TypedTensor) -> TypedTensor {
        let d = x.doubles
        let strides = LayoutIndex.strides(x.shape)
        var coords: [Int64] = []
        for (i, v) in d.enumerated() where v != 0 {
            var r = i
            for s in strides { coords.append(Int64(r / s)); r %= s }
        }
        return TypedTensor(shape: [coords.count / max(x.shape.count, 1), x.shape.count], int64: coords)
    }

    /// arg_max / arg_min along `axis`; ties go to the lowest index, as TF.
    static func argExtreme(_ x: TypedTensor, axis: Int, max: Bool, outputType: DType) -> TypedTensor {
        let a = axis < 0 ? axis + x.shape.count : axis
        let outer = x.shape[..<a].reduce(1, *), n = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *)
        let v = x.doubles
        var out: [Int64] = []
        for o in 0..<outer { for i in 0..<inner {
            var best = 0
            for k in 1..<Swift.max(n, 1) {
                let c = v[(o * n + k) * inner + i], b = v[(o * n + best) * inner + i]
                if max ? c > b : c < b { best = k }
            }
            out.append(Int64(best))
        } }
        var shape = x.shape
        shape.remove(at: a)
        return outputType == .int32 ? TypedTensor(shape: shape, int32: out.map { Int32($0) }) : TypedTensor(shape: shape, int64: out)
    }

    /// TF TopKV2 along the last axis: the k largest, descending, ties to the lower index; indices int32.
    static func topK(_ x: TypedTensor, k: Int) throws -> [TypedTensor] {
        guard let n = x.shape.last else { throw EngineError("top_k needs an input of rank ≥ 1") }
        guard k >= 0, k <= n else { throw EngineError("top_k: k is \(k), expected 0…\(n) (the last dimension)") }
        let rows = x.count / Swift.max(n, 1), v = x.doubles
        var picks: [Int] = [], indices: [Int32] = []
        for r in 0..<rows {
            let order = (0..<n).sorted { a, b in
                let p = v[r * n + a], q = v[r * n + b]
                return p > q || (p == q && a < b) || (p.isNaN && !q.isNaN)
            }
            for j in order.prefix(k) { picks.append(r * n + j); indices.append(Int32(j)) }
        }
        let shape = Array(x.shape.dropLast()) + [k]
        return [TypedTensor(shape: shape, storage: x.storage.pick(picks)), TypedTensor(shape: shape, int32: indices)]
    }

    /// Reductions over `axes` for integer tensors (float32 ones use the reference kernel).
    static func reduceIntegers(_ x: TypedTensor, axes: [Int], _ f: ReduceFunction, keepDims: Bool) throws -> TypedTensor {
        let r = x.shape.count
        let axes = Set(axes.map { $0 < 0 ? $0 + r : $0 })
        let outShape = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let outStrides = LayoutIndex.strides(outShape), inStrides = LayoutIndex.strides(x.shape)
        let count = outShape.reduce(1, *)
        let values = x.ints
        var acc = [Int?](repeating: nil, count: count), n = [Int](repeating: 0, count: count)
        for i in 0..<x.count {
            var rem = i, o = 0
            for d in 0..<r { let c = rem / inStrides[d]; rem %= inStrides[d]; if !axes.contains(d) { o += c * outStrides[d] } }
            let v = values[i]
            n[o] += 1
            guard let a = acc[o] else { acc[o] = v; continue }
            switch f {
            case .sum, .mean: acc[o] = a &+ v
            case .prod: acc[o] = a &* v
            case .max: acc[o] = Swift.max(a, v)
            case .min: acc[o] = Swift.min(a, v)
            }
        }
        let result = zip(acc, n).map { a, c -> Int in
            guard let a else { return f == .prod ? 1 : 0 }
            return f == .mean ? a / c : a
        }
        let shape = keepDims ? outShape : x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        return try TypedElementwise.cast(TypedTensor(shape: shape, int64: result.map { Int64($0) }), to: x.dtype)
    }
}
