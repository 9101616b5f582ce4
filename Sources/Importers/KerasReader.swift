import Foundation
import ZIPFoundation
import Formats

/// Reads Keras models — legacy HDF5 (Keras 2, tf.keras, Keras 3), weights-only HDF5 plus a JSON
/// architecture, and Keras 3 `.keras` archives — and lowers them into the IR.
public enum KerasReader {
    /// A lowered model and what is known about where it came from.
    public struct Result: Sendable {
        public var model: LoweredModel
        public var provenance: Provenance
        public var layerCount: Int
        /// An image input signature recognised in the source (a SavedModel signature that decodes JPEGs).
        public var image: ImageInput? = nil

        public init(model: LoweredModel, provenance: Provenance, layerCount: Int, image: ImageInput? = nil) {
            self.model = model
            self.provenance = provenance
            self.layerCount = layerCount
            self.image = image
        }
    }

    /// A full-model `.h5` file (`model_config` attribute plus `model_weights`).
    public static func readH5(path: String) throws -> Result {
        let h5 = try HDF5File(path: path)
        guard let configText = try h5.string("/", "model_config") else {
            if try h5.strings("/", "layer_names") != nil || h5.isGroup("/layers") {
                throw FormatsError(.manifestInvalid, "holds weights only (no 'model_config'); pass the architecture too: skiff convert h5 --weights \(path) --config model.json", file: path)
            }
            throw FormatsError(.manifestInvalid, "has no 'model_config' attribute: it is not a Keras model file", file: path)
        }
        let version = try h5.string("/", "keras_version") ?? h5.string("/model_weights", "keras_version")
        let backend = try h5.string("/", "backend")
        return try lower(configText: configText, weights: KerasH5WeightSource(file: h5), kerasVersion: version, backend: backend,
                         source: path, format: "keras-h5", useV3Weights: nil)
    }

    /// A weights-only `.h5` file (`save_weights`) plus the model's JSON (`model.to_json()`).
    public static func readH5(weights: String, config: String) throws -> Result {
        guard let data = FileManager.default.contents(atPath: config) else { throw FormatsError(.io, "cannot read the file", file: config) }
        let h5 = try HDF5File(path: weights)
        let version = try h5.string("/", "keras_version")
        if h5.isGroup("/layers"), try h5.strings("/", "layer_names") == nil {
            // Keras 3 `.weights.h5`.
            let text = String(decoding: data, as: UTF8.self)
            return try lower(configText: text, weights: nil, kerasVersion: version ?? "3", backend: nil, source: weights,
                             format: "keras-weights-h5", useV3Weights: h5, extraSources: [config])
        }
        return try lower(configText: String(decoding: data, as: UTF8.self), weights: KerasH5WeightSource(file: h5), kerasVersion: version,
                         backend: try h5.string("/", "backend"), source: weights, format: "keras-weights-h5", useV3Weights: nil, extraSources: [config])
    }

    /// Largest member of a `.keras` archive Skiff will extract.
    static let maxConfigBytes: UInt64 = 64 << 20
    static let maxWeightsBytes: UInt64 = 8 << 30

