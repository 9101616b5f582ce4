import Testing
import Engine
import EngineBLAS
import Formats
import Importers
import TestSupport

@Suite struct WeightStoreTests {
    @Test(arguments: [TensorEncoding.stored, .zstd, .shuffleZstd])
    func loadsEveryConstantAsFloat32(encoding: TensorEncoding) throws {
        let dir = try temporaryDirectory()
        try SampleModels.tinyClassifier(encoding: encoding).write(to: dir + "/m.skiff")
        let file = try SkiffFile(path: dir + "/m.skiff")
        let store = try WeightStore(file: file)
        var rng = SeededRandom(seed: 42)
        let kernel = try #require(store["conv/kernel"])
        #expect(kernel.shape == [3, 3, 3, 4])
        #expect(Array(kernel.values) == rng.floats(108, std: 0.3))
        #expect(kernel.isZeroCopy == (encoding == .stored))
        #expect(store.weights.count == 4)
    }

    @Test func widensFloat16Storage() throws {
        let file = try SkiffFile(bytes: try SampleModels.tinyClassifier(storage: .float16).serialize().bytes)
        let store = try WeightStore(file: file)
        var rng = SeededRandom(seed: 42)
        let expected = rng.floats(108, std: 0.3).map { Float(Float16($0)) }
        #expect(Array(try #require(store["conv/kernel"]).values) == expected)
    }

    @Test func reportsTheCorruptTensor() throws {
        var s = FileSurgery(try SampleModels.tinyClassifier(encoding: .zstd).serialize().bytes)
        let e = s.entries()[2]
        s.setU32(s.u32(at: e.crc) ^ 0xFF, at: e.crc)
        s.reseal()
        let file = try SkiffFile(bytes: s.bytes, path: "m.skiff")
        expectFormatsError(.tensorChecksum, "'dense/kernel'") { try WeightStore(file: file) }
    }
}

@Suite struct LinkedLibraryTests {
    @Test func sgemmMultipliesRowMajorMatrices() {
        // [1 2 3; 4 5 6] · [1 0; 0 1; 1 1] = [4 5; 10 11], through OpenBLAS as `skiff` installs it at start.
        OpenBLAS.install()
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [1, 0, 0, 1, 1, 1]
        var c = [Float](repeating: 0, count: 4)
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
            BLAS.sgemm(m: 2, n: 2, k: 3, a: a.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
        } } }
        #expect(c == [4, 5, 10, 11])
        #expect(BLAS.configuration.contains("OpenBLAS"))
    }

    @Test func turboJPEGIsUsable() {
        #expect(TurboJPEG.isAvailable)
    }

    @Test func tensorRoundTripsThroughNpy() throws {
        let t = Tensor(shape: [1, 2, 2, 1], values: [1, 2, 3, 4])
        #expect(Tensor(try NpyArray(bytes: try t.npy.serialized())) == t)
    }
}
