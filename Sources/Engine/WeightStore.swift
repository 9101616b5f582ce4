import Formats

/// A model's constants, decoded once at load and ready for kernels as float32.
///
/// float32 tensors stored uncompressed are used in place from the file mapping (no copy); compressed
/// ones are decoded in parallel, one tensor per task; float16 storage is widened to float32.
public final class WeightStore: @unchecked Sendable {
    public struct Weight: @unchecked Sendable {
        public let shape: [Int]
        /// float32 values; valid while the store lives.
        public let values: UnsafeBufferPointer<Float>
        public let isZeroCopy: Bool
        let owner: AnyObject
    }

    public private(set) var weights: [String: Weight] = [:]
    /// Integer and bool constants of a converted model (format 2.0), for the general executor.
    public private(set) var integerConstants: [String: ConstantData] = [:]

    /// Decodes every constant of `file`'s graph.
    /// - Throws: `FormatsError` on a checksum or decoding failure, naming the tensor.
    public init(file: SkiffFile) throws {
        let constants = file.manifest.graph.constants.filter { [.float32, .float16, .int8q].contains(file.entry($0.name)?.dtype) }
        // Largest first: the scratch buffers are allocated at their final size, and the long tasks start early.
        let order = constants.sorted { (file.entry($0.name)?.rawLength ?? 0) > (file.entry($1.name)?.rawLength ?? 0) }
        // Every compressed float32 tensor decodes into one arena (huge pages where the kernel offers them).
        var offsets: [String: Int] = [:], total = 0
        for c in order {
            guard let e = file.entry(c.name), e.dtype == .float32, e.encoding != .stored, offsets[c.name] == nil else { continue }
            offsets[c.name] = total
            total += SkiffLayout.alignUp(e.rawLength)
        }
        let arena = total > 0 ? DecodeArena(count: total) : nil
        let scratch = ScratchPool()
        let places = order.map { c in arena.flatMap { a in offsets[c.name].map { (a, offset: $0) } } }
        let loaded = try parallelMap(order.count) { i in try Self.load(order[i], from: file, scratch: scratch, into: places[i]) }
        weights = Dictionary(zip(order.map(\.name), loaded), uniquingKeysWith: { a, _ in a })
        file.releaseResidentPages()
    }

    /// Weights already in memory (a converted model before it is written).
    public init(_ data: [String: ConstantData]) {
        integerConstants = data.filter { $0.value.dtype != .float32 }
        for (name, d) in data where d.dtype == .float32 {
            let box = FloatBox(d.values)
            weights[name] = Weight(shape: d.shape, values: box.buffer, isZeroCopy: false, owner: box)
        }
    }

    public subscript(name: String) -> Weight? { weights[name] }

    private static func load(_ c: ValueInfo, from file: SkiffFile, scratch: ScratchPool, into arena: (DecodeArena, offset: Int)?) throws -> Weight {
        guard let entry = file.entry(c.name) else { throw FormatsError(.missingTensor, "constant '\(c.name)' has no tensor", file: file.path) }
        let raw = try file.tensorBytes(c.name, scratch: scratch, into: arena)
        switch entry.dtype {
        case .float32 where Int(bitPattern: raw.bytes.baseAddress) % MemoryLayout<Float>.alignment == 0:
            let p = raw.bytes.baseAddress.map { UnsafeBufferPointer(start: $0.assumingMemoryBound(to: Float.self), count: entry.elementCount) }
                ?? UnsafeBufferPointer(start: nil, count: 0)
            return Weight(shape: entry.shape, values: p, isZeroCopy: raw.isZeroCopy, owner: raw.storage)
        default:
            let floats = try file.floats(c.name)
            let box = FloatBox(floats)
            return Weight(shape: entry.shape, values: box.buffer, isZeroCopy: false, owner: box)
        }
    }
}

final class FloatBox: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<Float>
    init(_ values: [Float]) {
        let p = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(values.count, 1))
        _ = p.initialize(from: values)
        buffer = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(p)[0..<values.count])
    }
    deinit { UnsafeMutableBufferPointer(mutating: buffer).deallocate() }
}
