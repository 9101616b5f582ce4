import Engine
import Foundation
import Formats

/// The one prediction schema every front end answers with — `skiff predict --json`, `skiff serve`'s
/// `:labels` endpoint and the Lambda runtime (docs/API.md):
///
/// ```json
/// {"model": "squeezenet", "version": "1", "runtime": "skiff 0.9.0",
///  "predictions": [{"image": "cat.jpg", "label": "tabby", "index": 281, "score": 0.91,
///                   "top_k": [{"label": "tabby", "index": 281, "score": 0.91}, …]},
///                  {"image": "notes.txt", "error": "not a JPEG or PNG image, nor base64 of one (…)"}],
///  "timing_ms": {"decode": 1.2, "inference": 3.4, "total": 4.9}}
/// ```
public struct PredictionReport: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        /// Where the image came from: a file name, `body`, `b64`, `instances[2]`, ….
        public var image: String
        /// The best class (absent when this image failed).
        public var label: String?
        public var index: Int?
        public var score: Float?
        public var top_k: [ScoredClass]?
        /// Why this image has no prediction.
        public var error: String?
        /// Where the image was stored (`s3://…`), when the image sink is configured and the write succeeded.
        public var image_uri: String?
        /// The id of this image's prediction row, when the record sink is configured and the write succeeded.
        public var record_id: Int64?

        public init(image: String, top: [ScoredClass]) {
            self.image = image
            label = top.first?.label
            index = top.first?.index
            score = top.first?.score
            top_k = top
        }

        public init(image: String, error: String) {
            self.image = image
            self.error = error
        }

        enum CodingKeys: String, CodingKey { case image, label, index, score, top_k, error, image_uri, record_id }

        /// A classified image always has `label` (null when unlabelled), `index`, `score` and `top_k`; a failed
        /// one has `error` instead.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(image, forKey: .image)
            if let error {
                try c.encode(error, forKey: .error)
                return
            }
            try c.encode(label, forKey: .label)
            try c.encodeIfPresent(index, forKey: .index)
            try c.encodeIfPresent(score, forKey: .score)
            try c.encodeIfPresent(top_k, forKey: .top_k)
            try c.encodeIfPresent(image_uri, forKey: .image_uri)
            try c.encodeIfPresent(record_id, forKey: .record_id)
        }
    }

    public struct Timing: Codable, Sendable, Equatable {
        public var decode: Double
        public var inference: Double
        public var total: Double
        public init(decode: Double, inference: Double, total: Double) {
            self.decode = decode
            self.inference = inference
            self.total = total
        }
    }

    public var model: String
    public var version: String
    public var runtime: String
    public var predictions: [Entry]
    public var timing_ms: Timing
    /// The request id the sinks stored the request under (absent when no sink is configured).
    public var request_id: String?
    /// Best-effort sink writes that failed and were queued for a retry (absent when none).
    public var sink_warnings: [String]?

    public init(model: String, version: String, runtime: String, predictions: [Entry], timing_ms: Timing) {
        self.model = model
        self.version = version
        self.runtime = runtime
        self.predictions = predictions
        self.timing_ms = timing_ms
    }

    public var failed: Int { predictions.filter { $0.error != nil }.count }

    /// Compact JSON with sorted keys (labels with any characters survive: the encoder escapes them).
    public func json(pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    package static func round(_ ms: Double) -> Double { (ms * 1000).rounded() / 1000 }
}

extension Classifier {
    /// One named image of a request or a command line.
    public struct NamedImage: Sendable {
        public var name: String
        public var bytes: [UInt8]
        public init(name: String, bytes: [UInt8]) { self.name = name; self.bytes = bytes }
    }

    /// Top-k labelled classes for each image, in the one prediction schema.
    /// - Parameter keepGoing: report an image that cannot be decoded in its entry and run the rest (the CLI);
    ///   otherwise the first bad image fails the whole request with `ServingError(.badRequest)` (HTTP, Lambda).
    public func predict(_ images: [NamedImage], top: Int, keepGoing: Bool = false) throws -> PredictionReport {
        guard let image, let pipeline else { throw ServingError(.badRequest, "model '\(name)' has no image signature; send numeric tensors to :predict") }
        guard !images.isEmpty else { throw ServingError(.badRequest, "no image in the request") }
        guard top >= 1 else { throw ServingError(.badRequest, "top_k must be a positive integer, not \(top)") }
        guard images.count <= Self.maxBatch else { throw ServingError(.tooLarge, "\(images.count) images in one request; the limit is \(Self.maxBatch)") }
        let t0 = DispatchTime.now().uptimeNanoseconds
        var values: [Float] = []
        var decoded: [Int] = []
        var errors: [Int: String] = [:]
        for (i, item) in images.enumerated() {
            do {
                values += try pipeline.tensor(item.bytes).values
                decoded.append(i)
            } catch let e as EngineError {
                let message = images.count == 1 && !keepGoing ? e.message : "\(item.name): \(e.message)"
                guard keepGoing else {
                    let tooLarge = e.message.includes("more than the limit")
                    throw ServingError(tooLarge ? .tooLarge : .badRequest, message)
                }
                errors[i] = e.message
            }
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        var tops: [Int: [ScoredClass]] = [:]
        if !decoded.isEmpty {
            let batch = Tensor(shape: [decoded.count, image.height, image.width, image.channels], values: values)
            let outputs = try run([image.input: batch])
            guard let result = outputs[output] else { throw ServingError(.internal, "the model produced no output '\(output)'") }
            for (row, top) in topK(result, count: decoded.count, top: top).enumerated() { tops[decoded[row]] = top }
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        let entries = images.enumerated().map { i, item in
            errors[i].map { PredictionReport.Entry(image: item.name, error: $0) } ?? PredictionReport.Entry(image: item.name, top: tops[i]!)
        }
        return PredictionReport(
            model: name, version: String(version ?? 1), runtime: "skiff \(SkiffVersion.current)", predictions: entries,
            timing_ms: .init(decode: PredictionReport.round(Double(t1 - t0) / 1e6), inference: PredictionReport.round(Double(t2 - t1) / 1e6),
                             total: PredictionReport.round(Double(t2 - t0) / 1e6)))
    }
}
