import CSkiffKernels

/// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF.
/// Used for `.skiff` checksums and, unmasked or masked, by TensorFlow's checkpoint files.
/// The SSE4.2 `crc32` instruction computes it when the CPU has it; the slicing-by-8 tables below are the
/// definition and the fallback (tests check both agree).
public struct CRC32C: Sendable {
    static let hardware = skiff_has_crc32c_hw() != 0

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
    private static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        if Self.hardware {
            state = skiff_crc32c_hw(state, base, buffer.count)
            return
        }
        updateSoftware(buffer)
    }

    /// The table-driven definition (always available).
    public mutating func updateSoftware(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        var crc = state
        var i = 0
        let n = buffer.count
        Self.tables.withUnsafeBufferPointer { tables in
            let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
            let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
            t0.withUnsafeBufferPointer { t0 in t1.withUnsafeBufferPointer { t1 in
            t2.withUnsafeBufferPointer { t2 in t3.withUnsafeBufferPointer { t3 in
            t4.withUnsafeBufferPointer { t4 in t5.withUnsafeBufferPointer { t5 in
            t6.withUnsafeBufferPointer { t6 in t7.withUnsafeBufferPointer { t7 in
                while n - i >= 8 {
                    let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                    let lo = UInt32(truncatingIfNeeded: word) ^ crc
                    let hi = UInt32(truncatingIfNeeded: word >> 32)
                    crc = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)] ^ t4[Int(lo >> 24)]
                        ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)] ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                    i += 8
                }
                while i < n {
                    crc = t0[Int((crc ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                    i += 1
                }
            } } } } } } } }
        }
        state = crc
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    public static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32C()
        c.update(buffer)
        return c.value
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    /// The masked form TensorFlow stores in checkpoints: rotate right by 15, add 0xa282ead8.
    public static func mask(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }
    public static func unmask(_ masked: UInt32) -> UInt32 {
        let r = masked &- 0xA282_EAD8
        return (r >> 17) | (r << 15)
    }
}
