import Engine
import Foundation
@testable import Formats
@testable import Importers
import Testing
import TestSupport

/// fp16 and int8 files load, run, and stay within their documented tolerance of Keras's outputs.
@Suite struct PrecisionTests {
    func run(_ fixture: KerasFixture, _ precision: WeightPrecision) throws -> (OutputComparison, SkiffFile) {
        var r = try fixture.read()
        Optimizer.optimize(&r.model)
        let plan = PrecisionPlan.make(r.model, precision, minElements: 1)  // narrow every kernel, however small
        var writer = SkiffWriter(manifest: SkiffManifest(graph: r.model.graph, signatures: [], provenance: r.provenance))
        try r.model.addTensors(to: &writer, plan: plan)
        let file = try SkiffFile(bytes: try writer.serialize().bytes)
        let engine = try Model(file: file)
        var feeds: [String: Tensor] = [:]
        for (i, input) in engine.graph.inputs.enumerated() { feeds[input.name] = try fixture.input(i) }
        let out = try engine.run(feeds)[engine.graph.outputs[0].name]!
        let expected = try fixture.expected(0)
        let t = Tolerance(precision)
        return (OutputComparison.compare(name: "out", actual: out.values, shape: out.shape, expected: expected.values,
                                         expectedShape: expected.shape, atol: t.atol, rtol: t.rtol), file)
    }

    /// The documented defaults (docs/CI.md): fp16 atol 5e-3 / rtol 5e-2; int8 atol 5e-2 / rtol 0.25.
    struct Tolerance {
        var atol: Float, rtol: Float
        init(_ p: WeightPrecision) { (atol, rtol) = p == .fp16 ? (5e-3, 5e-2) : (5e-2, 0.25) }
    }

    @Test(arguments: KerasFixture.models.filter { $0.kind == "h5" })
    func float16WithinTolerance(_ fixture: KerasFixture) throws {
        let (c, file) = try run(fixture, .fp16)
        #expect(file.tensors.contains { $0.dtype == .float16 })
        #expect(c.passed, "\(fixture): max abs \(c.maxAbsError), worst \(String(describing: c.worst))")
        #expect(c.cosine > 0.9999)
    }

    @Test(arguments: KerasFixture.models.filter { $0.kind == "h5" })
    func int8StaysClose(_ fixture: KerasFixture) throws {
        let (c, file) = try run(fixture, .int8)
        #expect(file.tensors.contains { $0.dtype == .int8q })
        #expect(file.header.minorVersion == 1)
        #expect(c.cosine > 0.995, "\(fixture): cosine \(c.cosine), max abs \(c.maxAbsError)")
        #expect(c.passed || fixture.name == "k3_activations", "\(fixture): max abs \(c.maxAbsError), worst \(String(describing: c.worst))")
    }

    @Test func int8RoundTripsWithinHalfAStep() throws {
        var rng = SeededRandom(seed: 9)
        let values = rng.floats(3 * 3 * 4 * 8, std: 0.2)
        let graph = ModelGraph(inputs: [ValueInfo("x", .float32, [.batch, 5, 5, 4])], outputs: [ValueInfo("y", .float32, [.batch, 3, 3, 8])],
                               constants: [ValueInfo("k", .float32, [3, 3, 4, 8])],
                               nodes: [Node(name: "c", op: .conv2d, inputs: ["x", "k"], outputs: [ValueInfo("y", .float32, [.batch, 3, 3, 8])])])
        var w = SkiffWriter(manifest: SkiffManifest(graph: graph, signatures: [], provenance: Provenance(sourceFormat: "test", converterVersion: "test")))
        let worst = try w.addQuantizedTensor("k", floats: values, shape: [3, 3, 4, 8], channels: 8)
        let file = try SkiffFile(bytes: try w.serialize().bytes)
        #expect(file.entry("k")?.dtype == .int8q && file.entry("k:scale")?.shape == [8])
        let back = try file.floats("k")
        var scales = [Float](repeating: 0, count: 8)
        for (i, v) in values.enumerated() { scales[i % 8] = max(scales[i % 8], abs(v)) }
        scales = scales.map { $0 / 127 }
        for i in values.indices { #expect(abs(back[i] - values[i]) <= scales[i % 8] / 2 + 1e-7) }
        #expect(worst <= scales.max()! / 2 + 1e-7)
        // Files without int8 stay at format 1.0, so 1.0 readers open them.
        #expect(try SkiffFile(bytes: try SampleModels.tinyClassifier().serialize().bytes).header.minorVersion == 0)
    }
}
