import CSavedModelProto
import Foundation
import Formats

/// TensorFlow's TensorBundle checkpoint (`variables/variables.index` + `variables.data-NNNNN-of-NNNNN`), read
/// without TensorFlow. The index is an immutable sorted table (footer with magic and block handles, blocks with
/// prefix-compressed keys and restart points, each block's masked CRC-32C checked); values are
/// `BundleEntryProto`s pointing into the data shards, whose bytes are checked against the entry's CRC-32C.
public struct TensorBundle: Sendable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        /// TensorFlow DataType number (1 float, 3 int32, 7 string, 9 int64, 10 bool, …).
        public var dtype: Int
        public var shape: [Int]
        public var shard: Int
        public var offset: Int
        public var size: Int
        public var crc32c: UInt32
        public var sliced: Bool
    }

    public let prefix: String
    public let shards: Int
    /// Every entry except the header, in key order.
    public let entries: [Entry]

    static let magic: [UInt8] = [0x57, 0xFB, 0x80, 0x8B, 0x24, 0x75, 0x47, 0xDB]
    static let maxIndexBytes = 1 << 30

    /// Opens `PREFIX.index` (e.g. `DIR/variables/variables`).
    public init(prefix: String) throws {
        let indexPath = prefix + ".index"
        guard let data = FileManager.default.contents(atPath: indexPath) else { throw FormatsError(.io, "cannot read the checkpoint index", file: indexPath) }
        guard data.count <= Self.maxIndexBytes else { throw FormatsError(.absurdShape, "the index is \(data.count) bytes, over the 1 GiB limit", file: indexPath) }
        let table = try SortedTable(bytes: Array(data), path: indexPath)
        var entries: [Entry] = []
        var shards = 1
        for (key, value) in table.pairs {
            if key.isEmpty {
                guard let header = value.withUnsafeBufferPointer({ skiff__tf__bundle_header_proto__unpack(nil, $0.count, $0.baseAddress) }) else {
                    throw FormatsError(.protobufInvalid, "the bundle header is not a BundleHeaderProto", file: indexPath)
                }
                defer { skiff__tf__bundle_header_proto__free_unpacked(header, nil) }
                guard header.pointee.endianness.rawValue == 0 else { throw FormatsError(.bundleInvalid, "the checkpoint is big-endian; only little-endian bundles are supported", file: indexPath) }
                shards = Int(header.pointee.num_shards)
                guard (1...100_000).contains(shards) else { throw FormatsError(.bundleInvalid, "the header says \(shards) shards", file: indexPath) }
                continue
            }
            let name = String(decoding: key, as: UTF8.self)
            guard let e = value.withUnsafeBufferPointer({ skiff__tf__bundle_entry_proto__unpack(nil, $0.count, $0.baseAddress) }) else {
                throw FormatsError(.protobufInvalid, "entry '\(name)' is not a BundleEntryProto", file: indexPath)
            }
            defer { skiff__tf__bundle_entry_proto__free_unpacked(e, nil) }
            var shape: [Int] = []
            if let s = e.pointee.shape {
                for i in 0..<Int(s.pointee.n_dim) { shape.append(Int(s.pointee.dim[i]!.pointee.size)) }
            }
            entries.append(Entry(key: name, dtype: Int(e.pointee.dtype.rawValue), shape: shape, shard: Int(e.pointee.shard_id),
                                 offset: Int(e.pointee.offset), size: Int(e.pointee.size), crc32c: e.pointee.crc32c, sliced: e.pointee.n_slices > 0))
        }
        self.prefix = prefix
        self.shards = shards
        self.entries = entries
    }

    public func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }

    public func shardPath(_ shard: Int) -> String { String(format: "%@.data-%05d-of-%05d", prefix, shard, shards) }

    /// The entry's bytes from its shard, checked against the entry's CRC-32C (raw little-endian for numbers).
    public func bytes(_ key: String) throws -> [UInt8] {
        guard let e = entry(key) else { throw FormatsError(.missingTensor, "the checkpoint has no entry '\(key)'", file: prefix + ".index") }
        guard !e.sliced else { throw FormatsError(.bundleInvalid, "entry '\(key)' is partitioned into slices, which Skiff does not read", file: prefix + ".index") }
        guard e.shard >= 0, e.shard < shards else { throw FormatsError(.bundleInvalid, "entry '\(key)' names shard \(e.shard) of \(shards)", file: prefix + ".index") }
        let path = shardPath(e.shard)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw FormatsError(.io, "cannot read the checkpoint data (entry '\(key)')", file: path) }
        defer { try? handle.close() }
        let length = try handle.seekToEnd()
        guard e.offset >= 0, e.size >= 0, e.offset <= Int(length), e.size <= Int(length) - e.offset else {
            throw FormatsError(.offsetOutOfBounds, "entry '\(key)' spans bytes \(e.offset)..<\(e.offset &+ e.size), past the end of the \(length)-byte shard", file: path)
        }
        try handle.seek(toOffset: UInt64(e.offset))
        let data = Array(try handle.read(upToCount: e.size) ?? Data())
        guard data.count == e.size else { throw FormatsError(.truncated, "entry '\(key)' is cut short", file: path) }
        if e.dtype != 7 && e.dtype != 21 {  // strings and variants carry an interleaved running checksum
            let crc = CRC32C.checksum(data)
            guard crc == CRC32C.unmask(e.crc32c) else {
                throw FormatsError(.tensorChecksum, String(format: "entry '%@' checksum mismatch: computed CRC-32C %08x, index says %08x (the data is corrupted)", key, crc, CRC32C.unmask(e.crc32c)), file: path)
            }
        }
        return data
    }

    /// A numeric entry as values. String and variant entries (vocabularies, file paths, the object graph) are
    /// not weights: reading one as numbers is refused with that reason.
    public func numbers(_ key: String) throws -> [Double] {
        guard let e = entry(key) else { throw FormatsError(.missingTensor, "the checkpoint has no entry '\(key)'", file: prefix + ".index") }
        let width = [1: 4, 2: 8, 3: 4, 9: 8, 4: 1, 6: 1, 10: 1][e.dtype]
        guard let width else {
            throw FormatsError(.unsupportedDType, "entry '\(key)' holds \(SavedModelInfo.dtypeName(e.dtype)) values, which are not model weights (Skiff converts numeric variables only)", file: prefix + ".index")
        }
        let raw = try bytes(key)
        // The shape is the index's claim, the byte count the shard's: compare with checked arithmetic.
        guard let count = GraphLimits.elementCount(e.shape.map { .fixed($0) }), raw.count / width == count, raw.count % width == 0 else { throw FormatsError(.sizeMismatch, "entry '\(key)' has \(raw.count) bytes for shape \(e.shape)", file: prefix + ".index") }
        return raw.withUnsafeBytes { p in
            (0..<count).map { i in
                switch e.dtype {
                case 1: Double(p.loadUnaligned(fromByteOffset: i * 4, as: Float.self))
                case 2: p.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
                case 3: Double(p.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
                case 9: Double(p.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                case 6: Double(p.load(fromByteOffset: i, as: Int8.self))
                default: Double(p.load(fromByteOffset: i, as: UInt8.self))
                }
            }
        }
    }
}

/// The immutable sorted table format TensorFlow uses for `.index` files: blocks of prefix-compressed
/// key/value entries found through an index block, with a fixed 48-byte footer.
struct SortedTable {
    var pairs: [([UInt8], [UInt8])] = []

    init(bytes b: [UInt8], path: String) throws {
        guard b.count >= 48 else { throw FormatsError(.fileTooSmall, "is \(b.count) bytes; a table has a 48-byte footer", file: path) }
        guard Array(b[(b.count - 8)...]) == TensorBundle.magic else {
            throw FormatsError(.badMagic, "does not end with the table magic 57 fb 80 8b 24 75 47 db (not a TensorFlow checkpoint index)", file: path)
        }
        var cursor = b.count - 48
        func varint(_ limit: Int) throws -> Int {
            let at = cursor
            guard let v = ProtoC.varint(b, &cursor, limit: limit) else { throw FormatsError(.tableInvalid, "the varint at byte \(at) runs past its limit or is too large", file: path) }
            return v
        }
        let footerEnd = b.count - 8
        _ = try varint(footerEnd); _ = try varint(footerEnd)  // metaindex handle (empty for bundles)
        let indexOffset = try varint(footerEnd), indexSize = try varint(footerEnd)

        func block(_ offset: Int, _ size: Int, _ what: String) throws -> ArraySlice<UInt8> {
            guard offset >= 0, size >= 0, offset <= b.count - 48, size <= b.count - 48 - offset, 5 <= b.count - 48 - offset - size else {
                throw FormatsError(.offsetOutOfBounds, "the \(what) block at \(offset) (+\(size) bytes) lies outside the file", file: path)
            }
            let type = b[offset + size]
            let stored = UInt32(b[offset + size + 1]) | UInt32(b[offset + size + 2]) << 8 | UInt32(b[offset + size + 3]) << 16 | UInt32(b[offset + size + 4]) << 24
            var crc = CRC32C()
            b.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + size + 1)])) }
            guard crc.value == CRC32C.unmask(stored) else {
                throw FormatsError(.tableChecksum, String(format: "the %@ block at byte %d fails its checksum (computed %08x, stored %08x): the index is corrupted", what, offset, crc.value, CRC32C.unmask(stored)), file: path)
            }
            guard type == 0 else { throw FormatsError(.unsupportedVersion, "the \(what) block is compressed (type \(type)); TensorBundle indexes are written uncompressed", file: path) }
            return b[offset..<(offset + size)]
        }

        func entries(_ contents: ArraySlice<UInt8>, _ what: String) throws -> [([UInt8], [UInt8])] {
            let start = contents.startIndex, end = contents.endIndex
            guard contents.count >= 4 else { throw FormatsError(.tableInvalid, "the \(what) block is \(contents.count) bytes", file: path) }
            let n = Int(UInt32(b[end - 4]) | UInt32(b[end - 3]) << 8 | UInt32(b[end - 2]) << 16 | UInt32(b[end - 1]) << 24)
            guard n <= (contents.count - 4) / 4 else { throw FormatsError(.tableInvalid, "the \(what) block claims \(n) restart points", file: path) }
            let limit = end - 4 * (n + 1)
            var out: [([UInt8], [UInt8])] = []
            var key: [UInt8] = []
            cursor = start
            while cursor < limit {
                let shared = try varint(limit), unshared = try varint(limit), valueLength = try varint(limit)
                guard shared <= key.count, unshared <= limit - cursor, valueLength <= limit - cursor - unshared else {
                    throw FormatsError(.tableInvalid, "an entry in the \(what) block at byte \(cursor) has lengths past the block", file: path)
                }
                key = Array(key[..<shared]) + b[cursor..<(cursor + unshared)]
                cursor += unshared
                out.append((key, Array(b[cursor..<(cursor + valueLength)])))
                cursor += valueLength
                guard out.count <= 10_000_000 else { throw FormatsError(.tableInvalid, "too many entries", file: path) }
            }
            return out
        }

        for (_, handle) in try entries(try block(indexOffset, indexSize, "index"), "index") {
            var c = 0
            guard let offset = ProtoC.varint(handle, &c, limit: handle.count), let size = ProtoC.varint(handle, &c, limit: handle.count) else {
                throw FormatsError(.tableInvalid, "a block handle in the index is malformed", file: path)
            }
            pairs += try entries(try block(offset, size, "data"), "data")
        }
    }
}
