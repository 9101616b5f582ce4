import Foundation

/// A `.skiff` file opened for reading.
///
/// Opening validates everything docs/FORMAT.md requires before any tensor is touched: header, version,
/// checksums, sizes, offsets, overlaps, shapes, the manifest and its references. Tensor bytes are decoded
/// lazily and on demand (`tensorBytes(_:)`); `stored` tensors are returned as views of the file mapping.
///
/// - Throws: `FormatsError` naming the file and the rule that failed.
public final class SkiffFile: Sendable {
    public let path: String
    public let header: SkiffHeader
    public let manifest: SkiffManifest
    /// Table entries in file order.
    public let tensors: [TensorEntry]
    private let index: [String: Int]
    private let storage: any ByteStorage

    /// Opens and validates a file, memory-mapping it.
    public convenience init(path: String) throws {
        let mapped = try MappedFile(path: path)
        try self.init(storage: mapped, path: path)
    }

    /// Validates a file already in memory (`path` is only used in messages).
    public convenience init(bytes: [UInt8], path: String = "<memory>") throws {
        try self.init(storage: OwnedBytes(bytes), path: path)
    }

    init(storage: any ByteStorage, path: String) throws {
        self.path = path
        self.storage = storage
        do {
            let (header, manifest, tensors) = try Self.validate(storage.bytes)
            self.header = header
            self.manifest = manifest
            self.tensors = tensors
            self.index = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        } catch let e as FormatsError {
            throw e.inFile(path)
        }
    }

    public func entry(_ name: String) -> TensorEntry? { index[name].map { tensors[$0] } }

    /// Lets the OS reclaim the file's pages once its tensors are decoded (stored tensors used in place
    /// are paged back in on use). Lowers a loaded model's resident memory by up to the file size.
    public func releaseResidentPages() {
        (storage as? MappedFile)?.releaseResidentPages()
    }

    /// Total size of the file in bytes.
    public var fileLength: Int { storage.bytes.count }

    /// The raw (decoded) little-endian bytes of a tensor, checksum-verified. `stored` tensors are views
    /// of the mapping; compressed ones are decoded into a new aligned buffer on each call. A `scratch` pool
    /// lends the buffer that shuffled tensors are decompressed into before they are un-shuffled.
    /// `into` places a compressed tensor's decoded bytes in an arena at an offset (64-byte aligned, `rawLength`
    /// bytes free) instead of a buffer of its own.
    public func tensorBytes(_ name: String, scratch: ScratchPool? = nil, into arena: (DecodeArena, offset: Int)? = nil) throws -> TensorBytes {
        guard let i = index[name] else {
            throw FormatsError(.missingTensor, "no tensor named '\(name)' in the tensor table", file: path)
        }
        do {
            return try decode(tensors[i], scratch: scratch ?? ScratchPool(), into: arena)
        } catch let e as FormatsError {
            throw e.inFile(path)
        }
    }

    /// A tensor's values as `Float`s, widening float16 storage.
    public func floats(_ name: String) throws -> [Float] {
        let t = try tensorBytes(name)
        guard let e = entry(name) else { return [] }
        switch e.dtype {
        case .float32:
            return [Float](unsafeUninitializedCapacity: e.elementCount) { buf, n in
                _ = t.bytes.copyBytes(to: UnsafeMutableRawBufferPointer(buf))
                n = e.elementCount
            }
        case .float16:
            return (0..<e.elementCount).map { Float(Float16(bitPattern: UInt16(littleEndian: t.bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
        case .int8q:
            let scales = try floats(name + SkiffLayout.scaleSuffix)
            let c = scales.count
            return (0..<e.elementCount).map { Float(Int8(bitPattern: t.bytes[$0])) * scales[$0 % c] }
        default:
            throw FormatsError(.sizeMismatch, "tensor '\(name)' is \(e.dtype), expected float32, float16 or int8q", file: path)
        }
    }

    private func decode(_ e: TensorEntry, scratch: ScratchPool, into arena: (DecodeArena, offset: Int)?) throws -> TensorBytes {
        func destination() -> (any ByteStorage, UnsafeMutableRawBufferPointer) {
            if let (a, offset) = arena { return (a, a.slice(offset, e.rawLength)) }
            let b = OwnedBytes(count: e.rawLength)
            return (b, b.mutableBytes)
        }
        let stored = UnsafeRawBufferPointer(rebasing: storage.bytes[e.offset..<(e.offset + e.storedLength)])
        let what = "tensor '\(e.name)'"
        switch e.encoding {
        case .stored:
            // Covered by the body checksum checked at open.
            return TensorBytes(storage: storage, bytes: stored)
        case .zstd:
            let (owner, out) = destination()
            try Zstd.decompress(stored, into: out, what: what)
            try Self.checkCRC(UnsafeRawBufferPointer(out), e)
            return TensorBytes(storage: owner, bytes: UnsafeRawBufferPointer(out))
        case .shuffleZstd:
            let (owner, out) = destination()
            let crc = try scratch.withBuffer(e.rawLength) { tmp in
                try Zstd.decompress(stored, into: tmp, what: what)
                return ByteShuffle.unshuffle(UnsafeRawBufferPointer(tmp), elementSize: e.dtype.size!, into: out)
            }
            try Self.checkCRC(crc, e)
            return TensorBytes(storage: owner, bytes: UnsafeRawBufferPointer(out))
        }
    }

    private static func checkCRC(_ raw: UnsafeRawBufferPointer, _ e: TensorEntry) throws {
        try checkCRC(CRC32C.checksum(raw), e)
    }

    private static func checkCRC(_ crc: UInt32, _ e: TensorEntry) throws {
        guard crc == e.rawCRC32C else {
            throw FormatsError(.tensorChecksum, "tensor '\(e.name)' checksum mismatch: computed CRC-32C \(Hex.u32(crc)), table says \(Hex.u32(e.rawCRC32C)) (the tensor data is corrupted)")
        }
    }
}
