import Engine
import Foundation
import Formats

/// What went wrong with a request, in HTTP terms: every front end (Lambda, `skiff serve`) maps it the same way.
public struct ServingError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case badRequest, notFound, tooLarge, unavailable, `internal`
        public var status: Int {
            switch self {
            case .badRequest: 400
            case .notFound: 404
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
}

/// A `.skiff` model with an image signature, loaded once and shared by concurrent requests: encoded images in,
/// top-k labelled classes out.
public final class Classifier: @unchecked Sendable {
    public let name: String
    public let version: Int?
    public let path: String
    public let file: SkiffFile
    public let model: Model
    public let image: ImageInput
    public let pipeline: ImagePipeline
    /// The output that carries labels (or the first output).
    public let output: String
    public let labels: [String]?
    /// Most images accepted in one request.
    public static let maxBatch = 64

    public init(path: String, name: String? = nil, version: Int? = nil) throws {
        let file = try SkiffFile(path: path)
        guard let spec = file.manifest.images?.first else {
            throw FormatsError(.manifestInvalid, "has no image signature; convert it with --image auto --preprocess PRESET", file: path)
        }
        self.path = path
        self.file = file
        self.name = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        self.version = version
        self.model = try Model(file: file)
        self.image = spec
        self.pipeline = ImagePipeline(spec)
        let graph = file.manifest.graph
        let out = graph.outputs.first { file.manifest.labels?[$0.name] != nil } ?? graph.outputs[0]
        self.output = out.name
        self.labels = file.manifest.labels?[out.name]
    }

    public struct Result: Sendable {
        public var predictions: [[ScoredClass]]
        public var decodeMilliseconds: Double
        public var inferenceMilliseconds: Double
    }

    /// Decodes, preprocesses and classifies `images` (raw JPEG, base64 or data URIs) as one batch.
    /// - Throws: `ServingError` — `.badRequest` naming the image for undecodable input, `.tooLarge` for too many
    ///   or too large images, `.internal` if the engine fails.
    public func classify(_ images: [[UInt8]], top: Int) throws -> Result {
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
        let result: Tensor
        do {
            guard let r = try model.run([image.input: batch])[output] else { throw EngineError("the model produced no output '\(output)'") }
            result = r
        } catch {
            throw ServingError(.internal, "inference failed: \(error)")
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        let classes = result.count / images.count
        let k = max(1, min(top, classes))
        let predictions = (0..<images.count).map { i in
            let row = result.values[(i * classes)..<((i + 1) * classes)]
            let base = row.startIndex
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            return order.prefix(k).map { j in ScoredClass(label: labels?[j - base], index: j - base, score: row[j]) }
        }
        return Result(predictions: predictions, decodeMilliseconds: Double(t1 - t0) / 1e6, inferenceMilliseconds: Double(t2 - t1) / 1e6)
    }
}
