import Formats

/// Layout ops as index maps: for each output element, the flat index of the input element it copies
/// (−1 for a fill value). Applied with `Storage.pick`, so one function serves every element type.
enum LayoutIndex {
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count), acc = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) { s[d] = acc; acc *= shape[d] }
        return s
    }

    /// Calls `source` with each output multi-index in row-major order.
    static func map(_ outShape: [Int], _ source: ([Int]) -> Int) -> [Int] {
        let count = outShape.reduce(1, *)
        guard count > 0 else { return [] }
        var idx = [Int](repeating: 0, count: outShape.count), out = [Int]()
        out.reserveCapacity(count)
        for _ in 0..<count {
            out.append(source(idx))
            var d = outShape.count - 1
            while d >= 0 {
                idx[d] += 1
                if idx[d] < outShape[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
        return out
    }

    static func transpose(_ shape: [Int], _ perm: [Int]) -> (shape: [Int], indices: [Int]) {
        let s = strides(shape), out = perm.map { shape[$0] }
        return (out, map(out) { idx in zip(idx, perm).reduce(0) { $0 + $1.0 * s[$1.1] } })
    }

    static func slice(_ shape: [Int], begins: [Int], ends: [Int], strides st: [Int]) -> (shape: [Int], indices: [Int]) {
        let s = strides(shape)
        let bounds = shape.indices.map { ShapeInference.sliceBounds(begins[$0], ends[$0], shape[$0]) }
        let out = shape.indices.map { max(0, (bounds[$0].1 - bounds[$0].0 + st[$0] - 1) / st[$0]) }
        return (out, map(out) { idx in idx.indices.reduce(0) { $0 + (bounds[$1].0 + idx[$1] * st[$1]) * s[$1] } })
    }

    /// `pads` holds before/after per axis; modes as TF's Pad / MirrorPad.
    static func pad(_ shape: [Int], _ pads: [Int], mode: String) -> (shape: [Int], indices: [Int]) {
        let s = strides(shape)
        let out = shape.indices.map { shape[$0] + pads[2 * $0] + pads[2 * $0 + 1] }
        return (out, map(out) { idx in
            var flat = 0
            for d in idx.indices {
                var i = idx[d] - pads[2 * d]
                let n = shape[d]
                if i < 0 || i >= n {
                    switch mode {
                    case "reflect": i = i < 0 ? -i : 2 * (n - 1) - i
                    case "symmetric": i = i < 0 ? -i - 1 : 2 * n - 1 - i
                    default: return -1
                    }
                }
                flat += i * s[d]
            }
            return flat
        })
    }

    static func tile(_ shape: [Int], _ multiples: [Int]) -> (shape: [Int], indices: [Int]) {
        let s = strides(shape), out = zip(shape, multiples).map { $0 * $1 }
        return (out, map(out) { idx in idx.indices.reduce(0) { $0 + (idx[$1] % shape[$1]) * s[$1] } })
    }

    /// NumPy broadcasting of `shape` to `target` (right-aligned; size-1 axes repeat).
    static func broadcast(_ shape: [Int], to target: [Int]) -> [Int] {
        let skip = target.count - shape.count, s = strides(shape)
        return map(target) { idx in shape.indices.reduce(0) { $0 + (shape[$1] == 1 ? 0 : idx[skip + $1]) * s[$1] } }
    }

    static func reverse(_ shape: [Int], _ axes: Set<Int>) -> [Int] {
        let s = strides(shape)
        return map(shape) { idx in idx.indices.reduce(0) { $0 + (axes.contains($1) ? shape[$1] - 1 - idx[$1] : idx[$1]) * s[$1] } }
    }

    /// Pieces of one type concatenated along `axis`: indices into the pieces' storages joined in order.
    static func concat(_ shapes: [[Int]], axis: Int) -> (shape: [Int], indices: [Int]) {
        var out = shapes[0]
        out[axis] = shapes.reduce(0) { $0 + $1[axis] }
        var starts: [Int] = [], offsets: [Int] = [], edge = 0, base = 0
        for sh in shapes { starts.append(edge); offsets.append(base); edge += sh[axis]; base += sh.reduce(1, *) }
        return (out, map(out) { idx in
            var p = starts.count - 1
            while starts[p] > idx[axis] { p -= 1 }
            var i = idx
            i[axis] -= starts[p]
            let s = strides(shapes[p])
            return offsets[p] + i.indices.reduce(0) { $0 + i[$1] * s[$1] }
        })
    }
}

