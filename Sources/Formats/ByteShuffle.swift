import CSkiffKernels

/// The byte-shuffle filter of `.skiff` encoding 2: byte k of element i moves to k·n + i, so the
/// sign/exponent bytes of floats sit together and compress better.
enum ByteShuffle {
    static func shuffle(_ src: UnsafeRawBufferPointer, elementSize s: Int, into dst: UnsafeMutableRawBufferPointer) {
        precondition(src.count == dst.count && src.count % s == 0)
        let n = src.count / s
        guard n > 0 else { return }
        for k in 0..<s {
            let plane = k * n
            for i in 0..<n { dst[plane + i] = src[i * s + k] }
        }
    }

    /// The inverse, by the vector kernel (`skiff_unshuffle`), in blocks of 16 KiB of output; CRC-32C runs over each
    /// block while it is still in cache (one pass over the weights at load instead of two). Returns that CRC-32C.
    @discardableResult
    static func unshuffle(_ src: UnsafeRawBufferPointer, elementSize s: Int, into dst: UnsafeMutableRawBufferPointer) -> UInt32 {
        precondition(src.count == dst.count && src.count % s == 0)
        let n = src.count / s
        var crc = CRC32C()
        guard n > 0, let from = src.baseAddress, let to = dst.baseAddress else { return crc.value }
        let block = max(16, 16384 / s)
        var i = 0
        while i < n {
            let end = min(i + block, n)
            skiff_unshuffle(from.assumingMemoryBound(to: UInt8.self), n, s, to.assumingMemoryBound(to: UInt8.self), i, end)
            crc.update(UnsafeRawBufferPointer(start: to + i * s, count: (end - i) * s))
            i = end
        }
        return crc.value
    }

    /// The definition the vector kernel is tested against.
    static func unshuffleDefinition(_ src: UnsafeRawBufferPointer, elementSize s: Int, into dst: UnsafeMutableRawBufferPointer) {
        precondition(src.count == dst.count && src.count % s == 0)
        let n = src.count / s
        guard n > 0 else { return }
        for k in 0..<s {
            let plane = k * n
            for i in 0..<n { dst[i * s + k] = src[plane + i] }
        }
    }
}
