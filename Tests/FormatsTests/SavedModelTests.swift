import Foundation
import Testing
@testable import Formats
@testable import Importers
import TestSupport

/// The SavedModel and TensorBundle readers against SavedModels TensorFlow wrote
/// (fixtures/make_savedmodel_fixtures.py records what TensorFlow itself reports about each).
@Suite struct SavedModelTests {
    static let directory = packageRoot + "/fixtures/savedmodel"

    struct Facts: Decodable {
        struct Spec: Decodable { var dtype: String; var shape: [Int] }
        struct Signature: Decodable { var inputs: [String: Spec]; var outputs: [String: Spec] }
        struct Variable: Decodable { var dtype: String; var shape: [Int]; var first: [Double]? }
        var signatures: [String: Signature]
        var variables: [String: Variable]
    }
    static let facts: [String: Facts] = {
        let data = FileManager.default.contents(atPath: directory + "/index.json") ?? Data("{}".utf8)
        return (try? JSONDecoder().decode([String: Facts].self, from: data)) ?? [:]
    }()

    @Test(arguments: ["keras3_export", "tfkeras_save", "tf_module", "ops_coverage", "image_signature"])
    func signaturesAndVariablesMatchWhatTensorFlowReports(name: String) throws {
        let want = try #require(Self.facts[name])
        let info = try SavedModelInfo(directory: Self.directory + "/" + name)
        #expect(info.tags == [["serve"]])
        let sig = try #require(info.signatures.first { $0.name == "serving_default" })
        #expect(sig.method == "tensorflow/serving/predict")
        let tfSig = try #require(want.signatures["serving_default"])
        #expect(Dictionary(uniqueKeysWithValues: sig.inputs.map { ($0.key, $0.dtype) }) == tfSig.inputs.mapValues(\.dtype))
        #expect(Dictionary(uniqueKeysWithValues: sig.inputs.map { ($0.key, $0.shape ?? []) }) == tfSig.inputs.mapValues(\.shape))
        #expect(Dictionary(uniqueKeysWithValues: sig.outputs.map { ($0.key, $0.shape ?? []) }) == tfSig.outputs.mapValues(\.shape))

        #expect(Set(info.variables.map(\.key)) == Set(want.variables.keys))
        let bundle = try TensorBundle(prefix: info.path + "/variables/variables")
        for v in info.variables {
            let tf = try #require(want.variables[v.key])
            #expect(v.shape == tf.shape, "\(v.key)")
            #expect(v.dtype == tf.dtype, "\(v.key)")
            if let first = tf.first {
                let values = try bundle.numbers(v.key)
                #expect(values.count == tf.shape.reduce(1, *))
                #expect(zip(values, first).allSatisfy { Double($0) == $1 }, "\(v.key): \(values.prefix(4)) vs \(first)")
            }
        }
        for v in info.variables where v.dtype == "string" { #expect(throws: FormatsError.self) { try bundle.numbers(v.key) } }
        #expect(info.ops["StatefulPartitionedCall"] ?? 0 > 0)
        #expect(info.functions > 0)
    }

    func copy(_ name: String) throws -> String {
        let dir = try temporaryDirectory() + "/" + name
        try FileManager.default.copyItem(atPath: Self.directory + "/" + name, toPath: dir)
        return dir
    }

    func flip(_ path: String, at offset: Int) throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let i = offset >= 0 ? offset : bytes.count + offset
        bytes[i] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func corruptedCheckpointsAreRefusedNamingTheProblem() throws {
        // A flipped bit in a tensor's bytes: that entry's CRC-32C fails.
        let a = try copy("tf_module")
        let bundle = try TensorBundle(prefix: a + "/variables/variables")
        let entry = try #require(bundle.entries.first { $0.dtype == 1 })
        try flip(bundle.shardPath(entry.shard), at: entry.offset)
        _ = expectFormatsError(.tensorChecksum, entry.key) { try bundle.bytes(entry.key) }

        // A flipped bit inside an index block: the block checksum fails.
        let b = try copy("tf_module")
        try flip(b + "/variables/variables.index", at: 3)
        _ = expectFormatsError(.tableChecksum, "checksum") { try TensorBundle(prefix: b + "/variables/variables") }

        // A broken footer magic; a file too short to be a table.
        let c = try copy("tf_module")
        try flip(c + "/variables/variables.index", at: -1)
        _ = expectFormatsError(.badMagic, "magic") { try TensorBundle(prefix: c + "/variables/variables") }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: c + "/variables/variables.index"))
        _ = expectFormatsError(.fileTooSmall, "footer") { try TensorBundle(prefix: c + "/variables/variables") }

