/// A read-only float32 view with a shape (row-major, NHWC for images).
public struct View: @unchecked Sendable {
    public let shape: [Int]
    public let data: UnsafeBufferPointer<Float>
    public var count: Int { data.count }
}

/// An owned, 64-byte aligned float buffer for intermediate values; returned to a `BufferPool` when
/// the value's last consumer has run.
final class Buffer: @unchecked Sendable {
    let capacity: Int
    let pointer: UnsafeMutablePointer<Float>

    init(capacity: Int) {
        self.capacity = capacity
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    func view(_ shape: [Int]) -> View { View(shape: shape, data: UnsafeBufferPointer(start: pointer, count: shape.reduce(1, *))) }
    func mutable(_ count: Int) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

/// Reuses released buffers: a request takes the smallest free buffer that is large enough.
final class BufferPool {
    private var free: [Buffer] = []
    private(set) var allocatedBytes = 0

    func take(_ count: Int) -> Buffer {
        if let i = free.indices.filter({ free[$0].capacity >= count }).min(by: { free[$0].capacity < free[$1].capacity }) {
            return free.remove(at: i)
        }
        allocatedBytes += count * 4
        return Buffer(capacity: count)
    }

    func give(_ b: Buffer) { free.append(b) }
}
