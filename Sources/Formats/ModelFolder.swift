import Foundation

/// One published model version, as it is laid out in S3 or on disk (TF Serving's versioned folders):
///
///     PREFIX/NAME/VERSION/model.skiff
///     PREFIX/NAME/VERSION/labels.txt      (when the model has labels)
///     PREFIX/NAME/VERSION/manifest.json   (sha256 and size of each object, signatures, provenance, verification)
///     PREFIX/NAME/LATEST                  (the newest version number)
///
/// Readers look at LATEST and manifest.json only, and those are written last, so nobody sees a half-published version.
public struct ModelFolder: Sendable {
    public struct Object: Sendable {
        public var name: String
        public var bytes: [UInt8]
        public var contentType: String
        public var sha256: String { Digest.sha256Hex(bytes) }
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var key: String
        public var size: Int
        public var sha256: String
    }

    public struct Manifest: Codable, Sendable {
        public var name: String
        public var version: Int
        public var skiff: String
        public var recipe: String?
        public var objects: [Entry]
        public var signatures: [Signature]
        public var image: ImageInput?
        public var provenance: Provenance?
        public var verification: [VerificationRecord]?

        public func entry(_ key: String) -> Entry? { objects.first { $0.key == key } }
    }

    public var name: String
    public var version: Int
    /// model.skiff and labels.txt, in upload order.
    public var objects: [Object]
    public var manifest: Manifest

    public static let modelKey = "model.skiff"

    /// Reads the model (validating it) and prepares every object.
    public init(model path: String, name: String, version: Int, recipe: String? = nil) throws {
        guard version > 0 else { throw FormatsError(.io, "versions are positive integers, not \(version)") }
        let file = try SkiffFile(path: path)
        guard let bytes = FileManager.default.contents(atPath: path) else { throw FormatsError(.io, "cannot read the model", file: path) }
        var objects = [Object(name: Self.modelKey, bytes: Array(bytes), contentType: "application/octet-stream")]
        let m = file.manifest
        if let out = m.graph.outputs.first(where: { m.labels?[$0.name] != nil }), let labels = m.labels?[out.name] {
            objects.append(Object(name: "labels.txt", bytes: Array((labels.joined(separator: "\n") + "\n").utf8), contentType: "text/plain; charset=utf-8"))
        }
        self.name = name
        self.version = version
        self.objects = objects
        self.manifest = Manifest(name: name, version: version, skiff: SkiffVersion.current, recipe: recipe,
                                 objects: objects.map { Entry(key: $0.name, size: $0.bytes.count, sha256: $0.sha256) },
                                 signatures: m.signatures, image: m.images?.first, provenance: m.provenance, verification: m.verification)
    }

    public var manifestBytes: [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array((try? e.encode(manifest)) ?? Data())
    }

    public static func base(prefix: String, name: String) -> String {
        let p = prefix.trimmed("/")
        return p.isEmpty ? name : "\(p)/\(name)"
    }

    /// Writes the same tree under `directory` (each file atomically; LATEST last).
    public func write(to directory: String, prefix: String) throws {
        let base = directory + "/" + Self.base(prefix: prefix, name: name)
        let dir = "\(base)/\(version)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for o in objects { try AtomicFile.write(o.bytes, to: "\(dir)/\(o.name)") }
        try AtomicFile.write(manifestBytes, to: "\(dir)/manifest.json")
        let latest = (try? String(contentsOfFile: "\(base)/LATEST", encoding: .utf8)).flatMap { Int($0.trimmedWhitespace) } ?? 0
        if version >= latest { try AtomicFile.write(Array("\(version)\n".utf8), to: "\(base)/LATEST") }
    }
}
