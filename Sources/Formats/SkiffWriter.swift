import Foundation

/// Builds a `.skiff` file: a manifest plus tensors, each tensor encoded independently.
///
/// Encoding is chosen per tensor (docs/FORMAT.md §7): float data tries `shuffle-zstd` and `zstd`, others
/// `zstd`; the smallest wins unless it saves less than `minimumSaving`, in which case the tensor is
/// `stored` so readers can use it in place. Tensors are encoded in parallel.
public struct SkiffWriter {
    public struct Options: Sendable {
        /// zstd level (1 … 19).
        public var level: Int32 = 9
        /// A compressed encoding must save at least this fraction of the raw size to be used.
        public var minimumSaving: Double = 0.03
        /// Forces one encoding for every tensor (tests and benchmarks); nil chooses per tensor.
        public var forcedEncoding: TensorEncoding?
        public init() {}
    }

    /// What the writer did, per tensor and in total.
    public struct Summary: Sendable {
        public var fileLength: Int
        public var rawTensorBytes: Int
        public var storedTensorBytes: Int
        public var tensors: [TensorEntry]
    }

    struct Pending: Sendable {
        var name: String
        var dtype: DType
        var shape: [Int]
        var raw: [UInt8]
    }

    public var manifest: SkiffManifest
    public var options: Options
    private var pending: [Pending] = []
    private var names: Set<String> = []

    public init(manifest: SkiffManifest, options: Options = Options()) {
        self.manifest = manifest
        self.options = options
    }

    /// Adds a tensor from raw little-endian bytes.
    /// - Throws: if the name is taken or the byte count does not match `shape` × dtype size.
    public mutating func addTensor(_ name: String, dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        guard let size = dtype.size else { throw FormatsError(.unsupportedDType, "tensor '\(name)': dtype \(dtype) cannot be written yet") }
        guard !name.isEmpty, name.utf8.count <= SkiffLayout.maxNameLength else {
            throw FormatsError(.badName, "tensor name '\(name.prefix(40))…' must be 1 … \(SkiffLayout.maxNameLength) bytes")
        }
        guard shape.count <= SkiffLayout.maxRank, shape.allSatisfy({ $0 >= 0 && UInt64($0) <= SkiffLayout.maxDimension }) else {
            throw FormatsError(.absurdShape, "tensor '\(name)' has shape \(shape); expected rank ≤ 8 and dimensions 0 … 2^40")
        }
        guard shape.reduce(1, *) * size == bytes.count else {
            throw FormatsError(.sizeMismatch, "tensor '\(name)' has \(bytes.count) bytes, expected \(shape.reduce(1, *) * size) for \(dtype) \(shape)")
        }
        guard names.insert(name).inserted else { throw FormatsError(.duplicateName, "tensor '\(name)' is added twice") }
        pending.append(Pending(name: name, dtype: dtype, shape: shape, raw: bytes))
    }

