import Foundation
import Testing
import Formats
import Importers
import Engine
import TestSupport

/// fixtures/control_flow (fixtures/make_control_flow_fixtures.py, TensorFlow 2.21): SavedModels with
/// functional While/If, run-time trip counts, growing loop values and a detector's typed tail. Each is
/// converted from SavedModel, written as a format 2.0 `.skiff`, loaded back and run on the fixture inputs;
/// outputs must match TensorFlow's (integers exactly, floats within 1e-5).
@Suite struct ControlFlowTests {
    struct Entry: Decodable {
        struct Input: Decodable { let key: String; let file: String }
        let inputs: [Input]
        let outputs: [String: String]
    }
    struct Index: Decodable { let models: [String: Entry] }

    static let directory = packageRoot + "/fixtures/control_flow"
    /// fixtures/tf1_control_flow (fixtures/make_tf1_control_flow_fixtures.py): the same kinds of programs from TF1
    /// graph mode (Enter/Merge/Switch/Exit/NextIteration/LoopCond), functionalised at import.
    static let tf1Directory = packageRoot + "/fixtures/tf1_control_flow"
    static func index(_ directory: String) throws -> Index {
        try JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/index.json")))
    }

    static func load(_ name: String, from directory: String = directory) throws -> (Model, SkiffFile) {
        let result = try SavedModelReader.read(directory: directory + "/" + name)
        var writer = SkiffWriter(manifest: SkiffManifest(graph: result.model.graph, signatures: [.servingDefault(for: result.model.graph)],
                                                         provenance: result.provenance))
        try result.model.addTensors(to: &writer)
        let file = try SkiffFile(bytes: try writer.serialize().bytes)
        return (try Model(file: file), file)
    }

    @Test(arguments: ["while_static", "while_runtime", "cond", "nested_loops", "loop_growing", "detect_postprocess"])
    func convertsAndMatchesTensorFlow(_ name: String) throws {
        try Self.check(name, in: Self.directory)
    }

    @Test(arguments: ["while_static", "while_runtime", "cond", "cond_negative", "nested_loops", "loop_with_invariant"])
    func tf1ControlFlowConvertsAndMatchesTensorFlow(_ name: String) throws {
        try Self.check(name, in: Self.tf1Directory)
    }

    /// fixtures/list_ops (fixtures/make_list_fixtures.py): tf.map_fn, tf.TensorArray and tf.switch_case from
    /// tf.function (TensorList*, StatelessCase) and from TF1 graph mode (TensorArrayV3 in while_loop frames).
    static let listDirectory = packageRoot + "/fixtures/list_ops"

    @Test(arguments: ["map_fn_static", "map_fn_dynamic", "map_fn_int", "tensor_array_loop", "tensor_array_read", "switch_case", "switch_case_0",
                      "map_fn_images", "tf1_map_fn", "tf1_tensor_array"])
    func listsAndCaseConvertAndMatchTensorFlow(_ name: String) throws {
        try Self.check(name, in: Self.listDirectory)
    }

    @Test func everySwitchCaseBranchAndAnOutOfRangeIndexRunAsTensorFlowDefines() throws {
        let (model, _) = try Self.load("switch_case", from: Self.listDirectory)
        let x = TypedTensor(shape: [3], floats: [0.5, -1.5, 2])
        var outs: [Int: [Double]] = [:]
        for branch in [0, 1, 2, 7, -1] {
            outs[branch] = try model.run(typed: ["branch": TypedTensor(shape: [], int32: [Int32(branch)]), "x": x])["y"]!.doubles
        }
        #expect(outs[0] != outs[1] && outs[1] != outs[2], "\(outs)")
        #expect(outs[7] == outs[2] && outs[-1] == outs[2], "an index out of range runs the last branch: \(outs)")
    }

    @Test func tf1LoopsBecomeWhileNodes() throws {
        let (_, file) = try Self.load("nested_loops", from: Self.tf1Directory)
        let graph = file.manifest.graph
        #expect(graph.nodes.contains { $0.op == .while })
        #expect((graph.functions ?? [:]).values.contains { $0.nodes.contains { $0.op == .while } }, "the inner loop lives in the outer body")
    }

    static func check(_ name: String, in directory: String) throws {
        let entry = try #require(try index(directory).models[name])
        let (model, file) = try load(name, from: directory)
        #expect(file.header.majorVersion == 2)
        var feeds: [String: TypedTensor] = [:]
        for input in entry.inputs { feeds[input.key] = try TypedTensor(NpyArray(path: directory + "/" + input.file)) }
        let out = try model.run(typed: feeds)
        for (key, path) in entry.outputs {
            let expected = try TypedTensor(NpyArray(path: directory + "/" + path))
            let got = try #require(out[key], "output \(key) of \(out.keys.sorted())")
            #expect(got.dtype == expected.dtype, "\(key)")
            #expect(got.shape == expected.shape, "\(key)")
            if expected.dtype == .float32 {
                expectClose(got.doubles.map { Float($0) }, expected.doubles.map { Float($0) }, atol: 1e-5, rtol: 1e-5)
            } else {
                #expect(got.doubles == expected.doubles, "\(key)")
            }
        }
    }

    @Test func loopsBecomeFunctionsOfTheLibrary() throws {
        let (_, file) = try Self.load("nested_loops")
        let graph = file.manifest.graph
        #expect(graph.nodes.contains { $0.op == .while })
        let bodies = graph.functions ?? [:]
        #expect(bodies.count >= 4, "outer cond/body and inner cond/body: \(bodies.keys.sorted())")
        #expect(bodies.values.contains { $0.nodes.contains { $0.op == .while } }, "the inner loop lives in the outer body")
    }

    @Test func aRunTimeTripCountIsHonouredForEveryCount() throws {
        let (model, _) = try Self.load("while_runtime")
        for n in [0, 1, 7] {
            var y: [Float] = [0.5, -1, 2]
            for _ in 0..<n { y = y.map { $0 * 1.5 - 0.25 } }
            let out = try model.run(typed: ["x": TypedTensor(shape: [3], floats: [0.5, -1, 2]), "n": TypedTensor(shape: [], int32: [Int32(n)])])
            expectClose(out["y"]!.doubles.map { Float($0) }, y, atol: 1e-5, rtol: 1e-5)
            #expect(out["steps"]!.storage == .int32([Int32(2 * n)]))
        }
    }
}