        // saved_model.pb that is not a protobuf.
        let d = try copy("tf_module")
        try Data(repeating: 0xFF, count: 64).write(to: URL(fileURLWithPath: d + "/saved_model.pb"))
        _ = expectFormatsError(.protobufInvalid, "SavedModel") { try SavedModelInfo(directory: d) }
        _ = expectFormatsError(.io, "not a SavedModel") { try SavedModelInfo(directory: packageRoot + "/fixtures/keras") }
    }

    // Graphs read from a file are walked without unbounded recursion: a cycle is an error naming a node on it.

    /// What tf.while_loop becomes in a TF1 graph, but with the Switch and LoopCond missing.
    nonisolated(unsafe) static let brokenTF1Loop: [CraftedSavedModel.Node] = [
        .init("while/Enter", "Enter", ["x"]),
        .init("while/Merge", "Merge", ["while/Enter", "while/NextIteration"]),
        .init("while/add", "AddV2", ["while/Merge", "while/Merge"]),
        .init("while/NextIteration", "NextIteration", ["while/add"]),
        .init("while/Exit", "Exit", ["while/Merge"]),
    ]

    @Test func malformedTF1LoopIsAnErrorNamingItsExit() throws {
        let dir = try CraftedSavedModel(nodes: Self.brokenTF1Loop, output: "while/Exit:0").write()
        expectFormatsError(.graphInvalid, "saved_model.pb", "Exit 'while/Exit'", "malformed", "not Switch") {
            try SavedModelReader.read(directory: dir)
        }
    }

    @Test func aLoopBodyReadFromOutsideIsACycleErrorNamingTheBackEdge() throws {
        let dir = try CraftedSavedModel(nodes: Self.brokenTF1Loop, output: "while/add:0").write()
        expectFormatsError(.graphCycle, "saved_model.pb", "NextIteration 'while/NextIteration'", "tf.while_loop frame") {
            try SavedModelReader.read(directory: dir)
        }
    }

    @Test func anyCycleIsAnErrorNamingANodeOnIt() throws {
        let dir = try CraftedSavedModel(nodes: [
            .init("a", "AddV2", ["x", "b"]),
            .init("b", "Relu", ["a:0"]),
            .init("out", "Relu", ["b"]),
        ], output: "out:0").write()
        let e = expectFormatsError(.graphCycle, "saved_model.pb", "acyclic") { try SavedModelReader.read(directory: dir) }
        #expect(e.map { $0.message.contains("'a'") && $0.message.contains("'b'") } == true, "\(String(describing: e))")
        #expect(e?.message.contains("TF1") == false)
    }

    /// Constants used as sizes, axes or permutations must be whole numbers: NaN, ±∞ or 1e30 once trapped the
    /// Int conversion (a crash, not an error).
    @Test(arguments: [Float.nan, .infinity, 1e30, 2.5])
    func constantsUsedAsShapesMustBeWholeNumbers(_ bad: Float) throws {
        for (op, values, shape) in [("Pad", [0, 0, bad, 1] as [Float], [2, 2]), ("Transpose", [1, bad], [2]), ("Reshape", [bad, 2], [2])] {
            let dir = try CraftedSavedModel(nodes: [
                .init("c", "Const", constant: (values, shape)),
                .init("y", op, ["x", "c"]),
            ], output: "y:0").write()
            expectFormatsError(.graphInvalid, "saved_model.pb", "not a whole number below 2^40") { try SavedModelReader.read(directory: dir) }
        }
    }

    /// A constant's shape is the file's claim: a few bytes once declared dims whose product overflowed (a trap),
    /// a negative dim (a trap in `prefix`), or a shape filled in full from one value (tens of GB).
    @Test func constantShapesAreCheckedBeforeAnythingIsSized() throws {
        for (shape, values, fragment) in [([1 << 40, 1 << 40], [1] as [Float], "declares the shape"),
                                          ([-3, 2], [1], "declares the shape"),
                                          ([1 << 30], [0.5], "Skiff fills at most")] {
            let dir = try CraftedSavedModel(nodes: [
                .init("c", "Const", constant: (values, shape)),
                .init("y", "AddV2", ["x", "c"]),
            ], output: "y:0").write()
            expectFormatsError(.absurdShape, "saved_model.pb", fragment, "\(shape)") { try SavedModelReader.read(directory: dir) }
        }
        // A legitimate fill (a zeros-like bias, one stored value) still works.
        let dir = try CraftedSavedModel(nodes: [
            .init("c", "Const", constant: ([0.25], [4])),
            .init("y", "AddV2", ["x", "c"]),
        ], output: "y:0").write()
        #expect(try SavedModelReader.read(directory: dir).model.graph.nodes.count == 1)
    }

    /// A Reshape folded at conversion multiplies its shape constant's entries (each ≤ 2^40): checked products.
    @Test func foldedReshapeShapesAreOverflowChecked() throws {
        let dir = try CraftedSavedModel(nodes: [
            .init("c", "Const", constant: ([1, 2, 3, 4], [4])),
            .init("s", "Const", constant: ([Float(1 << 40), Float(1 << 40), -1], [3])),
            .init("r", "Reshape", ["c", "s"]),
            .init("y", "AddV2", ["x", "r"]),
        ], output: "y:0").write()
        expectFormatsError(.graphInvalid, "saved_model.pb", "Reshape 'r' cannot give 4 values the shape") { try SavedModelReader.read(directory: dir) }
    }

    @Test func aFunctionThatCallsItselfIsBounded() throws {
        let dir = try CraftedSavedModel(nodes: [.init("call", "PartitionedCall", ["x"], function: "f")], output: "call:0",
                                        functions: [.init("f", input: "a", output: "out", body: [.init("again", "PartitionedCall", ["a"], function: "f")], returns: "again:output:0")]).write()
        expectFormatsError(.graphTooDeep, "saved_model.pb", "call 'again' to function f", "64") { try SavedModelReader.read(directory: dir) }
    }

    @Test func aVeryDeepGraphDoesNotOverflowTheStack() throws {
        // 100,000 chained Identity ops (nothing a recursive walk survives), then one Relu.
        let depth = 100_000
        let chain = (0..<depth).map { CraftedSavedModel.Node("id\($0)", "Identity", [$0 == 0 ? "x" : "id\($0 - 1)"]) }
        let dir = try CraftedSavedModel(nodes: chain + [.init("relu", "Relu", ["id\(depth - 1)"])], output: "relu:0").write()
        let result = try SavedModelReader.read(directory: dir)
        #expect(result.model.graph.nodes.map(\.op) == [.unary])
    }

    @Test func servingModelFoldersPickTheHighestVersion() throws {
        let root = try temporaryDirectory()
        for v in ["1", "3", "notaversion"] {
            try FileManager.default.copyItem(atPath: Self.directory + "/tf_module", toPath: "\(root)/\(v)")
        }
        #expect(try SavedModelInfo.resolve(root) == root + "/3")
        #expect(try SavedModelInfo.resolve(root, version: 1) == root + "/1")
        _ = expectFormatsError(.io, "no version 2") { try SavedModelInfo.resolve(root, version: 2) }
    }
}
