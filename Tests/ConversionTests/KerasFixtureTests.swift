import Engine
import Foundation
@testable import Formats
@testable import Importers
import Testing
import TestSupport

/// Every Keras fixture converts, survives a write/read through a .skiff file, runs in the engine and
/// matches the output Keras computed. Tolerance (float32 weights): |skiff − keras| ≤ 1e-5 + 1e-4·|keras|
/// per element — max abs error 1e-5 on probabilities, relative 1e-4 on larger activations.
@Suite struct KerasFixtureTests {
    static let atol: Float = 1e-5, rtol: Float = 1e-4

    func runThroughFile(_ model: LoweredModel, provenance: Provenance) throws -> Model {
        var writer = SkiffWriter(manifest: SkiffManifest(graph: model.graph, signatures: [.servingDefault(for: model.graph)], provenance: provenance))
        try model.addTensors(to: &writer)
        let file = try SkiffFile(bytes: try writer.serialize().bytes)
        return try Model(file: file)
    }

    func check(_ fixture: KerasFixture, _ engine: Model) throws {
        var feeds: [String: Tensor] = [:]
        for (i, input) in engine.graph.inputs.enumerated() { feeds[input.name] = try fixture.input(i) }
        let results = try engine.run(feeds)
        #expect(engine.graph.outputs.count == fixture.outputs)
        for (i, out) in engine.graph.outputs.enumerated() {
            let actual = try #require(results[out.name]), expected = try fixture.expected(i)
            #expect(actual.shape == expected.shape, "\(fixture) output \(i)")
            expectClose(actual.values, expected.values, atol: Self.atol, rtol: Self.rtol)
        }
    }

    @Test(arguments: KerasFixture.models)
    func optimizedConversionMatchesKeras(_ fixture: KerasFixture) throws {
        var result = try fixture.read()
        Optimizer.optimize(&result.model)
        try check(fixture, try runThroughFile(result.model, provenance: result.provenance))
    }

    @Test(arguments: KerasFixture.models)
    func plainConversionMatchesKeras(_ fixture: KerasFixture) throws {
        let result = try fixture.read()
        try check(fixture, try runThroughFile(result.model, provenance: result.provenance))
    }

    @Test func fixturesCoverBothWritersAndEveryFormat() {
        let kinds = Set(KerasFixture.models.map(\.kind))
        #expect(kinds == ["h5", "keras", "weights+config"])
        #expect(KerasFixture.models.contains { $0.name.hasPrefix("tfk_") } && KerasFixture.models.contains { $0.name.hasPrefix("k3_") })
        #expect(KerasFixture.models.count >= 15)
    }

    @Test func provenanceRecordsTheSource() throws {
        let f = try #require(KerasFixture.models.first { $0.name == "tfk_sequential" })
        let r = try f.read()
        #expect(r.provenance.sourceFormat == "keras-h5")
        #expect(r.provenance.frameworkVersion?.hasPrefix("2.") == true)
        #expect(r.provenance.sourceSHA256?.count == 64)
        #expect(r.provenance.sourceFile == "tfk_sequential.h5")
    }

    @Test func optimizationFoldsBatchNormAndFusesActivations() throws {
        let f = try #require(KerasFixture.models.first { $0.name == "k3_functional" && $0.kind == "h5" })
        var r = try f.read()
        let before = r.model.graph.opHistogram
        let report = Optimizer.optimize(&r.model)
        let after = r.model.graph.opHistogram
        #expect(report.foldedScaleShift == 4)  // two BatchNormalization layers: a mul and an add each
        #expect(report.fusedActivations >= 3)
        #expect((after[.binary] ?? 0) == 1)  // only the residual add is left
        #expect((after[.clamp] ?? 0) == 0 && (before[.clamp] ?? 0) == 1)
        #expect(r.model.graph.nodes.contains { $0.string("activation") == "relu6" })
        try r.model.graph.validate()
    }

    /// Zero padding before a VALID convolution (Keras's ZeroPadding2D before a stride-2 conv) becomes the
    /// convolution's explicit padding; the engine's outputs must not change.
    @Test func zeroPadsAreFusedIntoTheFollowingConvolution() throws {
        var rng = SeededRandom(seed: 11)
        let b = GraphBuilder()
        let x = b.input("x", .float32, [.batch, 11, 11, 8])
        let p1 = try b.add(.pad, "pad1", [x], ["pads": .ints([0, 0, 1, 2, 0, 1, 0, 0])])
        let d = try b.add(.depthwiseConv2d, "dw", [p1, b.constant("dw/k", shape: [3, 3, 8, 1], values: rng.floats(72, std: 0.5))],
                          ["strides": .ints([2, 2]), "padding": .string("valid"), "activation": .string("relu6")])
        let p2 = try b.add(.pad, "pad2", [d], ["pads": .ints([0, 0, 1, 1, 1, 1, 0, 0])])
        let c = try b.add(.conv2d, "conv", [p2, b.constant("conv/k", shape: [3, 3, 8, 5], values: rng.floats(360, std: 0.5))],
                          ["strides": .ints([2, 2]), "padding": .string("valid")])
        let kept = try b.add(.pad, "pad3", [c], ["pads": .ints([0, 0, 1, 1, 1, 1, 0, 0]), "value": .float(1)])  // not zero: stays
        var m = b.finish(outputs: [try b.add(.conv2d, "last", [kept, b.constant("last/k", shape: [1, 1, 5, 2], values: rng.floats(10, std: 0.5))])])
        let plain = try Model(graph: m.graph, weights: WeightStore(m.weights))
        let report = Optimizer.optimize(&m)
        #expect(report.fusedPads == 2)
        #expect(m.graph.nodes.filter { $0.op == .pad }.count == 1)
        try m.graph.validate()
        let input = Tensor(shape: [2, 11, 11, 8], values: rng.floats(2 * 11 * 11 * 8, std: 1))
        for kernels in [Model.Kernels.fast, .reference] {
            let want = try plain.run(["x": input])
            let got = try Model(graph: m.graph, weights: WeightStore(m.weights), kernels: kernels).run(["x": input])
            #expect(got.keys.sorted() == want.keys.sorted())
            for (k, v) in want { expectClose(got[k]!.values, v.values, atol: 1e-5, rtol: 1e-5) }
        }
    }

