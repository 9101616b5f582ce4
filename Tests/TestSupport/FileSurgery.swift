import Foundation
import Formats
import Importers

/// Edits `.skiff` bytes in place to build malformed files, then optionally recomputes the checksums
/// ("reseals") so that the rule under test, not a checksum, is what the reader trips on.
public struct FileSurgery {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func u64(at o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } }
    public func u32(at o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * UInt32($1)) } }
    public mutating func setU64(_ v: UInt64, at o: Int) { for i in 0..<8 { bytes[o + i] = UInt8((v >> (8 * UInt64(i))) & 0xFF) } }
    public mutating func setU32(_ v: UInt32, at o: Int) { for i in 0..<4 { bytes[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
    public mutating func setU16(_ v: UInt16, at o: Int) { bytes[o] = UInt8(v & 0xFF); bytes[o + 1] = UInt8(v >> 8) }

    public var manifestRange: Range<Int> { 64..<(64 + Int(u64(at: 32))) }
    public var tableOffset: Int { Int(u64(at: 40)) }

    /// Byte positions of one tensor-table entry's fields.
    public struct EntryFields {
        public var nameLength: Int, name: Int, dtype: Int, encoding: Int, rank: Int, dims: Int
        public var offset: Int, storedLength: Int, rawLength: Int, crc: Int
    }

    public func entries() -> [EntryFields] {
        var p = tableOffset
        let count = Int(u32(at: p))
        p += 8
        var out: [EntryFields] = []
        for _ in 0..<count {
            let nl = Int(bytes[p]) | Int(bytes[p + 1]) << 8
            let name = p + 2
            let dtype = name + nl
            let rank = Int(bytes[dtype + 2])
            let dims = dtype + 4
            let offset = dims + 8 * rank
            out.append(EntryFields(nameLength: p, name: name, dtype: dtype, encoding: dtype + 1, rank: dtype + 2, dims: dims,
                                   offset: offset, storedLength: offset + 8, rawLength: offset + 16, crc: offset + 24))
            p = offset + 28
        }
        return out
    }

    /// Applies `edit` to the manifest and writes it back in place, keeping the manifest's byte length so the
    /// tensor table and data do not move: shorter JSON is padded with spaces; longer JSON first sheds the
    /// metadata, labels and provenance details. Then reseals.
    public mutating func editManifest(_ edit: (inout SkiffManifest) -> Void) throws {
        let length = manifestRange.count
        var m = try JSONDecoder().decode(SkiffManifest.self, from: Data(bytes[manifestRange]))
        edit(&m)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var json = Array(try encoder.encode(m))
        if json.count > length {
            m.metadata = nil
            m.labels = nil
            m.provenance.sourceFile = nil
            m.provenance.options = nil
            json = Array(try encoder.encode(m))
        }
        precondition(json.count <= length, "the edited manifest is \(json.count) bytes, more than the \(length) available")
        bytes.replaceSubrange(manifestRange, with: json + Array(repeating: UInt8(ascii: " "), count: length - json.count))
        reseal()
    }

    /// Recomputes the body and header checksums.
    public mutating func reseal() {
        setU32(CRC32C.checksum(Array(bytes[64...])), at: 56)
        setU32(CRC32C.checksum(Array(bytes[0..<60])), at: 60)
    }
}
