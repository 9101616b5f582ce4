import Foundation
import Testing
@testable import Formats
@testable import Importers
import TestSupport

@Suite struct ModelGraphTests {
    /// A graph with one node of every op kind, each with its required attributes.
    static func everyOp() -> ModelGraph {
        func attrs(_ op: OpKind) -> [String: Attribute] {
            var a: [String: Attribute] = [:]
            for spec in op.schema.attributes where spec.required {
                switch spec.kind {
                case .int: a[spec.name] = .int(1)
                case .ints: a[spec.name] = .ints(op == .pad ? [0, 0, 1, 1, 1, 1, 0, 0] : [2, 2])
                case .float: a[spec.name] = .float(0.5)
                case .floats: a[spec.name] = .floats([0.5])
                case .string: a[spec.name] = .string(spec.allowed?.first ?? "x")
                case .strings: a[spec.name] = .strings(["x"])
                case .bool: a[spec.name] = .bool(true)
                }
            }
            return a
        }
        let x = ValueInfo("x", .float32, [.batch, 4, 4, 2])
        var nodes: [Node] = []
        for op in OpKind.allCases where !op.isVersion2 {
            let inputs = Array(["x", "k", "k"].prefix(max(op.schema.minInputs, 1)))
            nodes.append(Node(name: op.rawValue, op: op, inputs: inputs, outputs: [ValueInfo("\(op.rawValue):0", .float32, [.batch, "H", 4, 2])],
                              attributes: attrs(op)))
        }
        return ModelGraph(inputs: [x], outputs: nodes.map(\.outputs[0]), constants: [ValueInfo("k", .float32, [3, 3, 2, 2])], nodes: nodes)
    }

    @Test func everyOpKindHasASchemaAndRoundTripsThroughTheManifest() throws {
        let graph = Self.everyOp()
        try graph.validate()
        let data = try JSONEncoder().encode(graph)
        let back = try JSONDecoder().decode(ModelGraph.self, from: data)
        #expect(back == graph)
        #expect(Set(back.nodes.map(\.op)) == OpKind.version1)
    }

    @Test func everyAttributeKindRoundTripsExactly() throws {
        let attributes: [String: Attribute] = [
            "i": .int(-3), "is": .ints([1, -1, 0]), "f": .float(1.0 / 6.0), "fs": .floats([0.1, 1e-7, -2.5e30]),
            "s": .string("same"), "ss": .strings(["a", "ü"]), "b": .bool(false),
        ]
        let back = try JSONDecoder().decode([String: Attribute].self, from: JSONEncoder().encode(attributes))
        #expect(back == attributes)
        #expect(Set(attributes.values.map(\.kind)) == Set(Attribute.Kind.allCases))
    }

    @Test func graphRoundTripsThroughAWrittenFile() throws {
        let writer = try SampleModels.tinyClassifier()
        let file = try SkiffFile(bytes: try writer.serialize().bytes)
        #expect(file.manifest.graph == writer.manifest.graph)
        #expect(file.manifest.graph.inputs[0].shape == [.symbol("N"), .fixed(8), .fixed(8), .fixed(3)])
        #expect(file.manifest.graph.opHistogram == [.conv2d: 1, .globalAvgPool: 1, .dense: 1, .softmax: 1])
    }

    @Test func validationListsEveryProblemAtOnce() throws {
        var g = try SampleModels.tinyClassifier().manifest.graph
        g.nodes[0].attributes["padding"] = .string("sideways")
        g.nodes[0].attributes["strides"] = .int(2)
        g.nodes[0].attributes["colour"] = .string("red")
        g.nodes[1].inputs = ["nope"]
        g.nodes[2].inputs = ["pool:0"]
        g.nodes[3].attributes = [:]
        g.nodes.append(Node(name: "unary", op: .unary, inputs: ["probabilities"], outputs: [ValueInfo("conv:0", .float32, [1])]))
        g.outputs.append(ValueInfo("ghost", .float32, [1]))
        let e = expectFormatsError(.graphInvalid,
            "'padding' is 'sideways', expected one of: same, valid, explicit",
            "'strides' is int, expected ints",
            "attribute 'colour', which conv2d does not take",
            "input 0 'nope' is not a graph input",
            "has 1 inputs, expected 2–3",
            "missing required attribute 'function'",
            "'conv:0' is defined twice",
            "graph output 'ghost'") { try g.validate() }
        #expect(e?.message.contains("8 problems") == true)
    }

    @Test func symbolicConstantsAreRefused() throws {
        var g = try SampleModels.tinyClassifier().manifest.graph
        g.constants[0].shape[0] = .batch
        expectFormatsError(.graphInvalid, "constant 'conv/kernel' has a symbolic dimension") { try g.validate() }
    }

