/// The fixed numbers of the `.skiff` layout (docs/FORMAT.md §3, §5, §8).
public enum SkiffLayout {
    public static let magic: [UInt8] = [0x89, 0x53, 0x4B, 0x49, 0x46, 0x46, 0x0D, 0x0A]
    /// The newest version this code reads and writes (docs/FORMAT.md §3.1, §9). Files use the lowest version
    /// that describes them: a classifier is written as 1.0 or 1.1, so older readers keep reading it; 2.0 is
    /// for graphs with typed values, several outputs per node or a function library.
    public static let majorVersion: UInt16 = 2
    public static let minorVersion: UInt16 = 0
    /// Major versions this code reads.
    public static let readableMajorVersions: ClosedRange<UInt16> = 1...2
    /// Minor version that introduced `int8q`.
    public static let int8MinorVersion: UInt16 = 1
    /// Suffix of the float32 scale tensor that accompanies an `int8q` tensor.
    public static let scaleSuffix = ":scale"
    public static let headerSize = 64
    public static let alignment = 64
    public static let maxManifestLength = 64 << 20
    public static let maxTableLength = 64 << 20
    public static let maxTensorCount = 1 << 20
    public static let maxNameLength = 1024
    public static let maxRank = 8
    public static let maxDimension: UInt64 = 1 << 40
    /// Smallest possible table entry: a 1-byte name, rank 0.
    /// u16 name length + 1 name byte + 4 u8 fields + 3 u64 (offset, lengths) + u32 checksum.
    static let minEntrySize = 35

    public static func alignUp(_ x: Int) -> Int { (x + alignment - 1) / alignment * alignment }
}

/// The 64-byte header (docs/FORMAT.md §3).
public struct SkiffHeader: Hashable, Sendable {
    public var majorVersion: UInt16
    public var minorVersion: UInt16
    public var flags: UInt32
    public var fileLength: UInt64
    public var manifestOffset: UInt64
    public var manifestLength: UInt64
    public var tableOffset: UInt64
    public var tableLength: UInt64
    public var bodyCRC32C: UInt32
    public var headerCRC32C: UInt32

    /// Serialises the header, computing `headerCRC32C` over bytes 0..<60.
    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.append(SkiffLayout.magic)
        w.u16(majorVersion); w.u16(minorVersion); w.u32(flags)
        w.u64(fileLength); w.u64(manifestOffset); w.u64(manifestLength)
        w.u64(tableOffset); w.u64(tableLength); w.u32(bodyCRC32C)
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }
}

/// One row of the tensor table (docs/FORMAT.md §5).
public struct TensorEntry: Hashable, Sendable {
    public var name: String
    public var dtype: DType
    public var encoding: TensorEncoding
    public var shape: [Int]
    public var offset: Int
    public var storedLength: Int
    public var rawLength: Int
    public var rawCRC32C: UInt32

    public var elementCount: Int { shape.reduce(1, *) }
    /// stored / raw bytes (1 for empty tensors).
    public var ratio: Double { rawLength == 0 ? 1 : Double(storedLength) / Double(rawLength) }
}
