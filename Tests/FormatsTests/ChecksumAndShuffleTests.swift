import Testing
@testable import Formats
@testable import Importers
import TestSupport

@Suite struct ChecksumAndShuffleTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // 32 zero bytes: RFC 3720 B.4 test vector.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func incrementalCRCEqualsOneShotAcrossSlicingBoundaries() {
        var rng = SeededRandom(seed: 1)
        let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            var c = CRC32C()
            c.update(Array(data[..<split]))
            c.update(Array(data[split...]))
            #expect(c.value == CRC32C.checksum(data))
        }
    }

    @Test func hardwareCRCAgreesWithTheTableDefinition() {
        var rng = SeededRandom(seed: 7)
        let data = (0..<40_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        // Lengths from 3 × 4096 up take the hardware path's three interleaved streams (joined by the shift tables).
        for (start, length) in [(0, 0), (0, 1), (1, 7), (3, 8), (5, 9), (0, 64), (13, 1000), (0, 4099), (2, 4097),
                                (0, 12_287), (0, 12_288), (1, 12_289), (5, 24_593), (3, 36_863), (0, 40_000)] {
            let slice = Array(data[start..<(start + length)])
            var table = CRC32C()
            slice.withUnsafeBytes { table.updateSoftware($0) }
            #expect(CRC32C.checksum(slice) == table.value, "offset \(start), length \(length)")
        }
    }

    @Test func maskRoundTripsAndMatchesTheRotateAddRule() {
        for crc: UInt32 in [0, 1, 0xE306_9283, 0xFFFF_FFFF] {
            #expect(CRC32C.unmask(CRC32C.mask(crc)) == crc)
        }
        #expect(CRC32C.mask(0) == 0xA282_EAD8)
    }

    @Test func shuffleGroupsByteKOfEveryElement() {
        let raw: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]  // two 4-byte elements
        var out = [UInt8](repeating: 0, count: 8)
        raw.withUnsafeBytes { src in out.withUnsafeMutableBytes { ByteShuffle.shuffle(src, elementSize: 4, into: $0) } }
        #expect(out == [1, 5, 2, 6, 3, 7, 4, 8])
        var back = [UInt8](repeating: 0, count: 8)
        out.withUnsafeBytes { src in back.withUnsafeMutableBytes { ByteShuffle.unshuffle(src, elementSize: 4, into: $0) } }
        #expect(back == raw)
    }

    /// The SSE2 kernel against the scalar definition: element sizes 1, 2, 4 and 8, counts around the 16-element
    /// vector step and the 16 KiB block, random bytes; and the fused CRC against a separate pass.
    @Test func vectorUnshuffleMatchesTheDefinition() {
        var rng = SystemRandomNumberGenerator()
        for s in [1, 2, 4, 8] {
            for n in [1, 15, 16, 17, 33, 4095, 4096, 4097, 8192 + 7, 20000] {
                let src = (0..<(n * s)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                var want = [UInt8](repeating: 0, count: n * s), got = want
                src.withUnsafeBytes { a in want.withUnsafeMutableBytes { ByteShuffle.unshuffleDefinition(a, elementSize: s, into: $0) } }
                let crc = src.withUnsafeBytes { a in got.withUnsafeMutableBytes { ByteShuffle.unshuffle(a, elementSize: s, into: $0) } }
                #expect(got == want, "element size \(s), \(n) elements")
                #expect(crc == CRC32C.checksum(want), "element size \(s), \(n) elements")
            }
        }
    }
}
