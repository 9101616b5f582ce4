import AsyncHTTPClient
import Crypto
import Foundation
import Formats
import NIOCore
import NIOHTTP1

/// AWS credentials, found the way the AWS CLI finds them: environment variables, then the profile
/// (`--profile`, `$AWS_PROFILE`, else `default`) in `~/.aws/credentials` and `~/.aws/config`.
public struct AWSCredentials: Sendable, CustomStringConvertible {
    /// The user's home directory from the password database, when $HOME is unset (NSHomeDirectory would link full
    /// Foundation into skiff-runtime).
    static func passwdHome() -> String {
        guard let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir else { return "/" }
        return String(cString: dir)
    }

    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "given") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    /// Never prints the secret.
    public var description: String { "\(accessKeyID.prefix(4))… from \(source)" }

    public static func resolve(profile: String? = nil, environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> AWSCredentials {
        if profile == nil, let id = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"], !id.isEmpty, !secret.isEmpty {
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"], source: "environment")
        }
        let name = profile ?? env["AWS_PROFILE"] ?? "default"
        let home = env["HOME"] ?? AWSCredentials.passwdHome()
        let files = [env["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials", env["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"]
        for (i, file) in files.enumerated() {
            let section = i == 0 || name == "default" ? name : "profile \(name)"
            if let values = INIFile.section(section, in: file) ?? (i == 1 ? INIFile.section(name, in: file) : nil),
               let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] {
                return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"], source: "\(file) [\(section)]")
            }
        }
        throw ServingError(.badRequest, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile '\(name)' to ~/.aws/credentials")
    }

    /// The region: `$AWS_REGION`, `$AWS_DEFAULT_REGION`, the profile's `region`, else us-east-1.
    public static func region(profile: String? = nil, environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let r = env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"], !r.isEmpty { return r }
        let name = profile ?? env["AWS_PROFILE"] ?? "default"
        let file = env["AWS_CONFIG_FILE"] ?? "\(env["HOME"] ?? AWSCredentials.passwdHome())/.aws/config"
        return INIFile.section(name == "default" ? "default" : "profile \(name)", in: file)?["region"] ?? "us-east-1"
    }
}

/// The small INI dialect of the AWS CLI's files.
enum INIFile {
    static func section(_ name: String, in path: String) -> [String: String]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var current: String?
        var found: [String: String]?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmed { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmed { $0 == " " || $0 == "\t" }
                if current == name { found = found ?? [:] }
                continue
            }
            guard current == name, let eq = line.firstIndex(of: "=") else { continue }
            found?[line[..<eq].trimmed { $0 == " " || $0 == "\t" }.lowercased()] = line[line.index(after: eq)...].trimmed { $0 == " " || $0 == "\t" }
        }
        return found
    }
}

