import Formats
import Foundation

/// What happens to a request when a sink cannot be written.
public enum SinkMode: String, Sendable, Codable, CaseIterable {
    /// The request fails with 503 and a clear error: nothing is lost silently.
    case required
    /// The prediction is returned; the write is logged, counted and queued on disk for a later retry.
    case bestEffort = "best-effort"

    public init(parsing text: String, what: String) throws {
        guard let mode = SinkMode(rawValue: text.lowercased()) else {
            throw ServingError(.badRequest, "\(what) must be 'required' or 'best-effort', not '\(text)'")
        }
        self = mode
    }
}

/// `s3://BUCKET/PREFIX`: where input images are stored, as `PREFIX/MODEL/YYYY/MM/DD/<request-id>.jpg`.
public struct ImageStoreLocation: Sendable, Equatable, CustomStringConvertible {
    public var bucket: String
    public var prefix: String

    public init(_ uri: String) throws {
        guard uri.hasPrefix("s3://") else {
            throw ServingError(.badRequest, "--store-images must be s3://BUCKET/PREFIX, not '\(uri)'")
        }
        let rest = uri.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let b = parts.first, !b.isEmpty else { throw ServingError(.badRequest, "--store-images '\(uri)' names no bucket: use s3://BUCKET/PREFIX") }
        bucket = String(b)
        prefix = parts.count > 1 ? parts[1].trimmed("/") : ""
    }

    public var description: String { "s3://\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)") }

    /// `PREFIX/MODEL/YYYY/MM/DD/<request-id>[-N].EXT` (UTC date; characters other than letters, digits, '-', '_' and '.'
    /// in the model name and request id become '_').
    public func key(model: String, requestID: String, index: Int, count: Int, ext: String, date: Date) -> String {
        let c = UTC.fields(secondsSince1970: date.timeIntervalSince1970)
        let day = Digits.padded(c.year, width: 4) + "/" + Digits.padded(c.month, width: 2) + "/" + Digits.padded(c.day, width: 2)
        // Keys keep to S3's safe characters (letters, digits, '-', '_', '.'), so any model name or request id gives a
        // key every tool can address; the row keeps the names verbatim.
        func segment(_ s: String) -> String {
            let safe = String(String.UnicodeScalarView(s.unicodeScalars.map { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) ? $0 : "_" }))
            return safe.allSatisfy { $0 == "." } ? "_" + safe : safe
        }
        let name = segment(requestID) + (count > 1 ? "-\(index)" : "") + "." + ext
        return [prefix, segment(model), day, name].filter { !$0.isEmpty }.joined(separator: "/")
    }
}

/// `postgres://USER@HOST:PORT/DB?sslmode=…`: where prediction rows go. The password never comes from the URL (it
/// would be on a command line): `$SKIFF_RECORD_PASSWORD`, `$PGPASSWORD`, or a file (`--record-password-file`,
/// `$SKIFF_RECORD_PASSWORD_FILE`).
public struct RecordLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require, verifyCA = "verify-ca", verifyFull = "verify-full" }
    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode
    /// A PEM bundle of CAs to trust (`sslrootcert=`), e.g. the RDS bundle.
    public var rootCertificate: String?
    public var password: String?
    /// `auth=iam`: connect with an RDS IAM authentication token (SigV4, made from the AWS credentials for each
    /// connection) instead of a password.
    public var iamAuth = false

    public init(_ uri: String) throws {
        guard let url = URLComponents(string: uri), url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw ServingError(.badRequest, "--record must be postgres://USER@HOST:PORT/DB?sslmode=…, not '\(Self.redact(uri))'")
        }
        if url.password != nil {
            throw ServingError(.badRequest, "--record must not contain a password (it would show in process lists and logs): put it in $SKIFF_RECORD_PASSWORD or $PGPASSWORD, or in a file named by --record-password-file")
        }
        guard let user = url.user, !user.isEmpty else { throw ServingError(.badRequest, "--record '\(uri)' names no user: use postgres://USER@HOST:PORT/DB") }
        guard let host = url.host, !host.isEmpty else { throw ServingError(.badRequest, "--record '\(uri)' names no host") }
        let db = url.path.trimmed("/")
        guard !db.isEmpty else { throw ServingError(.badRequest, "--record '\(uri)' names no database: use postgres://USER@HOST:PORT/DB") }
        self.user = Percent.decode(user) ?? user
        self.host = host
        self.port = url.port ?? 5432
        self.database = Percent.decode(db) ?? db
        var tls = TLSMode.prefer
        var root: String?
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let v = item.value, let m = TLSMode(rawValue: v) else {
                    throw ServingError(.badRequest, "--record: sslmode must be disable, prefer, require, verify-ca or verify-full, not '\(item.value ?? "")'")
                }
                tls = m
            case "sslrootcert": root = item.value
            case "auth":
                guard item.value == "iam" || item.value == "password" else {
                    throw ServingError(.badRequest, "--record: auth must be iam or password, not '\(item.value ?? "")'")
                }
                iamAuth = item.value == "iam"
            default: throw ServingError(.badRequest, "--record: unknown parameter '\(item.name)' (sslmode, sslrootcert and auth are understood)")
            }
        }
        if iamAuth && tls == .disable { throw ServingError(.badRequest, "--record: auth=iam needs TLS (RDS refuses IAM tokens without it); use sslmode=require or verify-full") }
        self.tls = tls
        self.rootCertificate = root
    }

    /// The URI without any password, for messages and logs.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)" + (iamAuth ? "&auth=iam" : "") }

    /// A URI with any `user:password@` reduced to `user@`.
    static func redact(_ uri: String) -> String {
        guard let at = uri.firstIndex(of: "@"), let scheme = uri.firstRange(of: "://"), scheme.upperBound < at else { return uri }
        let userinfo = uri[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return uri }
        return String(uri[..<colon]) + String(uri[at...])
    }

    /// Fills `password` from the environment or a file (a file's trailing newline is dropped).
    public mutating func resolvePassword(file: String?, environment env: [String: String]) throws {
        if let file = file ?? env["SKIFF_RECORD_PASSWORD_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ServingError(.badRequest, "the record sink's password file \(file) cannot be read")
            }
            password = String(decoding: data, as: UTF8.self).trimmed { $0.isNewline }
        } else {
            password = env["SKIFF_RECORD_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 } ?? env["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        }
    }
}

