import Foundation
import Testing
@testable import Formats
@testable import Importers
import TestSupport

@Suite struct SkiffRoundTripTests {
    @Test(arguments: [TensorEncoding.stored, .zstd, .shuffleZstd, nil])
    func manifestAndTensorsRoundTrip(encoding: TensorEncoding?) throws {
        let writer = try SampleModels.tinyClassifier(encoding: encoding)
        let (bytes, summary) = try writer.serialize()
        let file = try SkiffFile(bytes: bytes)
        #expect(file.manifest == writer.manifest)
        #expect(file.tensors.count == 4)
        #expect(summary.fileLength == bytes.count)
        var rng = SeededRandom(seed: 42)
        let expected = [("conv/kernel", rng.floats(108, std: 0.3)), ("conv/bias", rng.floats(4)),
                        ("dense/kernel", rng.floats(12, std: 0.5)), ("dense/bias", rng.floats(3))]
        for (name, values) in expected {
            #expect(try file.floats(name) == values)
            let e = try #require(file.entry(name))
            #expect(e.offset % 64 == 0)
            if let encoding { #expect(e.encoding == encoding) }
        }
    }

    @Test func writingIsDeterministic() throws {
        let a = try SampleModels.tinyClassifier().serialize().bytes
        let b = try SampleModels.tinyClassifier().serialize().bytes
        #expect(a == b)
    }

    @Test func float16StorageIsWidenedOnRead() throws {
        let writer = try SampleModels.tinyClassifier(storage: .float16)
        let file = try SkiffFile(bytes: try writer.serialize().bytes)
        let e = try #require(file.entry("conv/kernel"))
        #expect(e.dtype == .float16)
        #expect(e.rawLength == 108 * 2)
        var rng = SeededRandom(seed: 42)
        let original = rng.floats(108, std: 0.3)
        let read = try file.floats("conv/kernel")
        #expect(read == original.map { Float(Float16($0)) })
        expectClose(read, original, atol: 1e-3, rtol: 1e-3)
    }

    @Test func storedTensorsAreViewsOfTheFileMapping() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/m.skiff"
        try SampleModels.tinyClassifier(encoding: .stored).write(to: path)
        let file = try SkiffFile(path: path)
        let t = try file.tensorBytes("conv/kernel")
        #expect(t.isZeroCopy)
        let z = try SkiffFile(path: dir + "/z.skiff", writing: try SampleModels.tinyClassifier(encoding: .zstd))
        #expect(try z.tensorBytes("conv/kernel").isZeroCopy == false)
    }

    @Test func shuffleMakesFloatWeightsSmallerThanZstdAlone() throws {
        // 64k normally distributed weights, like a trained layer's.
        let shuffled = try SkiffFile(bytes: try SampleModels.weights(count: 1, size: 65536, encoding: .shuffleZstd).serialize().bytes)
        let plain = try SkiffFile(bytes: try SampleModels.weights(count: 1, size: 65536, encoding: .zstd).serialize().bytes)
        let rs = try #require(shuffled.entry("w0")).ratio, rp = try #require(plain.entry("w0")).ratio
        #expect(rs < rp, "shuffle-zstd ratio \(rs) should beat zstd \(rp)")
        #expect(rs < 0.95)
    }

