import Formats

/// gather, gather_nd, scatter_nd, one_hot and the shape-changing layout ops, for every element type.
/// Out-of-range indices are errors, as on TensorFlow's CPU kernels.
enum TypedIndexing {
    static func checkIndex(_ i: Int, _ n: Int, _ what: String) throws -> Int {
        guard i >= 0, i < n else { throw EngineError("\(what) index \(i) is not in [0, \(n))") }
        return i
    }

    /// TF GatherV2 with `batch_dims`.
    static func gather(_ params: TypedTensor, _ indices: TypedTensor, axis: Int, batchDims: Int) throws -> TypedTensor {
        let p = params.shape, a = axis < 0 ? axis + p.count : axis
        let idx = indices.ints, ishape = indices.shape
        let batch = p[..<batchDims].reduce(1, *), outer = p[batchDims..<a].reduce(1, *), n = p[a], inner = p[(a + 1)...].reduce(1, *)
        let perBatch = ishape[batchDims...].reduce(1, *)
        var picks: [Int] = []
        picks.reserveCapacity(batch * outer * perBatch * inner)
        for b in 0..<batch {
            for o in 0..<outer {
                for k in 0..<perBatch {
                    let i = try checkIndex(idx[b * perBatch + k], n, "gather")
                    let base = ((b * outer + o) * n + i) * inner
                    for j in 0..<inner { picks.append(base + j) }
                }
            }
        }
        let shape = Array(p[..<a]) + Array(ishape[batchDims...]) + Array(p[(a + 1)...])
        return TypedTensor(shape: shape, storage: params.storage.pick(picks))
    }

    /// TF GatherNd with `batch_dims`.
    static func gatherND(_ params: TypedTensor, _ indices: TypedTensor, batchDims: Int) throws -> TypedTensor {
        let p = params.shape, ishape = indices.shape, idx = indices.ints
        let q = ishape.last ?? 0
        let batch = p[..<batchDims].reduce(1, *)
        let perBatch = ishape[batchDims..<(ishape.count - 1)].reduce(1, *)
        let slice = p[(batchDims + q)...].reduce(1, *)
        let strides = LayoutIndex.strides(Array(p[batchDims...]))
        let batchSize = p[batchDims...].reduce(1, *)
        var picks: [Int] = []
        for b in 0..<batch {
            for k in 0..<perBatch {
                var off = b * batchSize
                for d in 0..<q {
                    off += try checkIndex(idx[(b * perBatch + k) * q + d], p[batchDims + d], "gather_nd") * strides[d]
                }
                for j in 0..<slice { picks.append(off + j) }
            }
        }
        return TypedTensor(shape: Array(ishape.dropLast()) + Array(p[(batchDims + q)...]), storage: params.storage.pick(picks))
    }

    /// TF ScatterNd: zeros of `shape`, with `updates` added at `indices` (duplicates add up).
    static func scatterND(_ indices: TypedTensor, _ updates: TypedTensor, shape: [Int]) throws -> TypedTensor {
        let q = indices.shape.last ?? 0, idx = indices.ints
        guard q <= shape.count else { throw EngineError("scatter_nd indices of depth \(q) do not fit shape \(shape)") }
        let count = try checkedCount(shape, "scatter_nd output")
        let slice = shape[q...].reduce(1, *), strides = LayoutIndex.strides(shape)
        let n = q == 0 ? 1 : idx.count / q
        guard updates.count == n * slice else { throw EngineError("scatter_nd updates have \(updates.count) elements, expected \(n * slice)") }
        var targets = [Int](repeating: 0, count: n)
        for k in 0..<n {
            targets[k] = try (0..<q).reduce(0) { try $0 + checkIndex(idx[k * q + $1], shape[$1], "scatter_nd") * strides[$1] }
        }
        func go<T: AdditiveArithmetic>(_ u: [T], _ add: (T, T) -> T) -> [T] {
            var out = [T](repeating: .zero, count: count)
            for k in 0..<n { for j in 0..<slice { out[targets[k] + j] = add(out[targets[k] + j], u[k * slice + j]) } }
            return out
        }
        switch updates.storage {
        case .float32(let u): return TypedTensor(shape: shape, storage: .float32(go(u, +)))
        case .int32(let u): return TypedTensor(shape: shape, storage: .int32(go(u, &+)))
        case .int64(let u): return TypedTensor(shape: shape, storage: .int64(go(u, &+)))
        case .uint8(let u): return TypedTensor(shape: shape, storage: .uint8(go(u, &+)))
        case .bool(let u):
            var out = [Bool](repeating: false, count: count)
            for k in 0..<n { for j in 0..<slice { out[targets[k] + j] = out[targets[k] + j] || u[k * slice + j] } }
            return TypedTensor(shape: shape, bools: out)
        }
    }

    /// TF OneHot: indices outside [0, depth) give a row of `off`.
    static func oneHot(_ indices: TypedTensor, depth: Int, on: Double, off: Double, axis: Int, dtype: DType) throws -> TypedTensor {
        let idx = indices.ints, r = indices.shape.count, a = axis == -1 ? r : axis
        let outer = indices.shape[..<a].reduce(1, *), inner = indices.shape[a...].reduce(1, *)
        var values = [Double](repeating: off, count: outer * depth * inner)
        for o in 0..<outer { for i in 0..<inner {
            let v = idx[o * inner + i]
            if v >= 0, v < depth { values[(o * depth + v) * inner + i] = on }
        } }
        var shape = indices.shape
        shape.insert(depth, at: a)
        switch dtype {
        case .int64: return TypedTensor(shape: shape, int64: values.map { Int64($0) })
        case .int32: return TypedTensor(shape: shape, int32: values.map { Int32(clamping: Int64($0)) })
        case .uint8: return TypedTensor(shape: shape, storage: .uint8(values.map { UInt8(clamping: Int64($0)) }))
        case .bool: return TypedTensor(shape: shape, bools: values.map { $0 != 0 })
        default: return TypedTensor(shape: shape, floats: values.map { Float($0) })
        }
    }

    /// The element count of a shape computed while running, checked against the engine's limits.
    static func checkedCount(_ shape: [Int], _ what: String) throws -> Int {
        guard shape.allSatisfy({ $0 >= 0 }), let n = GraphLimits.elementCount(shape.map(Dim.fixed)) else {
            throw EngineError("\(what) would have shape \(shape): negative, or more than the limits (dimensions ≤ 2^32, at most 2^34 elements)")
        }
        return n
    }

    /// TF Reshape semantics with Skiff's `0` = keep that input dimension and one `−1` inferred.
    static func reshape(_ shape: [Int], to target: [Int]) throws -> [Int] {
        var out = target.enumerated().map { i, t in t == 0 && i < shape.count ? shape[i] : t }
        let total = shape.reduce(1, *)
        if let i = out.firstIndex(of: -1) {
            let part = out.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            guard part > 0, total % part == 0 else { throw EngineError("\(total) elements cannot be reshaped to \(target)") }
            out[i] = total / part
        }
        guard out.reduce(1, *) == total else { throw EngineError("\(total) elements cannot be reshaped to \(target)") }
        return out
    }
}

