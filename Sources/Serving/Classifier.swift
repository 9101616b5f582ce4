import Engine
import Foundation
import Formats

/// What went wrong with a request, in HTTP terms: every front end (Lambda, `skiff serve`) maps it the same way.
public struct ServingError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case badRequest, notFound, methodNotAllowed, tooLarge, unavailable, `internal`
        public var status: Int {
            switch self {
            case .badRequest: 400
            case .notFound: 404
            case .methodNotAllowed: 405
            case .tooLarge: 413
            case .unavailable: 503
            case .internal: 500
            }
        }
    }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { message }
}

/// One class and its score.
public struct ScoredClass: Codable, Sendable, Equatable {
    public var label: String?
    public var index: Int
    public var score: Float

    public init(label: String?, index: Int, score: Float) {
        self.label = label
        self.index = index
        self.score = score
    }

    /// `label` is always written (`null` for an unlabelled model), so every answer has the same keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(label, forKey: .label)
        try c.encode(index, forKey: .index)
        try c.encode(score, forKey: .score)
    }
}

/// A `.skiff` model with an image signature, loaded once and shared by concurrent requests: encoded images in,
/// top-k labelled classes out.
public final class Classifier: @unchecked Sendable {
    public let name: String
    public let version: Int?
    public let path: String
    public let file: SkiffFile
    public let model: Model
    /// The image signature; nil for tensor-only models (servable by `skiff serve` with numeric inputs only).
    public let image: ImageInput?
    public let pipeline: ImagePipeline?
    /// The output that carries labels (or the first output).
    public let output: String
    public let labels: [String]?
    /// Most images accepted in one request.
    public static let maxBatch = 64

    public init(path: String, name: String? = nil, version: Int? = nil, requireImage: Bool = true) throws {
        let file = try SkiffFile(path: path)
        let spec = file.manifest.images?.first
        if spec == nil && requireImage {
            throw FormatsError(.manifestInvalid, "has no image signature; convert it with --image auto --preprocess PRESET", file: path)
        }
        self.path = path
        self.file = file
        self.name = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        self.version = version
        self.model = try Model(file: file)
        self.image = spec
        self.pipeline = spec.map(ImagePipeline.init)
        let graph = file.manifest.graph
        let out = graph.outputs.first { file.manifest.labels?[$0.name] != nil } ?? graph.outputs[0]
        self.output = out.name
        self.labels = file.manifest.labels?[out.name]
    }

    /// Decodes and preprocesses `images` (raw JPEG, base64 or data URIs) and runs them as one batch.
    /// - Throws: `ServingError` — `.badRequest` naming the image for undecodable input, `.tooLarge` for too many
    ///   or too large images, `.internal` if the engine fails.
    public func runImages(_ images: [[UInt8]]) throws -> (outputs: [String: Tensor], decodeMilliseconds: Double, inferenceMilliseconds: Double) {
        guard let image, let pipeline else { throw ServingError(.badRequest, "model '\(name)' has no image signature; send numeric tensors to :predict") }
        guard !images.isEmpty else { throw ServingError(.badRequest, "no image in the request") }
        guard images.count <= Self.maxBatch else { throw ServingError(.tooLarge, "\(images.count) images in one request; the limit is \(Self.maxBatch)") }
        let t0 = DispatchTime.now().uptimeNanoseconds
        var values: [Float] = []
        values.reserveCapacity(images.count * image.height * image.width * image.channels)
        for (i, bytes) in images.enumerated() {
            let name = images.count == 1 ? "the image" : "image \(i + 1)"
            let jpeg: [UInt8]
            do { jpeg = try ImageBytes.unwrap(bytes, maxBytes: 1 << 40) } catch let e as EngineError {
                throw ServingError(.badRequest, images.count == 1 ? e.message : "image \(i + 1): \(e.message)")
            }
            if jpeg.count > image.maxEncodedBytes {
                throw ServingError(.tooLarge, "\(name) is \(jpeg.count) bytes; this model accepts up to \(image.maxEncodedBytes)")
            }
            do { values += try pipeline.tensor(jpeg).values } catch let e as EngineError {
                throw ServingError(.badRequest, images.count == 1 ? e.message : "image \(i + 1): \(e.message)")
            }
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let batch = Tensor(shape: [images.count, image.height, image.width, image.channels], values: values)
        let outputs = try run([image.input: batch])
        let t2 = DispatchTime.now().uptimeNanoseconds
        return (outputs, Double(t1 - t0) / 1e6, Double(t2 - t1) / 1e6)
    }

    /// Runs numeric feeds; engine failures become `.internal`, wrong inputs `.badRequest`.
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        let graph = model.graph
        for input in graph.inputs {
            guard let t = feeds[input.name] else { throw ServingError(.badRequest, "missing input '\(input.name)'") }
            let expected = input.shape
            guard t.shape.count == expected.count else {
                throw ServingError(.badRequest, "input '\(input.name)' has shape \(Array(t.shape.dropFirst())) per instance; the model expects \(expected.dropFirst().map(\.description))")
            }
            for (axis, (got, want)) in zip(t.shape, expected).enumerated() where axis > 0 {
                if let w = want.fixedValue, w != got {
                    throw ServingError(.badRequest, "input '\(input.name)' has shape \(Array(t.shape.dropFirst())) per instance; the model expects \(expected.dropFirst().map(\.description))")
                }
            }
        }
        if let extra = feeds.keys.first(where: { k in !graph.inputs.contains { $0.name == k } }) {
            throw ServingError(.badRequest, "unknown input '\(extra)' (the model's inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))")
        }
        do { return try model.run(feeds) } catch { throw ServingError(.internal, "inference failed: \(error)") }
    }

    public func topK(_ result: Tensor, count: Int, top: Int) -> [[ScoredClass]] {
        let classes = result.count / max(count, 1)
        let k = max(1, min(top, classes))
        return (0..<count).map { i in
            let row = result.values[(i * classes)..<((i + 1) * classes)]
            let base = row.startIndex
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            return order.prefix(k).map { j in ScoredClass(label: labels?[j - base], index: j - base, score: row[j]) }
        }
    }
}
