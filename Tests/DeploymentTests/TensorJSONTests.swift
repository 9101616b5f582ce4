import Foundation
import Formats
import Importers
@testable import Serving
@testable import HTTPServer
import Testing

/// Hostile numeric request bodies: nested lists whose claimed shape is astronomically large.
@Suite struct TensorJSONTests {
    /// A few-KB JSON list nested `depth` deep whose first entry at every level is the next list and whose other
    /// `width - 1` entries are zeros: the shape read from the first entries is `width` at every level.
    static func hostile(depth: Int, width: Int) -> String {
        var text = "0"
        for _ in 0..<depth { text = "[" + text + String(repeating: ",0", count: width - 1) + "]" }
        return text
    }

    static func kind(_ body: () throws -> Void) -> (ServingError.Kind, String)? {
        do { try body(); return nil } catch let e as ServingError { return (e.kind, e.message) } catch { return nil }
    }

    @Test func hugeClaimedShapeIsRefusedWithoutOverflow() throws {
        let text = Self.hostile(depth: 8, width: 250)
        #expect(text.utf8.count < 5000)
        let value = try JSONValue(parsing: Data(text.utf8))
        let flat = Self.kind { _ = try TensorJSON.flatten(value, field: "inputs") }
        #expect(flat?.0 == .tooLarge, "\(String(describing: flat))")
        #expect(flat?.1.contains("inputs") == true)
        #expect(flat?.1.contains("\(TensorJSON.maxValues)") == true)
        // The same list as one instance of a batch.
        let stacked = Self.kind { _ = try TensorJSON.stack([value], field: "instances") }
        #expect(stacked?.0 == .tooLarge, "\(String(describing: stacked))")
        #expect(stacked?.1.contains("instances[0]") == true)
    }

    @Test func shapeCountIsOverflowChecked() throws {
        #expect(Self.kind { _ = try TensorJSON.count([Int.max, 2], field: "x") }?.0 == .tooLarge)
        #expect(Self.kind { _ = try TensorJSON.count([1 << 32, 1 << 32], field: "x") }?.0 == .tooLarge)
        #expect(try TensorJSON.count([2, 3, 4], field: "x") == 24)
        #expect(try TensorJSON.count([], field: "x") == 1)
    }

    @Test func aStackedBatchIsCappedAsAWhole() throws {
        // Each instance is under the cap; together they are over it.
        let row = JSONValue.array(Array(repeating: .number(0), count: 6))
        let stacked = Self.kind { _ = try TensorJSON.stack([row, row], field: "instances", limit: 10) }
        #expect(stacked?.0 == .tooLarge, "\(String(describing: stacked))")
        #expect(stacked?.1.contains("instances") == true)
        // A small batch still stacks.
        let small = try TensorJSON.stack([.array([.number(1), .number(2)]), .array([.number(3), .number(4)])], field: "instances")
        #expect(small.shape == [2, 2])
        #expect(small.values == [1, 2, 3, 4])
    }

    /// `{"inputs": {…}}` and multi-input `instances` are capped as a whole: each input fitting is not enough.
    @Test func severalInputsShareOneCap() throws {
        let six = try JSONValue(parsing: Data("[[1,2,3],[4,5,6]]".utf8))
        let two = try TensorJSON.named(["a": six, "b": six], limit: 12)
        #expect(two["a"]?.shape == [2, 3])
        #expect(two["b"]?.values == [1, 2, 3, 4, 5, 6])
        let three = Self.kind { _ = try TensorJSON.named(["a": six, "b": six, "c": six], limit: 12) }
        #expect(three?.0 == .tooLarge, "\(String(describing: three))")
        #expect(three?.1.contains("inputs.c") == true && three?.1.contains("with the 12 values of the request's other inputs") == true,
                "\(String(describing: three))")

        let row = try JSONValue(parsing: Data(#"{"a": [1, 2, 3], "b": [4, 5, 6]}"#.utf8))
        let batch = try TensorJSON.stack([row, row], inputs: ["a", "b"], limit: 12)
        #expect(batch["a"]?.shape == [2, 3])
        #expect(batch["b"]?.values == [4, 5, 6, 4, 5, 6])
        // Three rows: 9 values per input, each under 12, 18 together.
        #expect(try TensorJSON.stack([row, row, row], inputs: ["a"], limit: 12)["a"]?.count == 9)
        let over = Self.kind { _ = try TensorJSON.stack([row, row, row], inputs: ["a", "b"], limit: 12) }
        #expect(over?.0 == .tooLarge, "\(String(describing: over))")
        #expect(over?.1.contains("instances.b") == true, "\(String(describing: over))")
        let missing = Self.kind { _ = try TensorJSON.stack([row, .object(["a": .array([.number(7), .number(8), .number(9)])])], inputs: ["a", "b"]) }
        #expect(missing?.0 == .badRequest && missing?.1.contains("instances[1] has no input 'b'") == true, "\(String(describing: missing))")
    }
}
