import Engine
import Foundation
import Formats
import Serving

/// Numeric tensors as TensorFlow Serving's REST API writes them: nested JSON lists, outermost = batch.
enum TensorJSON {
    /// Flattens a nested list of numbers, checking it is rectangular. Returns its shape and values.
    /// `used` values of the same request came before (its other inputs): `limit` bounds them together.
    static func flatten(_ value: JSONValue, field: String, limit: Int = maxValues, used: Int = 0) throws -> (shape: [Int], values: [Float]) {
        var shape: [Int] = []
        var probe = value
        while let a = probe.array {
            shape.append(a.count)
            guard let first = a.first else { break }
            probe = first
        }
        guard shape.count <= 8 else { throw ServingError(.badRequest, "\(field) is nested more than 8 deep") }
        let total = try count(shape, field: field, limit: limit, used: used)
        var values: [Float] = []
        values.reserveCapacity(min(total, 1 << 20))  // grows further only as values actually arrive
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

    /// Most values one request may carry (in one tensor, or across a stacked batch).
    static let maxValues = 64 << 20

    /// The number of values in a tensor of `shape`, overflow-checked and at most `limit`.
    static func count(_ shape: [Int], field: String, limit: Int = maxValues, used: Int = 0) throws -> Int {
        var total = 1
        for d in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            guard !overflow, product <= limit - used else {
                throw ServingError(.tooLarge, "\(field) has shape \(shape): more than \(limit - used) values, \(capText(limit, used))")
            }
            total = product
        }
        return total
    }

    static func capText(_ limit: Int, _ used: Int) -> String {
        used == 0 ? "the most one request may carry" : "which with the \(used) values of the request's other inputs is over the \(limit) one request may carry"
    }

    /// Stacks per-instance values into one batch tensor.
    static func stack(_ rows: [JSONValue], field: String, limit: Int = maxValues, used: Int = 0) throws -> Tensor {
        var shape: [Int]?
        var values: [Float] = []
        for (i, row) in rows.enumerated() {
            let (s, v) = try flatten(row, field: "\(field)[\(i)]", limit: limit, used: used + values.count)
            if let shape, shape != s { throw ServingError(.badRequest, "\(field)[\(i)] has shape \(s), but \(field)[0] has \(shape)") }
            guard used + values.count + v.count <= limit else {
                throw ServingError(.tooLarge, "\(field) has more than \(limit - used) values in its first \(i + 1) instances, \(capText(limit, used))")
            }
            shape = s
            values += v
        }
        return Tensor(shape: [rows.count] + (shape ?? []), values: values)
    }

    /// `{"inputs": {NAME: nested list, …}}`: a tensor per name; `limit` bounds all of them together.
    static func named(_ inputs: [String: JSONValue], limit: Int = maxValues) throws -> [String: Tensor] {
        var feeds: [String: Tensor] = [:]
        var used = 0
        for (name, value) in inputs.sorted(by: { $0.key < $1.key }) {
            let (shape, values) = try flatten(value, field: "inputs.\(name)", limit: limit, used: used)
            used += values.count
            feeds[name] = Tensor(shape: shape, values: values)
        }
        return feeds
    }

    /// `{"instances": [{NAME: …, …}, …]}` for a model with several inputs: a stacked tensor per input in `names`;
    /// `limit` bounds all of them together.
    static func stack(_ rows: [JSONValue], inputs names: [String], limit: Int = maxValues) throws -> [String: Tensor] {
        var feeds: [String: Tensor] = [:]
        var used = 0
        for name in names {
            let column = try rows.enumerated().map { i, v -> JSONValue in
                guard let x = v.object?[name] else { throw ServingError(.badRequest, "instances[\(i)] has no input '\(name)'") }
                return x
            }
            let t = try stack(column, field: "instances.\(name)", limit: limit, used: used)
            used += t.count
            feeds[name] = t
        }
        return feeds
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
