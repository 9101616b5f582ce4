import Foundation
import Formats

/// Publishes a `ModelFolder` to `s3://BUCKET/PREFIX/NAME/VERSION/`: data objects first (skipped when the stored
/// sha256 matches), multipart above `partSize`, then manifest.json, then LATEST — so a reader following LATEST
/// never sees a half-published version. A version that already holds a different model is refused.
public struct S3Publisher: Sendable {
    public let client: S3Client
    public let bucket: String
    public let prefix: String
    public var partSize = 8 << 20

    public init(client: S3Client, bucket: String, prefix: String) {
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
    }

    public struct Report: Codable, Sendable {
        public var bucket: String
        public var base: String
        public var version: Int
        public var uploaded: [String]
        public var skipped: [String]
        public var bytesUploaded: Int
        public var latest: Int
        public var dryRun: Bool
    }

    func key(_ name: String, _ rest: String) -> String { ModelFolder.base(prefix: prefix, name: name) + "/" + rest }

    /// LATEST, or nil when the model was never published.
    public func latest(_ name: String) async throws -> Int? {
        guard let bytes = try await client.get(bucket: bucket, key: key(name, "LATEST")) else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self).trimmedWhitespace)
    }

    public func manifest(_ name: String, version: Int) async throws -> ModelFolder.Manifest? {
        guard let bytes = try await client.get(bucket: bucket, key: key(name, "\(version)/manifest.json")) else { return nil }
        return try? JSONDecoder().decode(ModelFolder.Manifest.self, from: Data(bytes))
    }

    /// `auto`: the latest version if it already holds this model (so a re-run uploads nothing), else latest + 1.
    public func resolveVersion(_ requested: String, name: String, modelSHA256: String) async throws -> Int {
        if requested != "auto" {
            guard let v = Int(requested), v > 0 else { throw ServingError(.badRequest, "--version must be a positive integer or 'auto', not '\(requested)'") }
            return v
        }
        guard let latest = try await latest(name) else { return 1 }
        if let m = try await manifest(name, version: latest), m.entry(ModelFolder.modelKey)?.sha256 == modelSHA256 { return latest }
        return latest + 1
    }

    public func publish(_ folder: ModelFolder, createBucket: Bool, dryRun: Bool, progress: (@Sendable (String, Int) -> Void)? = nil) async throws -> Report {
        if !(try await client.bucketExists(bucket)) {
            guard createBucket else { throw ServingError(.badRequest, "S3 bucket '\(bucket)' does not exist; create it first or pass --create-bucket") }
            if !dryRun { try await client.createBucket(bucket) }
        }
        if let existing = try await manifest(folder.name, version: folder.version),
           existing.entry(ModelFolder.modelKey)?.sha256 != folder.manifest.entry(ModelFolder.modelKey)?.sha256 {
            throw ServingError(.badRequest, "s3://\(bucket)/\(key(folder.name, "\(folder.version)/")) already holds a different model; versions are immutable — use --version auto or a new number")
        }
        var uploaded: [String] = [], skipped: [String] = [], bytes = 0
        for object in folder.objects {
            let k = key(folder.name, "\(folder.version)/\(object.name)")
            if try await client.storedSHA256(bucket: bucket, key: k) == object.sha256 { skipped.append(k); continue }
            uploaded.append(k)
            bytes += object.bytes.count
            if dryRun { continue }
            if object.bytes.count > partSize {
                let name = object.name
                try await client.putMultipart(bucket: bucket, key: k, body: object.bytes, partSize: partSize, progress: { n in progress?(name, n) })
            } else {
                try await client.put(bucket: bucket, key: k, body: object.bytes, contentType: object.contentType)
                progress?(object.name, object.bytes.count)
            }
        }
        let manifestKey = key(folder.name, "\(folder.version)/manifest.json")
        let manifestBytes = folder.manifestBytes
        if try await client.storedSHA256(bucket: bucket, key: manifestKey) == Digest.sha256Hex(manifestBytes) {
            skipped.append(manifestKey)
        } else {
            uploaded.append(manifestKey)
            if !dryRun { try await client.put(bucket: bucket, key: manifestKey, body: manifestBytes, contentType: "application/json") }
        }
        let current = try await latest(folder.name) ?? 0
        let newLatest = max(current, folder.version)
        if newLatest != current {
            uploaded.append(key(folder.name, "LATEST"))
            if !dryRun { try await client.put(bucket: bucket, key: key(folder.name, "LATEST"), body: Array("\(newLatest)\n".utf8), contentType: "text/plain") }
        }
        return Report(bucket: bucket, base: ModelFolder.base(prefix: prefix, name: folder.name), version: folder.version, uploaded: uploaded,
                      skipped: skipped, bytesUploaded: bytes, latest: newLatest, dryRun: dryRun)
    }
}

/// Where a Lambda function's model lives when it is not baked into the image: `s3://BUCKET/PREFIX/NAME[/VERSION]`.
public struct S3ModelSource: Sendable, Equatable {
    public var bucket: String
    public var prefix: String
    public var name: String
    public var version: Int?

    public init(_ uri: String) throws {
        guard uri.hasPrefix("s3://") else { throw ServingError(.badRequest, "a model source is s3://BUCKET/PREFIX/NAME[/VERSION], not '\(uri)'") }
        var parts = uri.dropFirst(5).split(separator: "/").map(String.init)
        guard parts.count >= 2 else { throw ServingError(.badRequest, "a model source is s3://BUCKET/PREFIX/NAME[/VERSION], not '\(uri)'") }
        bucket = parts.removeFirst()
        if let last = parts.last, let v = Int(last), parts.count >= 2 {
            guard v > 0 else { throw ServingError(.badRequest, "model versions are positive integers, not \(v)") }
            version = v
            parts.removeLast()
        }
        name = parts.removeLast()
        prefix = parts.joined(separator: "/")
    }

    public var uri: String { "s3://\(bucket)/\(ModelFolder.base(prefix: prefix, name: name))" + (version.map { "/\($0)" } ?? "") }

    /// Downloads the model into `cache` (once per version), checks its size and sha256 against the version's
    /// manifest.json, and returns the local path.
    public func fetch(client: S3Client, cache: String) async throws -> (path: String, version: Int) {
        let publisher = S3Publisher(client: client, bucket: bucket, prefix: prefix)
        let v: Int
        if let version { v = version } else {
            guard let latest = try await publisher.latest(name) else { throw ServingError(.notFound, "\(uri)/LATEST does not exist: nothing published there") }
            v = latest
        }
        guard let manifest = try await publisher.manifest(name, version: v), let entry = manifest.entry(ModelFolder.modelKey) else {
            throw ServingError(.notFound, "\(uri): version \(v) has no readable manifest.json")
        }
        let dir = "\(cache)/\(name)/\(v)"
        let path = "\(dir)/model.skiff"
        if FileManager.default.fileExists(atPath: path), (try? Digest.sha256Hex(file: path)) == entry.sha256 { return (path, v) }
        let key = "\(ModelFolder.base(prefix: prefix, name: name))/\(v)/\(ModelFolder.modelKey)"
        guard let bytes = try await client.get(bucket: bucket, key: key) else { throw ServingError(.notFound, "s3://\(bucket)/\(key) does not exist") }
        guard bytes.count == entry.size, Digest.sha256Hex(bytes) == entry.sha256 else {
            throw ServingError(.internal, "s3://\(bucket)/\(key) does not match its manifest (size \(bytes.count) vs \(entry.size), or sha256); refusing to load it")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(bytes, to: path)
        return (path, v)
    }
}