    /// Adds a float tensor, optionally narrowing it to float16 storage.
    public mutating func addTensor(_ name: String, floats: [Float], shape: [Int], storage: DType = .float32) throws {
        switch storage {
        case .float32:
            try addTensor(name, dtype: .float32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
        case .float16:
            let halves = floats.map { Float16($0).bitPattern.littleEndian }
            try addTensor(name, dtype: .float16, shape: shape, bytes: halves.withUnsafeBytes { Array($0) })
        default:
            throw FormatsError(.unsupportedDType, "tensor '\(name)': float data cannot be stored as \(storage)")
        }
    }

    /// Adds float weights quantised to int8, symmetric, one scale per channel: channel of element i is
    /// i mod `channels` (the last axis of HWIO / [in, out] kernels, the last two of depthwise filters).
    /// The scales go into the float32 tensor `<name>:scale`. Returns the largest absolute rounding error.
    @discardableResult
    public mutating func addQuantizedTensor(_ name: String, floats: [Float], shape: [Int], channels: Int) throws -> Float {
        guard channels >= 1, floats.count % channels == 0 else {
            throw FormatsError(.sizeMismatch, "tensor '\(name)': \(floats.count) values do not split into \(channels) channels")
        }
        let (q, scales) = Int8Quantization.quantize(floats, channels: channels)
        let back = Int8Quantization.dequantize(q, scales: scales)
        let worst = zip(back, floats).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        try addTensor(name, dtype: .int8q, shape: shape, bytes: q.map { UInt8(bitPattern: $0) })
        try addTensor(name + SkiffLayout.scaleSuffix, floats: scales, shape: [channels])
        return worst
    }

    /// The complete file's bytes.
    public func serialize() throws -> (bytes: [UInt8], summary: Summary) {
        try manifest.validate()
        let byName = Dictionary(pending.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for c in manifest.graph.allGraphs.flatMap(\.constants) {
            guard let t = byName[c.name] else { throw FormatsError(.missingTensor, "constant '\(c.name)' has no tensor; add it with addTensor") }
            guard c.shape == t.shape.map(Dim.fixed), c.dtype == t.dtype || (c.dtype == .float32 && (t.dtype == .float16 || t.dtype == .int8q)) else {
                throw FormatsError(.sizeMismatch, "constant '\(c.name)' is \(c.dtype) \(c.shape.map(\.description)) in the graph but the tensor is \(t.dtype) \(t.shape)")
            }
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifestBytes = Array(try encoder.encode(manifest))
        guard manifestBytes.count <= SkiffLayout.maxManifestLength else {
            throw FormatsError(.manifestTooLarge, "manifest is \(manifestBytes.count) bytes, more than the limit of \(SkiffLayout.maxManifestLength)")
        }

        let encoded = try encodeAll()

        // Table (offsets are known once the table size is).
        var tableSize = 8
        for t in pending { tableSize += 2 + t.name.utf8.count + 4 + 8 * t.shape.count + 8 * 3 + 4 }
        let tableOffset = SkiffLayout.headerSize + manifestBytes.count
        var offset = SkiffLayout.alignUp(tableOffset + tableSize)
        var entries: [TensorEntry] = []
        var table = ByteWriter()
        table.u32(UInt32(pending.count)); table.u32(0)
        for (t, e) in zip(pending, encoded) {
            let entry = TensorEntry(name: t.name, dtype: t.dtype, encoding: e.encoding, shape: t.shape, offset: offset,
                                    storedLength: e.stored.count, rawLength: t.raw.count, rawCRC32C: e.crc)
            entries.append(entry)
            table.u16(UInt16(t.name.utf8.count)); table.append(Array(t.name.utf8))
            table.u8(t.dtype.rawValue); table.u8(e.encoding.rawValue); table.u8(UInt8(t.shape.count)); table.u8(0)
            for d in t.shape { table.u64(UInt64(d)) }
            table.u64(UInt64(offset)); table.u64(UInt64(e.stored.count)); table.u64(UInt64(t.raw.count)); table.u32(e.crc)
            offset = SkiffLayout.alignUp(offset + e.stored.count)
        }
        guard table.bytes.count <= SkiffLayout.maxTableLength else {
            throw FormatsError(.tableInvalid, "tensor table is \(table.bytes.count) bytes, more than the limit of \(SkiffLayout.maxTableLength)")
        }
        assert(table.bytes.count == tableSize)
        let fileLength = entries.last.map { $0.offset + $0.storedLength } ?? (tableOffset + tableSize)

        var file = [UInt8](repeating: 0, count: fileLength)
        file.replaceSubrange(64..<(64 + manifestBytes.count), with: manifestBytes)
        file.replaceSubrange(tableOffset..<(tableOffset + tableSize), with: table.bytes)
        for (entry, e) in zip(entries, encoded) {
            file.replaceSubrange(entry.offset..<(entry.offset + e.stored.count), with: e.stored)
        }
        let body = file.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[64...])) }
        // The lowest version that describes the file, so older readers open what they can.
        let major: UInt16 = manifest.graph.needsVersion2 ? 2 : 1
        let minor = major == 2 ? 0 : entries.contains { $0.dtype == .int8q } ? SkiffLayout.int8MinorVersion : 0
        let header = SkiffHeader(majorVersion: major, minorVersion: minor, flags: 0,
                                 fileLength: UInt64(fileLength), manifestOffset: 64, manifestLength: UInt64(manifestBytes.count),
                                 tableOffset: UInt64(tableOffset), tableLength: UInt64(tableSize), bodyCRC32C: body, headerCRC32C: 0)
        file.replaceSubrange(0..<64, with: header.encoded())
        let summary = Summary(fileLength: fileLength, rawTensorBytes: entries.reduce(0) { $0 + $1.rawLength },
                              storedTensorBytes: entries.reduce(0) { $0 + $1.storedLength }, tensors: entries)
        return (file, summary)
    }

    /// Writes the file atomically (temporary file + rename): a failure never leaves a partial file.
    @discardableResult
    public func write(to path: String) throws -> Summary {
        let (bytes, summary) = try serialize()
        try AtomicFile.write(bytes, to: path)
        return summary
    }

    private struct Encoded: Sendable {
        var encoding: TensorEncoding
        var stored: [UInt8]
        var crc: UInt32
    }

    private func encodeAll() throws -> [Encoded] {
        let pending = self.pending, options = self.options
        return try parallelMap(pending.count) { try Self.encode(pending[$0], options) }
    }

    private static func encode(_ t: Pending, _ options: Options) throws -> Encoded {
        let crc = CRC32C.checksum(t.raw)
        let isFloat = t.dtype == .float32 || t.dtype == .float16 || t.dtype == .float64
        var candidates: [(TensorEncoding, [UInt8])] = []
        func shuffled() throws -> [UInt8] {
            var tmp = [UInt8](repeating: 0, count: t.raw.count)
            t.raw.withUnsafeBytes { src in tmp.withUnsafeMutableBytes { ByteShuffle.shuffle(src, elementSize: t.dtype.size!, into: $0) } }
            return try tmp.withUnsafeBytes { try Zstd.compress($0, level: options.level) }
        }
        switch options.forcedEncoding {
        case .stored?: return Encoded(encoding: .stored, stored: t.raw, crc: crc)
        case .zstd?: return Encoded(encoding: .zstd, stored: try t.raw.withUnsafeBytes { try Zstd.compress($0, level: options.level) }, crc: crc)
        case .shuffleZstd?: return Encoded(encoding: .shuffleZstd, stored: try shuffled(), crc: crc)
        case nil: break
        }
        guard !t.raw.isEmpty else { return Encoded(encoding: .stored, stored: [], crc: crc) }
        candidates.append((.zstd, try t.raw.withUnsafeBytes { try Zstd.compress($0, level: options.level) }))
        if isFloat { candidates.append((.shuffleZstd, try shuffled())) }
        let best = candidates.min { $0.1.count < $1.1.count }!
        if Double(best.1.count) > Double(t.raw.count) * (1 - options.minimumSaving) {
            return Encoded(encoding: .stored, stored: t.raw, crc: crc)
        }
        return Encoded(encoding: best.0, stored: best.1, crc: crc)
    }
}