    /// A Keras 3 `.keras` zip archive (`config.json`, `metadata.json`, `model.weights.h5`). Members are
    /// looked up by exact name and extracted to memory or to a file Skiff names itself, so archive paths
    /// never reach the file system; sizes are capped.
    /// `scratch` names the file the weights are extracted to (default: a new name in `$TMPDIR`).
    public static func readArchive(path: String, scratch: String? = nil) throws -> Result {
        let members = try archiveMembers(path: path)
        let tmp = scratch ?? NSTemporaryDirectory() + "/skiff-\(UUID().uuidString).weights.h5"
        TemporaryFiles.register(tmp)
        defer {
            try? FileManager.default.removeItem(atPath: tmp)
            TemporaryFiles.unregister(tmp)
        }
        // A scratch file only this process reads (removed on every exit path and by the signal handler): written in
        // place with POSIX calls, as an atomic write's own temporary name would be one more file a kill could leave.
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw FormatsError(.io, "cannot create \(tmp) for the extracted weights (errno \(errno))", file: path) }
        defer { close(fd) }
        try members.weights.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw FormatsError(.io, "cannot write the extracted weights to \(tmp) (errno \(errno))", file: path) }
                done += n
            }
        }
        let h5 = try HDF5File(path: tmp)
        return try lower(configText: String(decoding: members.config, as: UTF8.self), weights: nil,
                         kerasVersion: members.metadata?["keras_version"]?.string ?? "3", backend: nil, source: path, format: "keras-v3", useV3Weights: h5)
    }

    /// The members of a `.keras` archive Skiff reads — the zip part of `readArchive`, no HDF5 involved.
    struct ArchiveMembers {
        var config: Data
        var metadata: JSONValue?
        var weights: Data
    }

    static func archiveMembers(path: String) throws -> ArchiveMembers {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw FormatsError(.io, "is not a readable zip archive (a .keras file is a zip): \(error)", file: path)
        }
        func member(_ name: String, cap: UInt64) throws -> Data? {
            guard let entry = archive[name] else { return nil }
            guard entry.type == .file else { throw FormatsError(.manifestInvalid, "member '\(name)' is not a file", file: path) }
            guard entry.uncompressedSize <= cap else {
                throw FormatsError(.manifestTooLarge, "member '\(name)' is \(entry.uncompressedSize) bytes, more than the limit of \(cap)", file: path)
            }
            var data = Data()
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    data.append(chunk)
                    if UInt64(data.count) > cap { throw FormatsError(.manifestTooLarge, "member '\(name)' inflates past its declared size", file: path) }
                }
            } catch let e as FormatsError { throw e } catch {
                throw FormatsError(.decompression, "cannot extract member '\(name)': \(error)", file: path)
            }
            return data
        }
        guard let config = try member("config.json", cap: maxConfigBytes) else {
            throw FormatsError(.manifestInvalid, "has no 'config.json': not a Keras 3 .keras archive", file: path)
        }
        let metadata = try member("metadata.json", cap: maxConfigBytes).flatMap { try? JSONValue(parsing: $0) }
        if archive["model.weights.npz"] != nil, archive["model.weights.h5"] == nil {
            throw FormatsError(.manifestInvalid, "stores its weights as 'model.weights.npz', which is not supported; save with the default h5 weights format", file: path)
        }
        guard let weights = try member("model.weights.h5", cap: maxWeightsBytes) else {
            throw FormatsError(.manifestInvalid, "has no 'model.weights.h5'", file: path)
        }
        return ArchiveMembers(config: config, metadata: metadata, weights: weights)
    }

    static func lower(configText: String, weights: (any KerasWeightSource)?, kerasVersion: String?, backend: String?, source: String,
                      format: String, useV3Weights: HDF5File?, extraSources: [String] = []) throws -> Result {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: Data(configText.utf8))
        } catch {
            throw FormatsError(.manifestInvalid, "model config is not valid JSON: \(error)", file: source)
        }
        let config = try KerasModelConfig(json, where: source)
        let major = Int(kerasVersion?.split(separator: ".").first ?? "") ?? 2
        let source2: any KerasWeightSource = try useV3Weights.map { KerasV3WeightSource(file: $0, model: config) } ?? weights.unwrap(source)
        let model = try KerasLowering(weights: source2, kerasMajor: major, file: source).lower(config)
        let provenance = Provenance(sourceFile: URL(fileURLWithPath: source).lastPathComponent, sourceSHA256: try Digest.sha256Hex(file: source),
                                    sourceFormat: format, framework: "keras", frameworkVersion: kerasVersion,
                                    options: backend.map { ["backend": $0] })
        return Result(model: model, provenance: provenance, layerCount: countLayers(config))
    }

    static func countLayers(_ m: KerasModelConfig) -> Int {
        m.layers.reduce(0) { $0 + ($1.nested.map(countLayers) ?? ($1.isInput ? 0 : 1)) }
    }
}

extension Optional where Wrapped == any KerasWeightSource {
    func unwrap(_ file: String) throws -> any KerasWeightSource {
        guard let self else { throw FormatsError(.io, "no weights", file: file) }
        return self
    }
}