/// Both sinks and how each may fail.
public struct SinkConfiguration: Sendable {
    public var images: ImageStoreLocation?
    public var record: RecordLocation?
    public var imagesMode: SinkMode = .required
    public var recordMode: SinkMode = .required
    /// The on-disk retry queue of best-effort writes.
    public var queueDirectory: String
    public var queueMaxItems = 1000
    public var queueMaxBytes = 256 << 20
    /// Largest wait between reconnection attempts.
    public var maxBackoff = 5.0
    /// Seconds between attempts to drain the queue while it is not empty.
    public var retryInterval = 1.0
    /// Connections to PostgreSQL (1 for Lambda; a small pool for serve).
    public var connections = 1
    public var s3Endpoint: String?

    public init(images: ImageStoreLocation? = nil, record: RecordLocation? = nil, queueDirectory: String) {
        self.images = images
        self.record = record
        self.queueDirectory = queueDirectory
    }

    public var isEmpty: Bool { images == nil && record == nil }

    /// The S3 endpoint the AWS SDKs would use: `$AWS_ENDPOINT_URL_S3`, then `$AWS_ENDPOINT_URL` (nil: AWS).
    public static func s3Endpoint(environment env: [String: String]) -> String? {
        for name in ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"] { if let v = env[name], !v.isEmpty { return v } }
        return nil
    }

    /// Flags (when given) over environment variables: `SKIFF_STORE_IMAGES`, `SKIFF_RECORD_URL`, `SKIFF_SINK_MODE`,
    /// `SKIFF_IMAGES_MODE`, `SKIFF_RECORD_MODE`, `SKIFF_SINK_QUEUE` (directory), `SKIFF_SINK_QUEUE_MAX` (items),
    /// and the password variables of `RecordLocation`.
    public static func resolve(storeImages: String?, record: String?, mode: String?, passwordFile: String?, queue: String?,
                               environment env: [String: String]) throws -> SinkConfiguration? {
        func value(_ flag: String?, _ name: String) -> String? { flag ?? env[name].flatMap { $0.isEmpty ? nil : $0 } }
        let imagesURI = value(storeImages, "SKIFF_STORE_IMAGES"), recordURI = value(record, "SKIFF_RECORD_URL")
        guard imagesURI != nil || recordURI != nil else {
            if mode != nil { throw ServingError(.badRequest, "--sink-mode needs --store-images or --record") }
            return nil
        }
        let tmp = env["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var config = SinkConfiguration(queueDirectory: value(queue, "SKIFF_SINK_QUEUE") ?? tmp + "/skiff-sink-queue")
        config.images = try imagesURI.map(ImageStoreLocation.init)
        if let recordURI {
            var location = try RecordLocation(recordURI)
            try location.resolvePassword(file: passwordFile, environment: env)
            config.record = location
        }
        if let m = value(mode, "SKIFF_SINK_MODE") {
            let mode = try SinkMode(parsing: m, what: "--sink-mode")
            config.imagesMode = mode
            config.recordMode = mode
        }
        if let m = env["SKIFF_IMAGES_MODE"], !m.isEmpty, mode == nil { config.imagesMode = try SinkMode(parsing: m, what: "SKIFF_IMAGES_MODE") }
        if let m = env["SKIFF_RECORD_MODE"], !m.isEmpty, mode == nil { config.recordMode = try SinkMode(parsing: m, what: "SKIFF_RECORD_MODE") }
        if let n = env["SKIFF_SINK_QUEUE_MAX"], !n.isEmpty {
            guard let v = Int(n), v >= 1 else { throw ServingError(.badRequest, "SKIFF_SINK_QUEUE_MAX must be a positive integer, not '\(n)'") }
            config.queueMaxItems = v
        }
        if let s = env["SKIFF_SINK_RETRY_SECONDS"], let v = Double(s), v > 0 { config.retryInterval = v }
        config.s3Endpoint = s3Endpoint(environment: env)
        return config
    }
}
