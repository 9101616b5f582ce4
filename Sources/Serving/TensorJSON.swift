import Engine
import Foundation
import Formats

/// Numeric tensors as TensorFlow Serving's REST API writes them: nested JSON lists, outermost = batch.
enum TensorJSON {
    /// Flattens a nested list of numbers, checking it is rectangular. Returns its shape and values.
    static func flatten(_ value: JSONValue, field: String) throws -> (shape: [Int], values: [Float]) {
        var shape: [Int] = []
        var probe = value
        while let a = probe.array {
            shape.append(a.count)
            guard let first = a.first else { break }
            probe = first
        }
        guard shape.count <= 8 else { throw ServingError(.badRequest, "\(field) is nested more than 8 deep") }
        let total = shape.reduce(1, *)
        guard total <= 64 << 20 else { throw ServingError(.tooLarge, "\(field) has \(total) values") }
        var values: [Float] = []
        values.reserveCapacity(total)
        func walk(_ v: JSONValue, _ depth: Int) throws {
            if depth == shape.count {
                if let d = v.double { values.append(Float(d)); return }
                if let b = v.bool { values.append(b ? 1 : 0); return }
                throw ServingError(.badRequest, "\(field) holds \(v.object != nil ? "an object" : v.string != nil ? "a string" : "a non-number") where a number was expected (binary values are sent as {\"b64\": …})")
            }
            guard let a = v.array, a.count == shape[depth] else {
                throw ServingError(.badRequest, "\(field) is not rectangular: a list at depth \(depth) has \(v.array?.count ?? 0) entries, expected \(shape[depth])")
            }
            for x in a { try walk(x, depth + 1) }
        }
        try walk(value, 0)
        return (shape, values)
    }

    /// Stacks per-instance values into one batch tensor.
    static func stack(_ rows: [JSONValue], field: String) throws -> Tensor {
        var shape: [Int]?
        var values: [Float] = []
        for (i, row) in rows.enumerated() {
            let (s, v) = try flatten(row, field: "\(field)[\(i)]")
            if let shape, shape != s { throw ServingError(.badRequest, "\(field)[\(i)] has shape \(s), but \(field)[0] has \(shape)") }
            shape = s
            values += v
        }
        return Tensor(shape: [rows.count] + (shape ?? []), values: values)
    }

    /// JSON text of `tensor` (or of its `row`-th entry along the batch axis) as nested lists.
    static func text(_ tensor: Tensor, row: Int? = nil) -> String {
        var shape = tensor.shape
        var offset = 0
        if let row {
            let per = shape.dropFirst().reduce(1, *)
            offset = row * per
            shape.removeFirst()
        }
        var out = ""
        out.reserveCapacity(shape.reduce(1, *) * 12)
        var index = offset
        func emit(_ depth: Int) {
            if depth == shape.count {
                let v = tensor.values[index]
                index += 1
                out += v.isFinite ? "\(v)" : "null"
                return
            }
            out += "["
            for i in 0..<shape[depth] {
                if i > 0 { out += "," }
                emit(depth + 1)
            }
            out += "]"
        }
        emit(0)
        return out
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }

    static func dtypeName(_ d: DType) -> String {
        switch d {
        case .float32, .float16, .int8q: "DT_FLOAT"
        case .int32: "DT_INT32"
        case .int64: "DT_INT64"
        case .uint8: "DT_UINT8"
        case .bool: "DT_BOOL"
        case .float64: "DT_DOUBLE"
        }
    }
}
