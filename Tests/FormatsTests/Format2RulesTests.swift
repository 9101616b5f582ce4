import Testing
@testable import Formats
import TestSupport

/// One handcrafted bad graph or file per format 2.0 rule (docs/FORMAT.md §3.1, §4.1.3); each fails with
/// its own error code and a message naming what is wrong.
@Suite struct Format2RulesTests {
    static let x = ValueInfo("x", .float32, [4])
    static let i = ValueInfo("i", .int32, [])

    /// A counting loop: cond `i < 3`, body `i + 1`, both over (i, x).
    static func loopGraph(cond: String = "cond", body: String = "body", maxIterations: Int = 10, bodyCallsLoop: Bool = false) -> ModelGraph {
        let three = ValueInfo("three", .int32, [])
        let condGraph = ModelGraph(inputs: [ValueInfo("ci", .int32, []), ValueInfo("cx", .float32, [4])], outputs: [ValueInfo("lt", .bool, [])],
                                   constants: [three],
                                   nodes: [Node(name: "lt", op: .compare, inputs: ["ci", "three"], outputs: [ValueInfo("lt", .bool, [])],
                                                attributes: ["function": .string("less")])])
        var bodyNodes = [Node(name: "next", op: .binary, inputs: ["bi", "bi"], outputs: [ValueInfo("next", .int32, [])], attributes: ["function": .string("add")]),
                         Node(name: "bx2", op: .unary, inputs: ["bx"], outputs: [ValueInfo("bx2", .float32, [4])], attributes: ["function": .string("identity")])]
        if bodyCallsLoop {
            bodyNodes.append(Node(name: "again", op: .while, inputs: ["next", "bx2"], outputs: [ValueInfo("again:0", .int32, []), ValueInfo("again:1", .float32, [4])],
                                  attributes: ["cond": .string("cond"), "body": .string("body"), "max_iterations": .int(5)]))
        }
        let bodyGraph = ModelGraph(inputs: [ValueInfo("bi", .int32, []), ValueInfo("bx", .float32, [4])],
                                   outputs: [ValueInfo("next", .int32, []), ValueInfo("bx2", .float32, [4])], nodes: bodyNodes)
        let loop = Node(name: "loop", op: .while, inputs: ["i", "x"], outputs: [ValueInfo("loop:0", .int32, []), ValueInfo("loop:1", .float32, [4])],
                        attributes: ["cond": .string(cond), "body": .string(body), "max_iterations": .int(maxIterations)])
        return ModelGraph(inputs: [i, x], outputs: [ValueInfo("loop:1", .float32, [4])], nodes: [loop], functions: ["cond": condGraph, "body": bodyGraph])
    }

    @Test func aValidLoopPasses() throws {
        let g = Self.loopGraph()
        try g.validate()
        try g.checkShapes()
        #expect(g.needsVersion2)
    }

    @Test func aMissingFunctionIsNamed() {
        expectFormatsError(.functionInvalid, "node 'loop'", "body 'nobody'", "not in the function library") { try Self.loopGraph(body: "nobody").validate() }
    }

    @Test func recursionIsRefused() {
        expectFormatsError(.functionInvalid, "'body'", "calls itself") { try Self.loopGraph(bodyCallsLoop: true).validate() }
    }

    @Test func aLoopNeedsABound() {
        expectFormatsError(.attributeOutOfRange, "'max_iterations'", "a loop needs a bound") { try Self.loopGraph(maxIterations: -1).validate() }
        var g = Self.loopGraph()
        g.nodes[0].attributes["max_iterations"] = nil
        expectFormatsError(.graphInvalid, "missing required attribute 'max_iterations'") { try g.validate() }
    }

    @Test func functionArityMustMatch() {
        var g = Self.loopGraph()
        g.functions!["cond"]!.inputs.removeLast()
        expectFormatsError(.functionInvalid, "takes 1 inputs", "expected 2 inputs") { try g.validate() }
    }

    @Test func aFunctionHasNoLibraryOfItsOwn() {
        var g = Self.loopGraph()
        g.functions!["body"]!.functions = [:]
        expectFormatsError(.graphInvalid, "function 'body'", "own function library") { try g.validate() }
    }

    @Test func outputCountsAreChecked() {
        let node = Node(name: "k", op: .topK, inputs: ["x", "i"], outputs: [ValueInfo("k", .float32, [4])])
        let g = ModelGraph(inputs: [Self.x, Self.i], outputs: [ValueInfo("k", .float32, [4])], nodes: [node])
        expectFormatsError(.graphInvalid, "node 'k' (top_k) has 1 outputs, expected 2") { try g.validate() }
    }

    @Test func recordedTypesMustMatchInferredOnes() throws {
        let node = Node(name: "c", op: .compare, inputs: ["x", "x"], outputs: [ValueInfo("c", .float32, [4])], attributes: ["function": .string("less")])
        let g = ModelGraph(inputs: [Self.x], outputs: [ValueInfo("c", .float32, [4])], nodes: [node])
        try g.validate()
        expectFormatsError(.typeMismatch, "node 'c' (compare) produces bool", "records float32") { try g.checkShapes() }
    }

    @Test func integerInputsOfFloatOnlyOpsAreRefused() throws {
        let node = Node(name: "s", op: .softmax, inputs: ["i"], outputs: [ValueInfo("s", .int32, [])])
        let g = ModelGraph(inputs: [Self.i], outputs: [ValueInfo("s", .int32, [])], nodes: [node])
        expectFormatsError(.typeMismatch, "softmax", "takes float32 values, got int32") { try g.checkShapes() }
    }

    /// A 2.0 graph in a file whose header says 1.x: refused (an older reader would misread it).
    @Test func aTypedGraphInA1xFileIsRefused() throws {
        var writer = SkiffWriter(manifest: SkiffManifest(graph: Self.loopGraph(), signatures: [], provenance: Provenance(sourceFormat: "test")))
        try writer.addTensor("three", dtype: .int32, shape: [], bytes: [3, 0, 0, 0])
        var s = FileSurgery(try writer.serialize().bytes)
        #expect(s.bytes[8] == 2)
        _ = try SkiffFile(bytes: s.bytes)
        s.setU16(1, at: 8)
        s.reseal()
        expectFormatsError(.versionTooOld, "format 2.0", "file says 1.0") { try SkiffFile(bytes: s.bytes) }
    }

    /// Classifiers stay 1.x so older readers keep reading them.
    @Test func aFloatGraphIsStillWrittenAs1x() throws {
        let bytes = try SampleModels.tinyClassifier().serialize().bytes
        #expect(bytes[8] == 1)
    }
}
