import Formats

/// Reference dense and matmul kernels.
enum DenseKernels {
    /// y[..., o] = Σ_i x[..., i]·k[i, o] + b[o], then the fused activation.
    static func dense(_ x: View, _ k: View, _ bias: View?, _ activation: Activation?, _ out: UnsafeMutableBufferPointer<Float>) {
        let (inF, outF) = (k.shape[0], k.shape[1])
        let rows = x.count / max(inF, 1)
        for r in 0..<rows { for o in 0..<outF {
            var sum: Float = bias.map { $0.data[o] } ?? 0
            for i in 0..<inF { sum += x.data[r * inF + i] * k.data[i * outF + o] }
            out[r * outF + o] = activation.map { $0(sum) } ?? sum
        } }
    }

    /// Batched matrix product with broadcasting of the leading (batch) dimensions.
    static func matmul(_ a: View, _ b: View, transposeA: Bool, transposeB: Bool, _ out: UnsafeMutableBufferPointer<Float>, _ outShape: [Int]) {
        let ra = a.shape.count, rb = b.shape.count, ro = outShape.count
        let m = outShape[ro - 2], n = outShape[ro - 1]
        let k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1]
        let batch = Array(outShape.dropLast(2))
        let batchCount = batch.reduce(1, *)
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        for bi in 0..<batchCount {
            let idx = Broadcast.unravel(bi, batch)
            let ao = Broadcast.offset(idx, aBatch) * a.shape[ra - 2] * a.shape[ra - 1]
            let bo = Broadcast.offset(idx, bBatch) * b.shape[rb - 2] * b.shape[rb - 1]
            for i in 0..<m { for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k {
                    let av = transposeA ? a.data[ao + p * m + i] : a.data[ao + i * k + p]
                    let bv = transposeB ? b.data[bo + j * k + p] : b.data[bo + p * n + j]
                    sum += av * bv
                }
                out[(bi * m + i) * n + j] = sum
            } }
        }
    }
}
