import Testing
@testable import Formats
@testable import Importers
import TestSupport

/// One handcrafted bad file per rule of docs/FORMAT.md; each must fail with its own error code and a
/// message naming what is wrong.
@Suite struct SkiffMalformedFileTests {
    func good(_ encoding: TensorEncoding? = .zstd) throws -> FileSurgery {
        FileSurgery(try SampleModels.tinyClassifier(encoding: encoding).serialize().bytes)
    }

    func open(_ s: FileSurgery) throws -> SkiffFile { try SkiffFile(bytes: s.bytes, path: "bad.skiff") }

    @Test func tooSmall() throws {
        expectFormatsError(.fileTooSmall, "'bad.skiff'", "10 bytes") { try SkiffFile(bytes: Array(repeating: 0, count: 10), path: "bad.skiff") }
    }

    @Test func badMagic() throws {
        var s = try good()
        s.bytes[1] = UInt8(ascii: "X")
        expectFormatsError(.badMagic, "not a .skiff file") { try open(s) }
    }

    @Test func newerMajorVersionIsRefusedWithAHint() throws {
        var s = try good()
        s.setU16(3, at: 8)
        s.reseal()
        expectFormatsError(.unsupportedVersion, "3.0", "1.x and 2.x", "newer Skiff") { try open(s) }
    }

    @Test func newerMinorVersionIsAccepted() throws {
        var s = try good()
        s.setU16(7, at: 10)
        s.reseal()
        #expect(try open(s).header.minorVersion == 7)
    }

    @Test func headerChecksum() throws {
        var s = try good()
        s.bytes[20] ^= 0x01  // file_length, without resealing
        expectFormatsError(.headerChecksum, "header checksum") { try open(s) }
    }

    @Test func reservedFlags() throws {
        var s = try good()
        s.setU32(1, at: 12)
        s.reseal()
        expectFormatsError(.badHeader, "flags") { try open(s) }
    }

    @Test func truncated() throws {
        var s = try good()
        s.bytes.removeLast(5)
        expectFormatsError(.truncated, "truncated", "header says \(s.bytes.count + 5)") { try open(s) }
    }

    @Test func trailingBytes() throws {
        var s = try good()
        s.bytes += [0, 0]
        expectFormatsError(.trailingBytes, "2 unexpected bytes") { try open(s) }
    }

    @Test func bitRotInTensorData() throws {
        var s = try good()
        s.bytes[s.bytes.count - 3] ^= 0x40
        expectFormatsError(.bodyChecksum, "corrupted") { try open(s) }
    }

    @Test func manifestTooLarge() throws {
        var s = try good()
        s.setU64(UInt64(SkiffLayout.maxManifestLength + 1), at: 32)
        s.reseal()
        expectFormatsError(.manifestTooLarge, "manifest_length") { try open(s) }
    }

    @Test func manifestPastEnd() throws {
        var s = try good()
        s.setU64(UInt64(s.bytes.count), at: 32)
        s.reseal()
        expectFormatsError(.offsetOutOfBounds, "manifest ends") { try open(s) }
    }

    @Test func manifestNotJSON() throws {
        var s = try good()
        s.bytes[s.manifestRange.lowerBound] = UInt8(ascii: "[")
        s.reseal()
        expectFormatsError(.manifestInvalid, "manifest") { try open(s) }
    }

    @Test func manifestGraphReferencesAnUndefinedValue() throws {
        var s = try good()
        let text = String(decoding: s.bytes[s.manifestRange], as: UTF8.self)
        let broken = text.replacingOccurrences(of: "\"inputs\":[\"pool:0\"", with: "\"inputs\":[\"poo1:0\"")
        #expect(broken != text)
        s.bytes.replaceSubrange(s.manifestRange, with: Array(broken.utf8))
        s.reseal()
        expectFormatsError(.graphInvalid, "node 'dense'", "'poo1:0'") { try open(s) }
    }

    @Test func tooManyTensorsForTheTable() throws {
        var s = try good()
        s.setU32(1000, at: s.tableOffset)
        s.reseal()
        expectFormatsError(.tooManyTensors, "1000 tensors") { try open(s) }
        s.setU32(UInt32(SkiffLayout.maxTensorCount + 1), at: s.tableOffset)
        s.reseal()
        expectFormatsError(.tooManyTensors, "limit") { try open(s) }
    }

