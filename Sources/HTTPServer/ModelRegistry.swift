import Foundation
import Formats
import Serving

/// The models `skiff serve` answers for: each name has one or more integer versions (TensorFlow Serving's
/// convention: `BASE/VERSION/model.skiff`).
public final class ModelRegistry: Sendable {
    public let models: [String: [Int: Classifier]]

    public init(models: [String: [Int: Classifier]]) { self.models = models }

    /// `files` are served as version 1 under their file stem (or `names`, in order); `config` adds the models of a
    /// TF Serving `models.config`. Files and base paths may be `s3://BUCKET/PREFIX/NAME[/VERSION]` folders published
    /// by `skiff package s3`: they are downloaded into `cache` with `s3`, checked against their manifests, and
    /// served under their published version.
    public static func load(files: [String], names: [String] = [], config: String? = nil,
                            s3: S3Client? = nil, cache: String = NSTemporaryDirectory() + "skiff-models") async throws -> ModelRegistry {
        var models: [String: [Int: Classifier]] = [:]
        func fetch(_ uri: String, version: Int? = nil) async throws -> (path: String, version: Int, name: String) {
            guard let s3 else { throw ServingError(.badRequest, "\(uri): S3 sources need credentials (AWS_ACCESS_KEY_ID / --profile)") }
            var source = try S3ModelSource(uri)
            if let version { source.version = version }
            let fetched = try await source.fetch(client: s3, cache: cache)
            return (fetched.path, fetched.version, source.name)
        }
        for (i, file) in files.enumerated() {
            var path = file, version = 1
            var stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            if file.hasPrefix("s3://") { (path, version, stem) = try await fetch(file) }
            let name = i < names.count ? names[i] : stem
            guard models[name] == nil else { throw ServingError(.badRequest, "two models are named '\(name)'; give each a --name") }
            models[name] = [version: try Classifier(path: path, name: name, version: version, requireImage: false)]
        }
        if let config {
            for entry in try ModelConfig.parse(path: config) {
                guard models[entry.name] == nil else { throw FormatsError(.manifestInvalid, "model '\(entry.name)' is defined twice", file: config) }
                var versions: [Int: Classifier] = [:]
                if entry.basePath.hasPrefix("s3://") {
                    let wanted: [Int?]
                    switch entry.policy {
                    case .latest(1): wanted = [nil]
                    case .specific(let list): wanted = list
                    default: throw FormatsError(.manifestInvalid, "model '\(entry.name)': an s3:// base_path serves the latest version or specific versions", file: config)
                    }
                    for w in wanted {
                        let fetched = try await fetch(entry.basePath, version: w)
                        versions[fetched.version] = try Classifier(path: fetched.path, name: entry.name, version: fetched.version, requireImage: false)
                    }
                } else {
                    for v in try entry.versionsToServe() {
                        versions[v] = try Classifier(path: "\(entry.basePath)/\(v)/model.skiff", name: entry.name, version: v, requireImage: false)
                    }
                }
                models[entry.name] = versions
            }
        }
        guard !models.isEmpty else { throw ServingError(.badRequest, "no models to serve: give .skiff files or --model-config") }
        return ModelRegistry(models: models)
    }

    /// A model by name and optional version (default: the highest).
    public func find(_ name: String, version: String?) throws -> Classifier {
        guard let versions = models[name] else {
            throw ServingError(.notFound, "Servable not found for request: \(version.map { "Specific(\(name), \($0))" } ?? "Latest(\(name))")")
        }
        if let version {
            guard let v = Int(version), let m = versions[v] else { throw ServingError(.notFound, "Servable not found for request: Specific(\(name), \(version))") }
            return m
        }
        return versions[versions.keys.max()!]!
    }
}

/// TensorFlow Serving's model server config in protobuf text format — the subset that names models:
///
///     model_config_list {
///       config { name: "mobilenet" base_path: "/models/mobilenet" model_platform: "tensorflow"
///                model_version_policy { specific { versions: 1 versions: 2 } } }   # or latest { num_versions: N } / all {}
///     }
public struct ModelConfig: Sendable, Equatable {
    public enum Policy: Sendable, Equatable { case latest(Int), all, specific([Int]) }
    public var name: String
    public var basePath: String
    public var platform: String?
    public var policy: Policy = .latest(1)