    @Test func automaticEncodingStoresWhatDoesNotShrink() throws {
        // Uniform random bytes as uint8 do not compress: the writer must keep them `stored`.
        var rng = SeededRandom(seed: 3)
        let graph = ModelGraph(inputs: [ValueInfo("x", .uint8, [4096])], outputs: [ValueInfo("y", .uint8, [4096])],
                               constants: [ValueInfo("noise", .uint8, [4096]), ValueInfo("zeros", .float32, [1024])],
                               nodes: [Node(name: "add", op: .binary, inputs: ["x", "noise"], outputs: [ValueInfo("y", .uint8, [4096])],
                                            attributes: ["function": .string("add")])])
        var w = SkiffWriter(manifest: SkiffManifest(graph: graph, signatures: [], provenance: Provenance(sourceFormat: "test", converterVersion: "test")))
        try w.addTensor("noise", dtype: .uint8, shape: [4096], bytes: (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 17) })
        try w.addTensor("zeros", floats: [Float](repeating: 0, count: 1024), shape: [1024])
        let f = try SkiffFile(bytes: try w.serialize().bytes)
        #expect(f.entry("noise")?.encoding == .stored)
        #expect(f.entry("zeros")?.encoding != .stored)
        #expect(try f.floats("zeros") == [Float](repeating: 0, count: 1024))
    }

    @Test func manyTensorsDecodeInParallel() throws {
        let f = try SkiffFile(bytes: try SampleModels.weights(count: 64, size: 1000).serialize().bytes)
        let names = f.tensors.map(\.name)
        let sums = try parallelMap(names.count) { try f.floats(names[$0]).reduce(0, +) }
        let serial = try names.map { try f.floats($0).reduce(0, +) }
        #expect(sums == serial)
    }

    @Test func emptyTensorsAndScalarsRoundTrip() throws {
        let graph = ModelGraph(inputs: [ValueInfo("x", .float32, [.batch])], outputs: [ValueInfo("y", .float32, [.batch])],
                               constants: [ValueInfo("empty", .float32, [0, 3]), ValueInfo("scalar", .float32, [])],
                               nodes: [Node(name: "mul", op: .binary, inputs: ["x", "scalar"], outputs: [ValueInfo("y", .float32, [.batch])],
                                            attributes: ["function": .string("mul")])])
        var w = SkiffWriter(manifest: SkiffManifest(graph: graph, signatures: [], provenance: Provenance(sourceFormat: "test", converterVersion: "test")))
        try w.addTensor("empty", floats: [], shape: [0, 3])
        try w.addTensor("scalar", floats: [2.5], shape: [])
        let f = try SkiffFile(bytes: try w.serialize().bytes)
        #expect(try f.floats("empty") == [])
        #expect(try f.floats("scalar") == [2.5])
    }

    @Test func writerRefusesInconsistentInput() throws {
        var w = try SampleModels.tinyClassifier()
        expectFormatsError(.duplicateName, "conv/bias") { try w.addTensor("conv/bias", floats: [1, 2, 3, 4], shape: [4]) }
        expectFormatsError(.sizeMismatch, "expected 16") { try w.addTensor("x", floats: [1, 2, 3], shape: [4]) }
        var missing = try SampleModels.tinyClassifier()
        missing.manifest.graph.constants.append(ValueInfo("extra", .float32, [2]))
        expectFormatsError(.missingTensor, "'extra'") { try missing.serialize() }
    }

    @Test func atomicWriteLeavesNoPartialFile() throws {
        let dir = try temporaryDirectory()
        // Into a directory that does not exist: fails, and nothing is created.
        expectFormatsError(.io, "temporary file") { try SampleModels.tinyClassifier().write(to: dir + "/missing/m.skiff") }
        // Over an existing file: replaced whole, and no temporary file is left beside it.
        let path = dir + "/m.skiff"
        try Array("old".utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
        try SampleModels.tinyClassifier().write(to: path)
        _ = try SkiffFile(path: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.skiff"])
    }

    /// The committed sample file must stay readable, and identical to what the writer produces now
    /// (a change here is a format change: re-record with SKIFF_RECORD=1 and note it in FORMAT.md).
    @Test func committedSampleFileMatchesTheWriter() throws {
        let path = packageRoot + "/fixtures/tiny_classifier.skiff"
        let bytes = try SampleModels.tinyClassifier().serialize().bytes
        if ProcessInfo.processInfo.environment["SKIFF_RECORD"] == "1" { try AtomicFile.write(bytes, to: path) }
        let committed = try SkiffFile(path: path)
        #expect(committed.manifest.metadata?["name"] == "tiny-classifier")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == bytes)
    }
}

extension SkiffFile {
    /// Writes `writer` to `path` and opens the result.
    convenience init(path: String, writing writer: SkiffWriter) throws {
        try writer.write(to: path)
        try self.init(path: path)
    }
}