    @Test func emptyName() throws {
        var s = try good()
        s.setU16(0, at: s.entries()[0].nameLength)
        s.reseal()
        expectFormatsError(.badName, "entry 0") { try open(s) }
    }

    @Test func duplicateName() throws {
        var s = FileSurgery(try SampleModels.weights(count: 3, size: 8).serialize().bytes)
        s.bytes[s.entries()[2].name + 1] = UInt8(ascii: "0")  // "w2" → "w0"
        s.reseal()
        expectFormatsError(.duplicateName, "'w0' appears twice") { try open(s) }
    }

    @Test func unknownDType() throws {
        var s = try good()
        s.bytes[s.entries()[0].dtype] = 99
        s.reseal()
        expectFormatsError(.unknownDType, "'conv/kernel'", "99") { try open(s) }
    }

    @Test func reservedInt8DType() throws {
        var s = try good()
        s.bytes[s.entries()[0].dtype] = 3
        s.reseal()
        expectFormatsError(.absurdShape, "'conv/kernel'") { try open(s) }  // 1 byte per element: raw_length no longer fits
        var q = try good()
        let e = q.entries()[1]  // conv/bias, 4 floats = 16 bytes → as int8q: a [16] tensor in a 1.0 file
        q.bytes[e.dtype] = 3
        q.setU64(16, at: e.dims)
        q.reseal()
        expectFormatsError(.unsupportedDType, "'conv/bias'", "reserved in format 1.0") { try open(q) }
        q.setU16(1, at: 10)
        q.reseal()
        expectFormatsError(.missingTensor, "needs a float32 tensor 'conv/bias:scale'") { try open(q) }
    }

    @Test func unknownEncoding() throws {
        var s = try good()
        s.bytes[s.entries()[0].encoding] = 9
        s.reseal()
        expectFormatsError(.unknownEncoding, "'conv/kernel'", "9") { try open(s) }
    }

    @Test func rankAboveLimit() throws {
        var s = try good()
        s.bytes[s.entries()[0].rank] = 9
        s.reseal()
        expectFormatsError(.badRank, "rank 9") { try open(s) }
    }

    @Test func absurdShape() throws {
        var s = try good()
        let e = s.entries()[0]  // conv/kernel, rank 4
        s.setU64(1 << 40, at: e.dims)
        s.setU64(1 << 40, at: e.dims + 8)
        s.reseal()
        expectFormatsError(.absurdShape, "'conv/kernel'", "overflows") { try open(s) }
        s.setU64((1 << 40) + 1, at: e.dims)
        s.reseal()
        expectFormatsError(.absurdShape, "2^40") { try open(s) }
    }

    @Test func rawLengthDisagreesWithShape() throws {
        var s = try good()
        s.setU64(999, at: s.entries()[0].rawLength)
        s.reseal()
        expectFormatsError(.absurdShape, "needs 432 bytes", "raw_length is 999") { try open(s) }
    }

    @Test func offsetPastEnd() throws {
        var s = try good()
        s.setU64(UInt64(s.bytes.count + 64) / 64 * 64, at: s.entries()[0].offset)
        s.reseal()
        expectFormatsError(.offsetOutOfBounds, "'conv/kernel'", "outside the data section") { try open(s) }
        s.setU64(UInt64.max - 63, at: s.entries()[0].offset)
        s.reseal()
        expectFormatsError(.offsetOutOfBounds, "'conv/kernel'") { try open(s) }
    }

    @Test func offsetInsideTheTable() throws {
        var s = try good()
        s.setU64(64, at: s.entries()[0].offset)
        s.reseal()
        expectFormatsError(.offsetOutOfBounds, "outside the data section") { try open(s) }
    }

    @Test func misalignedOffset() throws {
        var s = try good()
        let e = s.entries()[0]
        s.setU64(s.u64(at: e.offset) + 8, at: e.offset)
        s.reseal()
        expectFormatsError(.misaligned, "not a multiple of 64") { try open(s) }
    }

    @Test func overlappingTensors() throws {
        var s = try good()
        let e = s.entries()
        s.setU64(s.u64(at: e[0].offset), at: e[1].offset)
        s.reseal()
        expectFormatsError(.overlappingTensors, "'conv/kernel'", "'conv/bias'", "overlap") { try open(s) }
    }

