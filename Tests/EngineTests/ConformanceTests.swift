import Foundation
import Testing
import Formats
@testable import Engine
import TestSupport

/// fixtures/conformance/cases.json (written by fixtures/make_conformance_fixtures.py with TensorFlow): every
/// format 2.0 op on random and edge-case inputs. Each case becomes a one-node graph, written to a `.skiff`
/// file and loaded back (so the format round-trips too), and must give TensorFlow's outputs — integers and
/// bools exactly, floats within 1e-6 — or fail where TensorFlow refused the input.
@Suite struct ConformanceTests {
    struct Value: Decodable {
        let dtype: String
        let shape: [Int]
        let data: [Double]

        var tensor: TypedTensor {
            switch dtype {
            case "int32": TypedTensor(shape: shape, int32: data.map { Int32($0) })
            case "int64": TypedTensor(shape: shape, int64: data.map { Int64($0) })
            case "uint8": TypedTensor(shape: shape, storage: .uint8(data.map { UInt8($0) }))
            case "bool": TypedTensor(shape: shape, bools: data.map { $0 != 0 })
            default: TypedTensor(shape: shape, floats: data.map { Float($0) })
            }
        }
    }

    struct Case: Decodable, CustomTestStringConvertible {
        let name: String
        let op: String
        let attributes: [String: Attribute]
        let inputs: [Value]
        let outputs: Int
        let expected: [Value]?
        let error: String?
        var testDescription: String { name }
    }

    struct Fixtures: Decodable {
        let tensorflow: String
        let cases: [Case]
    }

    static let fixtures: Fixtures = {
        let url = URL(fileURLWithPath: packageRoot + "/fixtures/conformance/cases.json")
        return try! JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: url))
    }()

    /// Builds the one-node graph of `c`, writes and reopens it, and runs it.
    static func run(_ c: Case) throws -> [TypedTensor] {
        guard let op = OpKind(rawValue: c.op) else { throw EngineError("unknown op \(c.op)") }
        let b = GraphBuilder()
        let names = c.inputs.enumerated().map { i, v in
            b.input("x\(i)", DType(name: v.dtype)!, v.shape.map(Dim.fixed))
        }
        let outs = try b.add(op, "op", names, c.attributes, outputs: c.outputs)
        let m = b.finish(outputs: outs)
        var writer = SkiffWriter(manifest: SkiffManifest(graph: m.graph, signatures: [.servingDefault(for: m.graph)],
                                                         provenance: Provenance(sourceFormat: "test")))
        try m.addTensors(to: &writer)
        let file = try SkiffFile(bytes: try writer.serialize().bytes)
        #expect(file.header.majorVersion == 2)
        let model = try Model(file: file)
        let feeds = Dictionary(uniqueKeysWithValues: zip(names, c.inputs.map(\.tensor)))
        let results = try model.run(typed: feeds)
        return outs.map { results[$0]! }
    }

    @Test(arguments: fixtures.cases) func matchesTensorFlow(_ c: Case) throws {
        if c.error != nil {
            #expect(throws: EngineError.self, "TensorFlow refused this input (\(c.error!)); Skiff must too") { try Self.run(c) }
            return
        }
        let got = try Self.run(c)
        let expected = c.expected!
        #expect(got.count == expected.count)
        for (i, (g, e)) in zip(got, expected).enumerated() {
            #expect(g.dtype.name == e.dtype, "output \(i) type")
            #expect(g.shape == e.shape, "output \(i) shape")
            guard g.shape == e.shape else { continue }
            if e.dtype == "float32" {
                expectClose(g.doubles.map { Float($0) }, e.data.map { Float($0) }, atol: 1e-6, rtol: 1e-6)
            } else {
                #expect(g.doubles == e.data, "output \(i) values")
            }
        }
    }

    /// Every format 2.0 op except control flow (ControlFlowTests) has cases.
    @Test func everyFormat2OpHasCases() {
        let covered = Set(Self.fixtures.cases.compactMap { OpKind(rawValue: $0.op) }).filter(\.isVersion2)
        let expected = Set(OpKind.allCases.filter { $0.isVersion2 && $0 != .while && $0 != .if })
        #expect(covered == expected, "ops without cases: \(expected.subtracting(covered).map(\.rawValue).sorted())")
    }
}
