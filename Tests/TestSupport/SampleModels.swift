import Foundation
import Formats
import Importers

/// Deterministic pseudo-random numbers (64-bit LCG) so test models are the same on every run.
public struct SeededRandom {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    public mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
    /// Uniform in [-1, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
    /// Approximately normal (sum of uniforms), scaled.
    public mutating func normal(_ std: Float) -> Float { (0..<4).reduce(0) { acc, _ in acc + uniform() } * std * 0.866 }
    public mutating func floats(_ n: Int, std: Float = 0.1) -> [Float] { (0..<n).map { _ in normal(std) } }
}

/// Small models built directly in the IR, for format, engine and CLI tests.
public enum SampleModels {
    /// A tiny image classifier: NHWC [N, 8, 8, 3] → conv 3×3 (4 filters, same, relu) → global average
    /// pool → dense 4→3 → softmax, with three labels.
    public static func tinyClassifier(storage: DType = .float32, encoding: TensorEncoding? = nil) throws -> SkiffWriter {
        let graph = ModelGraph(
            inputs: [ValueInfo("image", .float32, [.batch, 8, 8, 3])],
            outputs: [ValueInfo("probabilities", .float32, [.batch, 3])],
            constants: [
                ValueInfo("conv/kernel", .float32, [3, 3, 3, 4]), ValueInfo("conv/bias", .float32, [4]),
                ValueInfo("dense/kernel", .float32, [4, 3]), ValueInfo("dense/bias", .float32, [3]),
            ],
            nodes: [
                Node(name: "conv", op: .conv2d, inputs: ["image", "conv/kernel", "conv/bias"],
                     outputs: [ValueInfo("conv:0", .float32, [.batch, 8, 8, 4])],
                     attributes: ["strides": .ints([1, 1]), "padding": .string("same"), "activation": .string("relu")]),
                Node(name: "pool", op: .globalAvgPool, inputs: ["conv:0"], outputs: [ValueInfo("pool:0", .float32, [.batch, 4])]),
                Node(name: "dense", op: .dense, inputs: ["pool:0", "dense/kernel", "dense/bias"],
                     outputs: [ValueInfo("dense:0", .float32, [.batch, 3])]),
                Node(name: "softmax", op: .softmax, inputs: ["dense:0"], outputs: [ValueInfo("probabilities", .float32, [.batch, 3])],
                     attributes: ["axis": .int(-1)]),
            ])
        let manifest = SkiffManifest(
            graph: graph, signatures: [.servingDefault(for: graph)], labels: ["probabilities": ["cat", "dog", "fish"]],
            metadata: ["name": "tiny-classifier", "description": "A 3-class test model built by the Skiff test suite"],
            provenance: Provenance(sourceFile: "tiny_classifier (test suite)", sourceFormat: "skiff-ir", framework: "skiff",
                                   converterVersion: "test", options: ["optimize": "false"]))
        var options = SkiffWriter.Options()
        options.forcedEncoding = encoding
        var w = SkiffWriter(manifest: manifest, options: options)
        var rng = SeededRandom(seed: 42)
        try w.addTensor("conv/kernel", floats: rng.floats(108, std: 0.3), shape: [3, 3, 3, 4], storage: storage)
        try w.addTensor("conv/bias", floats: rng.floats(4), shape: [4], storage: storage)
        try w.addTensor("dense/kernel", floats: rng.floats(12, std: 0.5), shape: [4, 3], storage: storage)
        try w.addTensor("dense/bias", floats: rng.floats(3), shape: [3], storage: storage)
        return w
    }

    /// A model with `count` float tensors of `size` values each, for layout and compression tests.
    public static func weights(count: Int, size: Int, std: Float = 0.05, encoding: TensorEncoding? = nil, seed: UInt64 = 7) throws -> SkiffWriter {
        var rng = SeededRandom(seed: seed)
        let names = (0..<count).map { "w\($0)" }
        var nodes: [Node] = []
        var last = "x"
        for (i, n) in names.enumerated() {
            nodes.append(Node(name: "add\(i)", op: .binary, inputs: [last, n], outputs: [ValueInfo("add\(i):0", .float32, [.batch, .fixed(size)])],
                              attributes: ["function": .string("add")]))
            last = "add\(i):0"
        }
        let graph = ModelGraph(inputs: [ValueInfo("x", .float32, [.batch, .fixed(size)])], outputs: [ValueInfo(last, .float32, [.batch, .fixed(size)])],
                               constants: names.map { ValueInfo($0, .float32, [.fixed(size)]) }, nodes: nodes)
        var options = SkiffWriter.Options()
        options.forcedEncoding = encoding
        var w = SkiffWriter(manifest: SkiffManifest(graph: graph, signatures: [.servingDefault(for: graph)],
                                                    provenance: Provenance(sourceFormat: "skiff-ir", converterVersion: "test")),
                            options: options)
        for n in names { try w.addTensor(n, floats: rng.floats(size, std: std), shape: [size]) }
        return w
    }
}