    @Test func signaturesAndLabelsMustNameGraphValues() throws {
        var m = try SampleModels.tinyClassifier().manifest
        m.signatures[0].outputs[0].value = "dense:0"
        m.labels = ["conv:0": ["a"]]
        expectFormatsError(.manifestInvalid, "binds 'dense:0', which is not a graph output", "labels are given for 'conv:0'") { try m.validate() }
    }

    /// Shape inference is what readers type graphs with (from Keras configs and GraphDefs) and what the engine
    /// sizes buffers with: out-of-range numbers are errors naming the node, never an overflow trap.
    @Test func shapeInferenceRefusesOverflowingShapes() {
        let up = Node(name: "up", op: .conv2dTranspose, inputs: ["x", "k"], outputs: [],
                      attributes: ["strides": .ints([65536, 65536]), "padding": .string("same")])
        expectFormatsError(.graphInvalid, "node 'up'", "more than the limits") {
            try ShapeInference.outputShape(of: up, inputs: [[1, 65536, 65536, 1], [1, 1, 1, 1]])
        }
        let r = Node(name: "r", op: .reshape, inputs: ["x"], outputs: [], attributes: ["shape": .ints([1 << 32, 1 << 32, -1])])
        expectFormatsError(.graphInvalid, "node 'r'", "2^34") { try ShapeInference.outputShape(of: r, inputs: [[4]]) }
        let gap = Node(name: "gap", op: .globalAvgPool, inputs: ["x"], outputs: [])
        expectFormatsError(.graphInvalid, "node 'gap'", "input 0") {
            try ShapeInference.outputShape(of: gap, inputs: [[.fixed(1 << 62), 2, 2, 1]])
        }
        let pool = Node(name: "pool", op: .maxPool2d, inputs: ["x"], outputs: [], attributes: ["kernel": .ints([2, 2]), "pads": .ints([1])])
        expectFormatsError(.badPads, "node 'pool'", "'pads'") { try ShapeInference.outputShape(of: pool, inputs: [[1, 4, 4, 1]]) }
        let wide = Node(name: "wide", op: .maxPool2d, inputs: ["x"], outputs: [], attributes: ["kernel": .ints([2, Int.max])])
        expectFormatsError(.attributeOutOfRange, "node 'wide'", "'kernel'") { try ShapeInference.outputShape(of: wide, inputs: [[1, 4, 4, 1]]) }
    }

    @Test func unknownOpInAManifestIsADecodingError() throws {
        let json = #"{"name":"n","op":"teleport","inputs":[],"outputs":[],"attributes":{}}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Node.self, from: Data(json.utf8)) }
    }

    @Test func dtypeNumbersAreFixed() {
        // These numbers are on disk forever (docs/FORMAT.md §6, §7).
        #expect(DType.allCases.map { "\($0.name)=\($0.rawValue)" } ==
                ["float32=1", "float16=2", "int8q=3", "int32=4", "int64=5", "uint8=6", "bool=7", "float64=8"])
        #expect(TensorEncoding.allCases.map(\.rawValue) == [0, 1, 2])
    }
}

/// Symbolic dimensions that pass through an op unchanged keep their symbol (the batch stays `N`), so files and
/// `skiff inspect` do not show symbols derived from node names for the batch.
@Suite struct SymbolicShapeTests {
    func shape(_ op: OpKind, _ input: [Dim], _ attributes: [String: Attribute]) throws -> [Dim] {
        try ShapeInference.outputShape(of: Node(name: "net/block_13_pad", op: op, inputs: ["x"], outputs: [ValueInfo("y", .float32, [])],
                                                attributes: attributes), inputs: [input])
    }

    @Test func paddingKeepsAnUnpaddedSymbolicAxis() throws {
        #expect(try shape(.pad, [.batch, 4, 4, 3], ["pads": .ints([0, 0, 1, 1, 2, 2, 0, 0])]) == [.batch, 6, 8, 3])
        // A padded symbolic axis is a new size, named after the node.
        let padded = try shape(.pad, [.batch, "H", 4, 3], ["pads": .ints([0, 0, 1, 1, 0, 0, 0, 0])])
        #expect(padded[0] == .batch && padded[1] == .symbol("net/block_13_pad:1"))
    }

    @Test func reshapeCarriesTheOnlySymbolicAxisToMinusOne() throws {
        #expect(try shape(.reshape, [.batch, 7, 7, 64], ["shape": .ints([-1, 3136])]) == [.batch, 3136])
        #expect(try shape(.reshape, [.batch, 3136], ["shape": .ints([-1, 7, 7, 64])]) == [.batch, 7, 7, 64])
        #expect(try shape(.reshape, [.batch, 7, 7, 64], ["shape": .ints([0, -1])]) == [.batch, 3136])
        // When the element counts differ, the -1 is not the batch: a new symbol.
        #expect(try shape(.reshape, [.batch, 7, 7, 64], ["shape": .ints([-1, 64])]) == [.symbol("net/block_13_pad:0"), 64])
    }
}
