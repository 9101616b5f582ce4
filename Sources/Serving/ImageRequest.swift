import Foundation
import Formats

/// The JSON shapes clients send images in, shared by the Lambda runtime and `skiff serve`:
/// `{"b64": …}`, `{"image": …}` (base64, web-safe base64 or a data: URI), `{"instances": [{"b64": …}, …]}`
/// (entries may also be bare strings or `{"NAME": {"b64": …}}` as TensorFlow Serving clients send them),
/// with an optional `"top_k"`.
public struct ImageRequest: Sendable {
    public var images: [[UInt8]]
    public var topK: Int?

    public init(images: [[UInt8]], topK: Int? = nil) {
        self.images = images
        self.topK = topK
    }

    /// - Throws: `ServingError(.badRequest)` naming the field that is missing or of the wrong type.
    public static func parse(json data: [UInt8]) throws -> ImageRequest {
        let value: JSONValue
        do { value = try JSONValue(parsing: Data(data)) } catch {
            throw ServingError(.badRequest, "the body is not valid JSON (\(error))")
        }
        return try parse(value)
    }

    public static func parse(_ value: JSONValue) throws -> ImageRequest {
        guard let object = value.object else {
            throw ServingError(.badRequest, "expected a JSON object with \"b64\", \"image\" or \"instances\"")
        }
        var topK: Int?
        if let t = object["top_k"] ?? object["topK"] {
            guard let k = t.int, k >= 1 else { throw ServingError(.badRequest, "\"top_k\" must be a positive integer") }
            topK = k
        }
        if let single = object["b64"] ?? object["image"] ?? object["image_bytes"] {
            return ImageRequest(images: [try imageBytes(single, field: object["b64"] != nil ? "b64" : object["image"] != nil ? "image" : "image_bytes")], topK: topK)
        }
        if let instances = object["instances"] {
            guard let list = instances.array else { throw ServingError(.badRequest, "\"instances\" must be a list") }
            guard !list.isEmpty else { throw ServingError(.badRequest, "\"instances\" is empty") }
            let images = try list.enumerated().map { i, entry in try imageBytes(entry, field: "instances[\(i)]") }
            return ImageRequest(images: images, topK: topK)
        }
        throw ServingError(.badRequest, "expected \"b64\", \"image\" or \"instances\" in the JSON body (found: \(object.keys.sorted().joined(separator: ", ")))")
    }

    /// A string, `{"b64": string}`, or a one-key object wrapping either (`{"image_bytes": {"b64": …}}`).
    static func imageBytes(_ v: JSONValue, field: String) throws -> [UInt8] {
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
