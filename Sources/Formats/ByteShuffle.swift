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

    static func unshuffle(_ src: UnsafeRawBufferPointer, elementSize s: Int, into dst: UnsafeMutableRawBufferPointer) {
        precondition(src.count == dst.count && src.count % s == 0)
        let n = src.count / s
        guard n > 0 else { return }
        for k in 0..<s {
            let plane = k * n
            for i in 0..<n { dst[i * s + k] = src[plane + i] }
        }
    }
}
