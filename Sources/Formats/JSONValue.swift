import Foundation

/// A parsed JSON document, for reading model configs whose schema varies between writers.
public enum JSONValue: Equatable, Sendable, CustomStringConvertible, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(parsing data: Data) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// A parse error as one readable phrase ("unexpected character around line 1, column 9"), without Swift's
    /// `DecodingError` dump.
    public static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        switch e {
        case .dataCorrupted(let context):
            // swift-foundation's JSONDecoder puts the parser's message here (no NSError bridging: it would link
            // full Foundation into skiff-runtime).
            let detail = context.debugDescription
            if detail.includes("did not start with array or object") || detail.isEmpty || detail == "The given data was not valid JSON." {
                return detail.isEmpty ? "it is not valid JSON" : "it is not valid JSON (\(detail.trimmed(".")))"
            }
            return "it is not valid JSON (\(detail.trimmed(".")))"
        default:
            return "it is not valid JSON"
        }
    }

    public subscript(key: String) -> JSONValue? { if case .object(let o) = self { o[key] } else { nil } }
    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, index >= 0, index < a.count { a[index] } else { nil }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var double: Double? { if case .number(let n) = self { n } else { nil } }
    public var int: Int? { if case .number(let n) = self, n == n.rounded(), abs(n) < 1e15 { Int(n) } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var isNull: Bool { self == .null }

    /// An int list, also accepting a single int (Keras writes `kernel_size: 3` or `[3, 3]`).
    public var ints: [Int]? {
        if let i = int { return [i] }
        guard let a = array else { return nil }
        let v = a.compactMap(\.int)
        return v.count == a.count ? v : nil
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? "\(Int(n))" : "\(n)"
        case .string(let s): "\"\(s)\""
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}
