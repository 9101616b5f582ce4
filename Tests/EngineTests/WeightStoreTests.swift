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

    /// Tensors past 1 MiB in all decode into one huge-page arena, each at its own 64-byte-aligned offset, largest
    /// first through shared scratch buffers: every value must come back exactly, in every compressed encoding.
    @Test(arguments: [TensorEncoding.zstd, .shuffleZstd])
    func largeModelsDecodeIntoOneArenaExactly(encoding: TensorEncoding) throws {
        let sizes = [(512, 1024), (1024, 301), (301, 7)]
        var constants: [ValueInfo] = [], nodes: [Node] = [], x = "x"
        for (i, (k, n)) in sizes.enumerated() {
            constants += [ValueInfo("d\(i)/kernel", .float32, [.fixed(k), .fixed(n)]), ValueInfo("d\(i)/bias", .float32, [.fixed(n)])]
            nodes.append(Node(name: "d\(i)", op: .dense, inputs: [x, "d\(i)/kernel", "d\(i)/bias"], outputs: [ValueInfo("d\(i):0", .float32, [.batch, .fixed(n)])]))
            x = "d\(i):0"
        }
        let graph = ModelGraph(inputs: [ValueInfo("x", .float32, [.batch, 512])], outputs: [ValueInfo(x, .float32, [.batch, 7])],
                               constants: constants, nodes: nodes)
        var options = SkiffWriter.Options()
        options.forcedEncoding = encoding
        var w = SkiffWriter(manifest: SkiffManifest(graph: graph, signatures: [], provenance: Provenance(sourceFormat: "test")), options: options)
        var rng = SeededRandom(seed: 5)
        var expected: [String: [Float]] = [:]
        for c in constants {
            let values = rng.floats(c.shape.map { $0.fixedValue! }.reduce(1, *), std: 0.5)
            expected[c.name] = values
            try w.addTensor(c.name, floats: values, shape: c.shape.map { $0.fixedValue! })
        }
        let store = try WeightStore(file: try SkiffFile(bytes: try w.serialize().bytes))
        for (name, values) in expected {
            let weight = try #require(store[name])
            #expect(Array(weight.values) == values, "\(name)")
            #expect(Int(bitPattern: weight.values.baseAddress) % 64 == 0, "\(name) is not 64-byte aligned")
        }
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