    @Test func storedLengthMustEqualRawLength() throws {
        var s = try good(.stored)
        s.setU64(s.u64(at: s.entries()[0].storedLength) - 4, at: s.entries()[0].storedLength)
        s.reseal()
        expectFormatsError(.sizeMismatch, "stored uncompressed") { try open(s) }
    }

    @Test func tensorChecksumIsCheckedOnDecode() throws {
        var s = try good(.zstd)
        s.setU32(s.u32(at: s.entries()[0].crc) ^ 1, at: s.entries()[0].crc)
        s.reseal()
        let f = try open(s)  // the table is valid; the data is checked when decoded
        expectFormatsError(.tensorChecksum, "'bad.skiff'", "'conv/kernel'", "checksum mismatch") { try f.tensorBytes("conv/kernel") }
        #expect(try f.floats("conv/bias").count == 4)
    }

    @Test func corruptZstdFrame() throws {
        var s = try good(.zstd)
        let at = Int(s.u64(at: s.entries()[0].offset))
        for i in 0..<4 { s.bytes[at + i] = 0 }  // zstd magic gone
        s.reseal()
        let f = try open(s)
        expectFormatsError(.decompression, "'conv/kernel'") { try f.tensorBytes("conv/kernel") }
    }

    @Test func constantWithoutTensor() throws {
        var s = try good()
        let e = s.entries()[1]  // "conv/bias" → "conv/bia5"
        s.bytes[e.name + 8] = UInt8(ascii: "5")
        s.reseal()
        expectFormatsError(.missingTensor, "'conv/bias'") { try open(s) }
    }

    @Test func constantShapeDisagreesWithTable() throws {
        var s = try good()
        let e = s.entries()[2]  // dense/kernel [4, 3] → [3, 4]
        s.setU64(3, at: e.dims)
        s.setU64(4, at: e.dims + 8)
        s.reseal()
        expectFormatsError(.sizeMismatch, "'dense/kernel'", "shape") { try open(s) }
    }

    @Test func tableLeftovers() throws {
        var s = try good()
        s.setU32(3, at: s.tableOffset)  // one entry fewer than present
        s.reseal()
        expectFormatsError(.tableInvalid, "bytes left") { try open(s) }
    }

    // Numbers in the graph: each out-of-range value is refused when the file is opened (so by `inspect` too),
    // never left to trap the engine's shape inference.

    /// The tiny classifier with `edit` applied to its manifest (written with 1 KB of metadata for the edit to use).
    func edited(_ edit: (inout SkiffManifest) -> Void) throws -> FileSurgery {
        var w = try SampleModels.tinyClassifier()
        w.manifest.metadata?["room"] = String(repeating: "x", count: 1024)
        var s = FileSurgery(try w.serialize().bytes)
        try s.editManifest(edit)
        return s
    }

    @Test func strideNearTwoToThe62() throws {
        let s = try edited { $0.graph.nodes[0].attributes["strides"] = .ints([1 << 62, 1]) }
        expectFormatsError(.attributeOutOfRange, "node 'conv'", "'strides'", "\(1 << 62)", "1…65536") { try open(s) }
    }

    @Test func dilationIntMax() throws {
        let s = try edited { $0.graph.nodes[0].attributes["dilations"] = .ints([Int.max, 1]) }
        expectFormatsError(.attributeOutOfRange, "node 'conv'", "'dilations'", "\(Int.max)") { try open(s) }
    }

    @Test func convTransposeStrideAndDilation() throws {
        for key in ["strides", "dilations"] {
            let s = try edited {
                $0.graph.nodes[0].op = .conv2dTranspose
                $0.graph.nodes[0].attributes[key] = .ints([1, 1 << 62])
            }
            expectFormatsError(.attributeOutOfRange, "node 'conv' (conv2d_transpose)", "'\(key)'") { try open(s) }
        }
    }

    @Test func groupsOutOfRange() throws {
        let s = try edited { $0.graph.nodes[0].attributes["groups"] = .int(Int.max) }
        expectFormatsError(.attributeOutOfRange, "node 'conv'", "'groups'") { try open(s) }
    }

    @Test func padsShorterThanFourWithSamePadding() throws {
        let s = try edited { $0.graph.nodes[0].attributes["pads"] = .ints([1]) }
        expectFormatsError(.badPads, "node 'conv'", "'pads' is [1]", "4 integers") { try open(s) }
    }