    /// Version folders under `basePath` chosen by the policy.
    public func versionsToServe() throws -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: basePath)) ?? []
        let available = entries.compactMap { Int($0) }.filter { $0 > 0 && FileManager.default.fileExists(atPath: "\(basePath)/\($0)/model.skiff") }.sorted()
        guard !available.isEmpty else { throw FormatsError(.io, "has no version folders with a model.skiff (expected \(basePath)/1/model.skiff, …) for model '\(name)'", file: basePath) }
        switch policy {
        case .all: return available
        case .latest(let n): return Array(available.suffix(max(n, 1)))
        case .specific(let wanted):
            if let missing = wanted.first(where: { !available.contains($0) }) {
                throw FormatsError(.io, "has no version \(missing) (found \(available.map(String.init).joined(separator: ", "))) for model '\(name)'", file: basePath)
            }
            return wanted
        }
    }

    /// Largest `models.config` read.
    public static let maxConfigBytes = 1 << 20

    public static func parse(path: String) throws -> [ModelConfig] {
        guard let data = try BoundedRead.contents(of: path, limit: maxConfigBytes, what: "model config") else { throw FormatsError(.io, "cannot read the model config", file: path) }
        do { return try parse(text: String(decoding: data, as: UTF8.self), relativeTo: URL(fileURLWithPath: path).deletingLastPathComponent().path) } catch let e as ServingError {
            throw FormatsError(.manifestInvalid, e.message, file: path)
        }
    }

    /// Parses the text format into a tree of (field, value) pairs, then reads the fields above.
    public static func parse(text: String, relativeTo base: String = ".") throws -> [ModelConfig] {
        var tokens = Tokenizer(text)
        let root = try parseMessage(&tokens, closing: false)
        guard let list = root.first(where: { $0.0 == "model_config_list" })?.1.message else {
            throw ServingError(.badRequest, "expected 'model_config_list { config { … } }'")
        }
        return try list.filter { $0.0 == "config" }.map { _, value in
            guard let fields = value.message else { throw ServingError(.badRequest, "'config' must be a message") }
            func string(_ k: String) -> String? { fields.first { $0.0 == k }?.1.scalar }
            guard let name = string("name"), !name.isEmpty else { throw ServingError(.badRequest, "a config has no 'name'") }
            guard var basePath = string("base_path") else { throw ServingError(.badRequest, "config '\(name)' has no 'base_path'") }
            if !basePath.hasPrefix("/") && !basePath.hasPrefix("s3://") { basePath = base + "/" + basePath }
            var config = ModelConfig(name: name, basePath: basePath, platform: string("model_platform"))
            if let policy = fields.first(where: { $0.0 == "model_version_policy" })?.1.message, let (kind, body) = policy.first {
                let inner = body.message ?? []
                switch kind {
                case "all": config.policy = .all
                case "latest": config.policy = .latest(Int(inner.first { $0.0 == "num_versions" }?.1.scalar ?? "1") ?? 1)
                case "specific":
                    let versions = try inner.filter { $0.0 == "versions" }.map { _, v -> Int in
                        guard let s = v.scalar, let n = Int(s), n > 0 else { throw ServingError(.badRequest, "config '\(name)': versions must be positive integers") }
                        return n
                    }
                    config.policy = .specific(versions)
                default: throw ServingError(.badRequest, "config '\(name)': unknown model_version_policy '\(kind)' (all, latest, specific)")
                }
            }
            return config
        }
    }

    indirect enum Value { case scalar(String), message([(String, Value)])
        var scalar: String? { if case .scalar(let s) = self { s } else { nil } }
        var message: [(String, Value)]? { if case .message(let m) = self { m } else { nil } }
    }

    static func parseMessage(_ t: inout Tokenizer, closing: Bool) throws -> [(String, Value)] {
        var fields: [(String, Value)] = []
        while let token = try t.next() {
            if token == "}" {
                guard closing else { throw ServingError(.badRequest, "unexpected '}' on line \(t.line)") }
                return fields
            }
            guard token.first.map({ $0.isLetter || $0 == "_" }) == true else { throw ServingError(.badRequest, "expected a field name on line \(t.line), found '\(token)'") }
            var next = try t.next()
            if next == ":" { next = try t.next() }
            switch next {
            case "{": fields.append((token, .message(try parseMessage(&t, closing: true))))
            case .some(let v) where v != "}" && v != ":": fields.append((token, .scalar(v)))
            default: throw ServingError(.badRequest, "field '\(token)' has no value on line \(t.line)")
            }
            if fields.count > 100_000 { throw ServingError(.badRequest, "too many fields") }
        }
        if closing { throw ServingError(.badRequest, "missing '}' at the end") }
        return fields
    }

    struct Tokenizer {
        var chars: [Character]
        var i = 0
        var line = 1
        init(_ s: String) { chars = Array(s) }
        mutating func next() throws -> String? {
            while i < chars.count {
                let c = chars[i]
                if c == "\n" { line += 1; i += 1 } else if c.isWhitespace || c == "," || c == ";" { i += 1 } else if c == "#" {
                    while i < chars.count && chars[i] != "\n" { i += 1 }
                } else { break }
            }
            guard i < chars.count else { return nil }
            let c = chars[i]
            if c == "{" || c == "}" || c == ":" { i += 1; return String(c) }
            if c == "\"" || c == "'" {
                i += 1
                var s = ""
                while i < chars.count && chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    if chars[i] == "\n" { throw ServingError(.badRequest, "unterminated string on line \(line)") }
                    s.append(chars[i]); i += 1
                }
                guard i < chars.count else { throw ServingError(.badRequest, "unterminated string on line \(line)") }
                i += 1
                return s
            }
            var s = ""
            while i < chars.count, !chars[i].isWhitespace, !"{}:#,;\"'".contains(chars[i]) { s.append(chars[i]); i += 1 }
            return s
        }
    }
}