    @Test func sharedLayersShareOneCopyOfTheirWeights() throws {
        let f = try #require(KerasFixture.models.first { $0.name == "k3_nested" && $0.kind == "keras" })
        let r = try f.read()
        let dense = r.model.graph.nodes.filter { $0.op == .dense }
        #expect(dense.count == 2)
        #expect(dense[0].inputs[1] == dense[1].inputs[1])
        let convs = r.model.graph.nodes.filter { $0.op == .conv2d && $0.name.hasPrefix("inner_block/") }
        #expect(convs.count == 2 && convs[0].inputs[1] == convs[1].inputs[1])
    }
}

@Suite struct KerasErrorTests {
    func error(_ name: String) throws -> FormatsError? {
        let f = try #require(KerasFixture.errors.first { $0.name == name })
        do {
            _ = try f.read()
        } catch let e as FormatsError {
            return e
        }
        Issue.record("\(name) converted, but it should be refused")
        return nil
    }

    @Test func lambdaLayersAreRefusedByName() throws {
        let e = try error("tfk_lambda")
        #expect(e?.description.contains("1 unsupported layer: 'Lambda' (double_it)") == true, "\(String(describing: e))")
        #expect(e?.description.contains("never runs") == true)
    }

    @Test func missingWeightNamesTheLayerAndWeight() throws {
        let e = try error("bad_missing_weight")
        #expect(e?.code == .missingTensor)
        #expect(e?.description.contains("layer 'conv2d' (Conv2D) is missing its 'bias' weight") == true, "\(String(describing: e))")
    }

    @Test func shapeMismatchShowsExpectedAndActual() throws {
        let e = try error("bad_shape")
        #expect(e?.description.contains("bad_shape.h5'") == true)
        #expect(e?.description.contains("filter [3, 3, 5, 8] with 1 groups does not match 3 input channels (expected [3, 3, 3, 8])") == true,
                "\(String(describing: e))")
    }

    @Test func nonKerasAndTruncatedFiles() throws {
        #expect(try error("bad_not_keras")?.description.contains("has no 'model_config' attribute") == true)
        #expect(try error("bad_truncated")?.description.contains("cannot open") == true)
        let dir = try temporaryDirectory()
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: dir + "/x.h5"))
        expectFormatsError(.io, "is not an HDF5 file") { try KerasReader.readH5(path: dir + "/x.h5") }
        expectFormatsError(.io, "is not a readable zip archive") { try KerasReader.readArchive(path: dir + "/x.h5") }
        expectFormatsError(.io, "file not found") { try KerasReader.readH5(path: dir + "/missing.h5") }
    }

    @Test func everyUnsupportedLayerIsListedAtOnce() throws {
        let f = try #require(KerasFixture.models.first { $0.name == "tfk_weights" })
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.path(1)))) as! [String: Any]
        var config = json["config"] as! [String: Any]
        var layers = config["layers"] as! [[String: Any]]
        layers.insert(["class_name": "Lambda", "config": ["name": "l1", "function": "print('pwned')"]], at: 1)
        layers.append(["class_name": "MyCustomLayer", "config": ["name": "c1"]])
        config["layers"] = layers
        json["config"] = config
        let dir = try temporaryDirectory()
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/m.json"))
        expectFormatsError(.graphInvalid, "2 unsupported layers: 'Lambda' (l1), 'MyCustomLayer' (c1)") {
            try KerasReader.readH5(weights: f.path(0), config: dir + "/m.json")
        }
    }

    @Test func weightsOnlyFileWithoutConfigGivesTheFix() throws {
        let f = try #require(KerasFixture.models.first { $0.name == "tfk_weights" })
        let legacy = try #require(KerasFixture.models.first { $0.name == "tfk_weights_legacy" })
        expectFormatsError(.manifestInvalid, "holds weights only", "--weights") { try KerasReader.readH5(path: legacy.path(0)) }
        expectFormatsError(.manifestInvalid, "holds weights only", "--weights") { try KerasReader.readH5(path: f.path(0)) }
    }

    @Test func snakeCaseFollowsKerasRule() {
        #expect(KerasV3WeightSource.snakeCase("Conv2D") == "conv2d")
        #expect(KerasV3WeightSource.snakeCase("DepthwiseConv2D") == "depthwise_conv2d")
        #expect(KerasV3WeightSource.snakeCase("Conv2DTranspose") == "conv2d_transpose")
        #expect(KerasV3WeightSource.snakeCase("PReLU") == "p_re_lu")
        #expect(KerasV3WeightSource.snakeCase("BatchNormalization") == "batch_normalization")
        #expect(KerasV3WeightSource.snakeCase("GlobalAveragePooling2D") == "global_average_pooling2d")
    }
}