/// AWS Signature Version 4 for S3 requests.
public struct SigV4: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service = "s3"

    public init(credentials: AWSCredentials, region: String) {
        self.credentials = credentials
        self.region = region
    }

    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    /// RFC 3986 percent-encoding of everything but unreserved characters (and '/' when `slash` is false).
    public static func encode(_ s: String, keepSlash: Bool = false) -> String {
        var out = ""
        for b in s.utf8 {
            if unreserved.contains(b) || (keepSlash && b == UInt8(ascii: "/")) { out.append(Character(UnicodeScalar(b))) } else { out += "%" + Hex.string([b], uppercase: true) }
        }
        return out
    }

    static func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 { Hex.string(d) }

    /// `yyyyMMddTHHmmssZ` in UTC.
    static func amzDate(_ date: Date) -> String {
        let f = UTC.fields(secondsSince1970: date.timeIntervalSince1970)
        return Digits.padded(f.year, width: 4) + Digits.padded(f.month, width: 2) + Digits.padded(f.day, width: 2) + "T"
            + Digits.padded(f.hour, width: 2) + Digits.padded(f.minute, width: 2) + Digits.padded(f.second, width: 2) + "Z"
    }

    /// The hex signature of `toSign` with the key derived for `day`, this region and this service.
    func signature(day: String, _ toSign: String) -> String {
        func hmac(_ key: [UInt8], _ s: String) -> [UInt8] { Array(HMAC<SHA256>.authenticationCode(for: Array(s.utf8), using: SymmetricKey(data: key))) }
        var key = hmac(Array("AWS4\(credentials.secretAccessKey)".utf8), day)
        for part in [region, service, "aws4_request"] { key = hmac(key, part) }
        return Self.hex(hmac(key, toSign))
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256`, the session token and `Authorization` to `headers`.
    /// `path` is the already-encoded canonical URI; `query` the decoded parameters.
    public func sign(method: String, host: String, path: String, query: [(String, String)], headers: inout [(String, String)],
                     payloadSHA256: String, date: Date = Date()) {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        headers.append(("x-amz-date", amzDate))
        headers.append(("x-amz-content-sha256", payloadSHA256))
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        var signed = headers.map { ($0.0.lowercased(), $0.1.trimmed { $0 == " " || $0 == "\t" }) }
        signed.append(("host", host))
        signed.sort { $0.0 < $1.0 }
        let canonicalQuery = query.map { (Self.encode($0.0), Self.encode($0.1)) }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalHeaders = signed.map { "\($0.0):\($0.1)\n" }.joined()
        let signedHeaders = signed.map(\.0).joined(separator: ";")
        let canonical = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadSHA256].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonical.utf8)))].joined(separator: "\n")
        let signature = signature(day: day, toSign)
        headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
    }
}

extension SigV4 {
    /// A presigned GET's query string (SigV4 in the query, only `host` signed, empty payload), ending with
    /// `X-Amz-Signature`. `host` includes a non-default port.
    public func presignedQuery(host: String, path: String = "/", query: [(String, String)], expires: Int, date: Date = Date()) -> String {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        var params = query + [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
                              ("X-Amz-Date", amzDate), ("X-Amz-Expires", String(expires)), ("X-Amz-SignedHeaders", "host")]
        if let token = credentials.sessionToken { params.append(("X-Amz-Security-Token", token)) }
        let canonicalQuery = params.map { (Self.encode($0.0), Self.encode($0.1)) }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonical = ["GET", path, canonicalQuery, "host:\(host)\n", "host", Self.hex(SHA256.hash(data: [UInt8]()))].joined(separator: "\n")
        let toSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonical.utf8)))].joined(separator: "\n")
        return canonicalQuery + "&X-Amz-Signature=" + signature(day: day, toSign)
    }

    /// An RDS IAM database authentication token for `user` at `host:port` (valid 15 minutes), used as the password.
    public static func rdsAuthToken(host: String, port: Int, user: String, region: String, credentials: AWSCredentials, date: Date = Date()) -> String {
        var signer = SigV4(credentials: credentials, region: region)
        signer.service = "rds-db"
        return "\(host):\(port)/?" + signer.presignedQuery(host: "\(host):\(port)", query: [("Action", "connect"), ("DBUser", user)], expires: 900, date: date)
    }
}

/// An S3 REST API client: path-style for a custom endpoint (MinIO, moto, LocalStack…), virtual-host style on AWS.
public final class S3Client: Sendable {
    public let endpoint: URL?
    public let signer: SigV4
    let http: HTTPClient
    public let pathStyle: Bool

    public init(endpoint: String? = nil, region: String, credentials: AWSCredentials, pathStyle: Bool? = nil) throws {
        if let endpoint {
            guard let url = URL(string: endpoint), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ServingError(.badRequest, "--endpoint must be an http(s) URL, not '\(endpoint)'")
            }
            self.endpoint = url
        } else {
            self.endpoint = nil
        }
        self.signer = SigV4(credentials: credentials, region: region)
        self.pathStyle = pathStyle ?? (endpoint != nil)
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(120))))
    }

    public func shutdown() async { try? await http.shutdown() }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// The S3 error, as one line: code, the object, and what to do.
    public static func describe(_ r: Response, method: String, bucket: String, key: String) -> String {
        func tag(_ name: String) -> String? {
            guard let a = r.text.firstRange(of: "<\(name)>"), let b = r.text[a.upperBound...].firstRange(of: "</\(name)>") else { return nil }
            return String(r.text[a.upperBound..<b.lowerBound])
        }
        let code = tag("Code") ?? "HTTP \(r.status)"
        let message = tag("Message").map { " — \($0)" } ?? ""
        let hint: String
        switch code {
        case "NoSuchBucket": hint = "; create it first or pass --create-bucket"
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
            hint = "; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or --profile) and the clock"
        case "AccessDenied", "AllAccessDisabled": hint = "; the credentials are not allowed to \(method) here"
        case "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch": hint = "; the data was corrupted in transit and the server refused it"
        default: hint = ""
        }
        return "S3 \(method) s3://\(bucket)/\(key): \(code)\(message)\(hint)"
    }

    /// One signed request. The body is hashed for the signature; extra headers (Content-MD5, checksums) are signed too.
    public func send(_ method: HTTPMethod, bucket: String, key: String = "", query: [(String, String)] = [], headers extra: [(String, String)] = [],
                     body: [UInt8] = []) async throws -> Response {
        let encodedKey = SigV4.encode(key, keepSlash: true)
        let host: String, path: String, base: String
        if let endpoint {
            let port = endpoint.port.map { ":\($0)" } ?? ""
            if pathStyle {
                host = endpoint.host! + port
                path = "/\(SigV4.encode(bucket))" + (key.isEmpty ? "" : "/\(encodedKey)")
            } else {
                host = "\(bucket).\(endpoint.host!)\(port)"
                path = "/" + encodedKey
            }
            base = "\(endpoint.scheme!)://\(host)"
        } else {
            host = pathStyle ? "s3.\(signer.region).amazonaws.com" : "\(bucket).s3.\(signer.region).amazonaws.com"
            path = pathStyle ? "/\(SigV4.encode(bucket))" + (key.isEmpty ? "" : "/\(encodedKey)") : "/" + encodedKey
            base = "https://\(host)"
        }
        var headers = extra
        let payload = SigV4.hex(SHA256.hash(data: body))
        signer.sign(method: method.rawValue, host: host, path: path, query: query, headers: &headers, payloadSHA256: payload)
        let queryString = query.isEmpty ? "" : "?" + query.map { $0.1.isEmpty && ["uploads"].contains($0.0) ? $0.0 : "\(SigV4.encode($0.0))=\(SigV4.encode($0.1))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: base + path + queryString)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if !body.isEmpty || method == .PUT || method == .POST {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        }
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(300)) } catch {
            throw ServingError(.unavailable, "cannot reach S3 at \(base): \(error)")
        }
        var buffer = try await response.body.collect(upTo: 1 << 30)
        var h: [String: String] = [:]
        for x in response.headers { h[x.name.lowercased()] = x.value }
        return Response(status: Int(response.status.code), headers: h, body: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    func check(_ r: Response, _ method: String, _ bucket: String, _ key: String) throws -> Response {
        guard (200..<300).contains(r.status) else { throw ServingError(.badRequest, Self.describe(r, method: method, bucket: bucket, key: key)) }
        return r
    }

    // MARK: operations

    public func bucketExists(_ bucket: String) async throws -> Bool {
        let r = try await send(.HEAD, bucket: bucket)
        if r.status == 404 { return false }
        if r.status == 403 { throw ServingError(.badRequest, "S3 HEAD s3://\(bucket): AccessDenied (403); check the credentials and that the bucket is yours") }
        _ = try check(r, "HEAD", bucket, "")
        return true
    }

    public func createBucket(_ bucket: String) async throws {
        let body = signer.region == "us-east-1" ? [] : Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(signer.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
        _ = try check(try await send(.PUT, bucket: bucket, body: body), "PUT", bucket, "")
    }

    /// The object's `x-amz-meta-sha256` (what Skiff stored with it), or nil if it does not exist.
    public func storedSHA256(bucket: String, key: String) async throws -> String? {
        let r = try await send(.HEAD, bucket: bucket, key: key)
        if r.status == 404 { return nil }
        return try check(r, "HEAD", bucket, key).headers["x-amz-meta-sha256"]
    }

    public func get(bucket: String, key: String) async throws -> [UInt8]? {
        let r = try await send(.GET, bucket: bucket, key: key)
        if r.status == 404 { return nil }
        return try check(r, "GET", bucket, key).body
    }

    static func md5Base64(_ bytes: [UInt8]) -> String { Data(Insecure.MD5.hash(data: bytes)).base64EncodedString() }

    /// PUT with Content-MD5 and x-amz-checksum-sha256, so the server rejects corrupted data; the sha256 is kept
    /// as metadata for later skip checks.
    public func put(bucket: String, key: String, body: [UInt8], contentType: String = "application/octet-stream") async throws {
        let sha = SHA256.hash(data: body)
        let headers = [("Content-Type", contentType), ("Content-MD5", Self.md5Base64(body)),
                       ("x-amz-checksum-sha256", Data(sha).base64EncodedString()), ("x-amz-meta-sha256", SigV4.hex(sha))]
        let r = try check(try await send(.PUT, bucket: bucket, key: key, headers: headers, body: body), "PUT", bucket, key)
        // Servers that do not check Content-MD5 themselves still report the MD5 of what they stored as the ETag.
        if let etag = Self.plainETag(r), etag != SigV4.hex(Insecure.MD5.hash(data: body)) {
            _ = try? await send(.DELETE, bucket: bucket, key: key)
            throw ServingError(.badRequest, "S3 PUT s3://\(bucket)/\(key): the stored object's MD5 (\(etag)) is not what was sent — corrupted in transit; the object was deleted")
        }
    }

    /// The ETag when it is a plain MD5 (not multipart, not KMS-encrypted).
    static func plainETag(_ r: Response) -> String? {
        guard let raw = r.headers["etag"] else { return nil }
        let etag = raw.trimmed("\"").lowercased()
        return etag.count == 32 && etag.allSatisfy(\.isHexDigit) ? etag : nil
    }

    /// Multipart upload: parts of `partSize` bytes, up to `parallel` at once, each with its Content-MD5; aborted on
    /// any failure so no partial object is left.
    public func putMultipart(bucket: String, key: String, body: [UInt8], partSize: Int, parallel: Int = 4,
                             progress: (@Sendable (Int) -> Void)? = nil,
                             corruptPart: Int? = nil) async throws {
        let sha = SigV4.hex(SHA256.hash(data: body))
        let start = try check(try await send(.POST, bucket: bucket, key: key, query: [("uploads", "")], headers: [("x-amz-meta-sha256", sha)]), "POST", bucket, key)
        guard let a = start.text.firstRange(of: "<UploadId>"), let b = start.text.firstRange(of: "</UploadId>") else {
            throw ServingError(.internal, "S3 did not return an UploadId for s3://\(bucket)/\(key)")
        }
        let uploadID = String(start.text[a.upperBound..<b.lowerBound])
        let parts = stride(from: 0, to: body.count, by: partSize).map { ($0 / partSize + 1, $0..<min($0 + partSize, body.count)) }
        do {
            var etags: [Int: String] = [:]
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 0
                func launch() {
                    guard next < parts.count else { return }
                    let (number, range) = parts[next]
                    next += 1
                    group.addTask {
                        let bytes = Array(body[range])
                        let md5 = Insecure.MD5.hash(data: bytes)
                        var sent = bytes
                        if number == corruptPart { sent[sent.count / 2] ^= 0x10 }  // a bit flipped in transit, for tests
                        let r = try self.check(try await self.send(.PUT, bucket: bucket, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                                                   headers: [("Content-MD5", Data(md5).base64EncodedString())], body: sent),
                                               "PUT part \(number) of", bucket, key)
                        // S3 refuses a part whose Content-MD5 does not match (BadDigest); for servers that do not check,
                        // the part's ETag is the MD5 of what arrived.
                        if let etag = Self.plainETag(r), etag != SigV4.hex(md5) {
                            throw ServingError(.badRequest, "S3 PUT part \(number) of s3://\(bucket)/\(key): BadDigest — the part stored (MD5 \(etag)) is not what was sent; corrupted in transit, upload aborted")
                        }
                        progress?(bytes.count)
                        return (number, r.headers["etag"] ?? "")
                    }
                }
                for _ in 0..<max(1, parallel) { launch() }
                while let (number, etag) = try await group.next() {
                    etags[number] = etag
                    launch()
                }
            }
            let xml = "<CompleteMultipartUpload>" + parts.map { "<Part><PartNumber>\($0.0)</PartNumber><ETag>\(etags[$0.0]!)</ETag></Part>" }.joined() + "</CompleteMultipartUpload>"
            let done = try check(try await send(.POST, bucket: bucket, key: key, query: [("uploadId", uploadID)], body: Array(xml.utf8)), "POST", bucket, key)
            if done.text.includes("<Error>") { throw ServingError(.badRequest, Self.describe(done, method: "POST", bucket: bucket, key: key)) }
        } catch {
            _ = try? await send(.DELETE, bucket: bucket, key: key, query: [("uploadId", uploadID)])
            throw error
        }
    }
}
