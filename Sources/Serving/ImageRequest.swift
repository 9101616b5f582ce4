import Foundation
import Formats

/// The JSON shapes clients send images in, shared by the Lambda runtime and `skiff serve`:
/// `{"b64": …}`, `{"image": …}` (base64, web-safe base64 or a data: URI), `{"instances": [{"b64": …}, …]}`
/// (entries may also be bare strings or `{"NAME": {"b64": …}}` as TensorFlow Serving clients send them),
/// with an optional `"top_k"`.
public struct ImageRequest: Sendable {
    public var images: [[UInt8]]
    /// Where each image was in the request (`body`, `b64`, `instances[1]`, …), for the response and errors.
    public var names: [String]
    public var topK: Int?

    public init(images: [[UInt8]], names: [String]? = nil, topK: Int? = nil) {
        self.images = images
        self.names = names ?? (images.count == 1 ? ["body"] : images.indices.map { "image \($0 + 1)" })
        self.topK = topK
    }

    public var named: [Classifier.NamedImage] { zip(names, images).map { Classifier.NamedImage(name: $0, bytes: $1) } }

    /// A `top_k` given as text (a query parameter): a positive integer, or a 400 naming the value.
    public static func topK(query value: String?) throws -> Int? {
        guard let value else { return nil }
        guard let k = Int(value), k >= 1 else {
            throw ServingError(.badRequest, "top_k must be a positive integer, not '\(value)'")
        }
        return k
    }

    /// - Throws: `ServingError(.badRequest)` naming the field that is missing or of the wrong type.
    public static func parse(json data: [UInt8]) throws -> ImageRequest {
        let value: JSONValue
        do { value = try JSONValue(parsing: Data(data)) } catch {
            throw ServingError(.badRequest, "the request body: \(JSONValue.describe(error))")
        }
        return try parse(value)
    }

    public static func parse(_ value: JSONValue) throws -> ImageRequest {
        guard let object = value.object else {
            throw ServingError(.badRequest, "expected a JSON object with \"b64\", \"image\" or \"instances\"")
        }
        var topK: Int?
        if let t = object["top_k"] ?? object["topK"] {
            guard let k = t.int, k >= 1 else { throw ServingError(.badRequest, "\"top_k\" must be a positive integer, not \(t)") }
            topK = k
        }
        if let single = object["b64"] ?? object["image"] ?? object["image_bytes"] {
            let field = object["b64"] != nil ? "b64" : object["image"] != nil ? "image" : "image_bytes"
            return ImageRequest(images: [try imageBytes(single, field: field)], names: [field], topK: topK)
        }
        if let instances = object["instances"] {
            guard let list = instances.array else { throw ServingError(.badRequest, "\"instances\" must be a list") }
            guard !list.isEmpty else { throw ServingError(.badRequest, "\"instances\" is empty") }
            let images = try list.enumerated().map { i, entry in try imageBytes(entry, field: "instances[\(i)]") }
            return ImageRequest(images: images, names: list.indices.map { "instances[\($0)]" }, topK: topK)
        }
        throw ServingError(.badRequest, "expected \"b64\", \"image\" or \"instances\" in the JSON body (found: \(object.keys.sorted().joined(separator: ", ")))")
    }

    /// A string, `{"b64": string}`, or a one-key object wrapping either (`{"image_bytes": {"b64": …}}`).
    package static func imageBytes(_ v: JSONValue, field: String) throws -> [UInt8] {
        if let s = v.string { return Array(s.utf8) }
        if let o = v.object {
            if let b = o["b64"] {
                guard let s = b.string else { throw ServingError(.badRequest, "\(field).b64 must be a string of base64") }
                return Array(s.utf8)
            }
            if let i = o["image"] ?? o["image_bytes"] { return try imageBytes(i, field: field + (o["image"] != nil ? ".image" : ".image_bytes")) }
            if o.count == 1, let (k, inner) = o.first { return try imageBytes(inner, field: "\(field).\(k)") }
        }
        throw ServingError(.badRequest, "\(field) must be a base64 string or {\"b64\": \"…\"}")
    }
}
