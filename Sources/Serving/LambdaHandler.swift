import Engine
import Foundation
import Formats

/// Turns one Lambda event into one response, without any networking (the runtime loop does that).
///
/// Events: API Gateway REST (v1) and HTTP API (v2) proxy events and Function URL events — a JPEG body with
/// `isBase64Encoded`, or a JSON body in any `ImageRequest` shape — and direct invocations whose payload is that
/// JSON. Every reply has the proxy response shape (`statusCode`, `headers`, `body` as JSON text,
/// `isBase64Encoded`), so the same function works behind API Gateway, a Function URL or `aws lambda invoke`.
public struct LambdaHandler: Sendable {
    public let classifier: Classifier
    public let topK: Int
    /// Largest event accepted (Lambda's synchronous payload limit is 6 MB).
    public let maxEventBytes: Int

    public init(classifier: Classifier, topK: Int = 5, maxEventBytes: Int = 6 * 1024 * 1024) {
        self.classifier = classifier
        self.topK = topK
        self.maxEventBytes = maxEventBytes
    }

    public struct Reply: Sendable {
        public var status: Int
        /// The JSON document posted to the Runtime API.
        public var payload: [UInt8]
        public var images: Int
        /// For the log line: the error message of a 4xx/5xx reply.
        public var error: String?
        /// True for internal failures, which the runtime reports through the invocation error endpoint. A 503 (a
        /// required sink is down) is a proxy response, so API Gateway's clients see the status and the reason.
        public var isFunctionError: Bool { status >= 500 && status != 503 }
    }

    struct ErrorBody: Encodable {
        var error: String
        var status: Int
    }

    struct ProxyResponse: Encodable {
        var statusCode: Int
        var headers: [String: String]
        var body: String
        var isBase64Encoded = false
    }

    public func handle(event: [UInt8]) -> Reply {
        do {
            let (request, report) = try predict(event: event)
            return Reply(status: 200, payload: Self.proxy(200, report), images: request.images.count, error: nil)
        } catch {
            return Self.reply(error)
        }
    }

    /// Predicts, then keeps the images and rows in `sinks` under `requestID` (the Lambda request id, so a retried
    /// invocation is stored once); a required sink that fails turns the reply into a 503.
    public func handle(event: [UInt8], requestID: String, sinks: Sinks?) async -> Reply {
        guard let sinks else { return handle(event: event) }
        do {
            let began = DispatchTime.now().uptimeNanoseconds
            var (request, report) = try predict(event: event)
            let ms = PredictionReport.round(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
            try await sinks.store(requestID: requestID, images: request.images, report: &report, modelPath: classifier.path, latencyMs: ms)
            return Reply(status: 200, payload: Self.proxy(200, report), images: request.images.count, error: nil)
        } catch {
            return Self.reply(error)
        }
    }

    func predict(event: [UInt8]) throws -> (ImageRequest, PredictionReport) {
        guard event.count <= maxEventBytes else {
            throw ServingError(.tooLarge, "the event is \(event.count) bytes; the limit is \(maxEventBytes)")
        }
        let request = try Self.request(from: event)
        return (request, try classifier.predict(request.named, top: request.topK ?? topK))
    }

    static func reply(_ error: any Error) -> Reply {
        do { throw error } catch let e as ServingError {
            return Reply(status: e.kind.status, payload: Self.proxy(e.kind.status, ErrorBody(error: e.message, status: e.kind.status)), images: 0, error: e.message)
        } catch {
            return Reply(status: 500, payload: Self.proxy(500, ErrorBody(error: "\(error)", status: 500)), images: 0, error: "\(error)")
        }
    }

    static func proxy<T: Encodable>(_ status: Int, _ body: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: (try? encoder.encode(body)) ?? Data("{}".utf8), as: UTF8.self)
        let response = ProxyResponse(statusCode: status, headers: ["Content-Type": "application/json"], body: text)
        return Array((try? encoder.encode(response)) ?? Data())
    }

    /// Finds the image(s) in any supported event shape.
    static func request(from event: [UInt8]) throws -> ImageRequest {
        let value: JSONValue
        do { value = try JSONValue(parsing: Data(event)) } catch {
            throw ServingError(.badRequest, "the event: \(JSONValue.describe(error))")
        }
        guard let object = value.object else { throw ServingError(.badRequest, "the event must be a JSON object") }
        let isProxy = object["httpMethod"] != nil || object["requestContext"] != nil || object["routeKey"] != nil || object["rawPath"] != nil
        guard isProxy else { return try ImageRequest.parse(value) }

        guard let bodyText = object["body"]?.string, !bodyText.isEmpty else {
            throw ServingError(.badRequest, "the request has no body: POST a JPEG (Content-Type: image/jpeg) or JSON {\"b64\": …}")
        }
        var body = Array(bodyText.utf8)
        if object["isBase64Encoded"]?.bool == true {
            do { body = try ImageBytes.decodeBase64(body) } catch { throw ServingError(.badRequest, "the body is marked isBase64Encoded but is not base64") }
        }
        var headers: [String: String] = [:]
        for (k, v) in object["headers"]?.object ?? [:] { if let s = v.string { headers[k.lowercased()] = s } }
        let contentType = headers["content-type"]?.lowercased() ?? ""
        let topK = try ImageRequest.topK(query: object["queryStringParameters"]?.object?["top_k"]?.string)
        let firstByte = body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        if contentType.hasPrefix("application/json") || (!contentType.hasPrefix("image/") && firstByte == UInt8(ascii: "{")) {
            var request = try ImageRequest.parse(json: body)
            if request.topK == nil { request.topK = topK }
            return request
        }
        return ImageRequest(images: [body], names: ["body"], topK: topK)
    }
}