    @Test func explicitPadsNearTwoToThe62() throws {
        let s = try edited {
            $0.graph.nodes[0].attributes["padding"] = .string("explicit")
            $0.graph.nodes[0].attributes["pads"] = .ints([0, 0, 1 << 62, 1 << 62])
        }
        expectFormatsError(.badPads, "node 'conv'", "'pads'") { try open(s) }
    }

    @Test func padAmountIntMax() throws {
        let s = try edited {  // softmax → pad of its [N, 3] input
            $0.graph.nodes[3].op = .pad
            $0.graph.nodes[3].attributes = ["pads": .ints([0, 0, 0, Int.max])]
        }
        expectFormatsError(.badPads, "node 'softmax' (pad)", "'pads'") { try open(s) }
    }

    @Test func sliceStrideIntMax() throws {
        let s = try edited {  // softmax → slice of its [N, 3] input
            $0.graph.nodes[3].op = .slice
            $0.graph.nodes[3].attributes = ["begins": .ints([0, 0]), "ends": .ints([Int.max, Int.max]), "strides": .ints([1, Int.max])]
        }
        expectFormatsError(.attributeOutOfRange, "node 'softmax' (slice)", "'strides'") { try open(s) }
    }

    @Test func fixedBatchDimensionNearTwoToThe62() throws {
        let s = try edited { $0.graph.inputs[0].shape[0] = .fixed(1 << 62) }
        expectFormatsError(.absurdValueShape, "graph input value 'image'", "\(1 << 62)") { try open(s) }
        let t = try edited { $0.graph.nodes[1].outputs[0].shape = [.fixed(1 << 31), .fixed(1 << 31)] }
        expectFormatsError(.absurdValueShape, "node 'pool' output value 'pool:0'") { try open(t) }
    }

    /// A shape the engine would refuse at load is refused when the file is opened (`inspect` included).
    @Test func recordedShapeDisagreesWithShapeInference() throws {
        let s = try edited { $0.graph.nodes[0].outputs[0].shape[1] = 9 }
        expectFormatsError(.shapeMismatch, "node 'conv'", "[\"N\", \"9\", \"8\", \"4\"]") { try open(s) }
    }

    // The image signature's numbers: capped when the file is opened, so `predict` never overflows or
    // allocates beyond max_pixels.

    /// The tiny classifier with an 8×8 RGB image signature on 'image', edited by `edit`.
    func withImage(_ edit: (inout ImageInput) -> Void) throws -> FileSurgery {
        try edited {
            var image = ImageInput(input: "image", height: 8, width: 8, channels: 3, normalization: .preset("none", channels: 3)!)
            edit(&image)
            $0.images = [image]
        }
    }

    @Test func imageSignatureAsWrittenOpens() throws {
        let s = try withImage { $0.crop = .init(shorterSide: 256) }
        #expect(try open(s).manifest.images?.first?.crop?.shorterSide == 256)
    }

    @Test func imageMaxEncodedBytesIntMax() throws {
        let s = try withImage { $0.maxEncodedBytes = Int.max }
        expectFormatsError(.imageLimitOutOfRange, "'image'", "max_encoded_bytes is \(Int.max)", "expected 1…") { try open(s) }
    }

    @Test func imageMaxPixelsIntMax() throws {
        let s = try withImage { $0.maxPixels = Int.max }
        expectFormatsError(.imageLimitOutOfRange, "'image'", "max_pixels is \(Int.max)") { try open(s) }
    }

    @Test func imageShorterSideNearTwoToThe62() throws {
        for side in [1 << 62, 3_037_000_500] {
            let s = try withImage { $0.crop = .init(shorterSide: side) }
            expectFormatsError(.imageLimitOutOfRange, "'image'", "shorter side \(side)", "at most 65535") { try open(s) }
        }
    }

    @Test func imageShorterSideBeyondMaxPixels() throws {
        // 50000² = 2.5 gigapixels: more than max_pixels allows for any image.
        let s = try withImage { $0.crop = .init(shorterSide: 50000) }
        expectFormatsError(.imageLimitOutOfRange, "'image'", "shorter side 50000", "max_pixels \(ImageInput.defaultMaxPixels)") { try open(s) }
    }

    @Test func missingFileIsAnIOError() {
        expectFormatsError(.io, "'/nonexistent/x.skiff'", "cannot open") { try SkiffFile(path: "/nonexistent/x.skiff") }
    }
}
