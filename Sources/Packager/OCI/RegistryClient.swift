import AsyncHTTPClient
import Foundation
import Formats
import NIOCore
import NIOHTTP1
import Serving

/// Pushes an `OCIImage` to a registry with the OCI distribution protocol: a blob HEAD to skip what the
/// registry already has, a monolithic upload (POST, then one PUT with the digest — not chunked PATCH, which
/// ECR mishandles) for the rest, then the manifest PUT under the tag. Basic and Bearer token authentication.
public final class RegistryClient: Sendable {
    /// `HOST[:PORT]/REPOSITORY[:TAG]`.
    public struct Reference: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var repository: String
        public var tag: String

        public init(_ text: String) throws {
            let bad = { FormatsError(.io, "'\(text)' is not an image reference; expected REGISTRY/REPOSITORY:TAG, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/squeezenet:1") }
            var rest = text
            if rest.hasPrefix("docker://") { rest.removeFirst(9) }
            guard let slash = rest.firstIndex(of: "/") else { throw bad() }
            host = String(rest[..<slash])
            var path = String(rest[rest.index(after: slash)...])
            tag = "latest"
            if let colon = path.lastIndex(of: ":"), !path[colon...].contains("/") {
                tag = String(path[path.index(after: colon)...])
                path = String(path[..<colon])
            }
            repository = path
            let repoOK = !repository.isEmpty && repository.allSatisfy { $0.isLowercase || $0.isNumber || "._-/".contains($0) }
            let tagOK = !tag.isEmpty && tag.count <= 128 && tag.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) }
            guard !host.isEmpty, repoOK, tagOK else { throw bad() }
        }

        public var description: String { "\(host)/\(repository):\(tag)" }
        /// Loopback registries speak plain HTTP (as Docker assumes); everything else HTTPS.
        public var scheme: String { host.hasPrefix("127.") || host.hasPrefix("localhost") || host.hasPrefix("[::1]") ? "http" : "https" }
    }

    public struct Credentials: Sendable {
        public var username: String
        public var password: String
        public init(username: String, password: String) { self.username = username; self.password = password }

        /// The `auths` entry for `host` in a Docker config file (`$DOCKER_CONFIG/config.json`, else
        /// `~/.docker/config.json`): `{"auths": {"HOST": {"auth": base64("user:password")}}}`.
        public static func docker(host: String, environment env: [String: String] = ProcessInfo.processInfo.environment) -> Credentials? {
            let dir = env["DOCKER_CONFIG"] ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.docker")
            guard let data = FileManager.default.contents(atPath: dir + "/config.json"),
                  let json = try? JSONValue(parsing: data),
                  let auths = json["auths"]?.object else { return nil }
            let entry = auths[host] ?? auths["https://" + host] ?? auths["http://" + host]
            guard let encoded = entry?["auth"]?.string, let raw = Data(base64Encoded: encoded),
                  let text = String(data: raw, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
            return Credentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
    }

    public struct Report: Sendable, Encodable {
        public var reference: String
        public var digest: String
        /// Blobs sent, and blobs the registry already had.
        public var uploaded: [String]
        public var skipped: [String]
        public var bytesUploaded: Int
    }

    let http: HTTPClient
    let credentials: Credentials?
    let token = TokenBox()

    final class TokenBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: String?
        var current: String? { lock.withLock { value } }
        func set(_ v: String?) { lock.withLock { value = v } }
    }

    public init(credentials: Credentials?) {
        self.credentials = credentials
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(300))))
    }

    public func shutdown() async { try? await http.shutdown() }

    struct Response { var status: Int; var headers: HTTPHeaders; var body: [UInt8] }

    /// One request, authenticating once on a 401 (Basic, or a Bearer token from the realm the registry names).
    func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, ref: Reference) async throws -> Response {
        for attempt in 0..<2 {
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (k, v) in headers { request.headers.add(name: k, value: v) }
            if let t = token.current { request.headers.add(name: "Authorization", value: t) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            let response: HTTPClientResponse
            do { response = try await http.execute(request, timeout: .seconds(600)) } catch {
                throw FormatsError(.io, "cannot reach the registry at \(ref.scheme)://\(ref.host): \(error)")
            }
            var buffer = try await response.body.collect(upTo: 16 << 20)
            let r = Response(status: Int(response.status.code), headers: response.headers, body: buffer.readBytes(length: buffer.readableBytes) ?? [])
            if r.status == 401, attempt == 0, let challenge = r.headers.first(name: "WWW-Authenticate") {
                try await authenticate(challenge, ref: ref)
                continue
            }
            if r.status == 401 { break }
            return r
        }
        throw FormatsError(.io, "the registry \(ref.host) refused the credentials for \(ref.repository)")
    }

    func authenticate(_ challenge: String, ref: Reference) async throws {
        guard let credentials else {
            throw FormatsError(.io, "the registry \(ref.host) needs credentials: log in (docker config auths) or pass --registry-user with SKIFF_REGISTRY_PASSWORD")
        }
        let basic = "Basic " + Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
        let scheme = challenge.prefix { $0 != " " }.lowercased()
        if scheme == "basic" { token.set(basic); return }
        guard scheme == "bearer" else { throw FormatsError(.io, "the registry \(ref.host) asks for '\(scheme)' authentication; Skiff speaks Basic and Bearer") }
        var params: [String: String] = [:]
        let pattern = try NSRegularExpression(pattern: #"(\w+)="([^"]*)""#)
        let ns = challenge as NSString
        for m in pattern.matches(in: challenge, range: NSRange(location: 0, length: ns.length)) {
            params[ns.substring(with: m.range(at: 1)).lowercased()] = ns.substring(with: m.range(at: 2))
        }
        guard let realm = params["realm"], var url = URLComponents(string: realm) else {
            throw FormatsError(.io, "the registry \(ref.host) sent a Bearer challenge without a realm")
        }
        url.queryItems = [URLQueryItem(name: "service", value: params["service"]), URLQueryItem(name: "scope", value: params["scope"] ?? "repository:\(ref.repository):pull,push")]
            .filter { $0.value != nil }
        var request = HTTPClientRequest(url: url.string ?? realm)
        request.headers.add(name: "Authorization", value: basic)
        let response = try await http.execute(request, timeout: .seconds(60))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let json = try? JSONValue(parsing: Data(buffer.readBytes(length: buffer.readableBytes) ?? [])),
              let t = json["token"]?.string ?? json["access_token"]?.string else {
            throw FormatsError(.io, "the token service \(realm) refused the credentials (HTTP \(response.status.code))")
        }
        token.set("Bearer " + t)
    }

    /// Pushes every blob the registry lacks, then the manifest under the reference's tag.
    public func push(_ image: OCIImage, to ref: Reference, progress: (String) -> Void = { _ in }) async throws -> Report {
        let base = "\(ref.scheme)://\(ref.host)/v2/\(ref.repository)"
        var uploaded: [String] = [], skipped: [String] = []
        var bytes = 0
        for blob in image.blobs {
            let head = try await send(.HEAD, "\(base)/blobs/\(blob.digest)", ref: ref)
            if head.status == 200 { skipped.append(blob.digest); continue }
            progress("uploading \(blob.digest.prefix(19))… (\(blob.size) bytes)")
            let start = try await send(.POST, "\(base)/blobs/uploads/", headers: [("Content-Length", "0")], ref: ref)
            guard start.status == 202, let location = start.headers.first(name: "Location") else {
                throw FormatsError(.io, "the registry refused to start an upload to \(ref.repository) (HTTP \(start.status)): \(Self.message(start))")
            }
            var upload = location.hasPrefix("http") ? location : "\(ref.scheme)://\(ref.host)\(location)"
            upload += (upload.contains("?") ? "&" : "?") + "digest=" + blob.digest.replacingOccurrences(of: ":", with: "%3A")
            let put = try await send(.PUT, upload, headers: [("Content-Type", "application/octet-stream"), ("Content-Length", String(blob.size))], body: blob.bytes, ref: ref)
            guard put.status == 201 else {
                throw FormatsError(.io, "the registry refused blob \(blob.digest) (HTTP \(put.status)): \(Self.message(put))")
            }
            uploaded.append(blob.digest)
            bytes += blob.size
        }
        let put = try await send(.PUT, "\(base)/manifests/\(ref.tag)", headers: [("Content-Type", image.manifest.mediaType)], body: image.manifest.bytes, ref: ref)
        guard put.status == 201 else {
            throw FormatsError(.io, "the registry refused the manifest for \(ref) (HTTP \(put.status)): \(Self.message(put))")
        }
        if let echoed = put.headers.first(name: "Docker-Content-Digest"), echoed != image.manifest.digest {
            throw FormatsError(.io, "the registry stored the manifest as \(echoed), not \(image.manifest.digest)")
        }
        return Report(reference: ref.description, digest: image.manifest.digest, uploaded: uploaded, skipped: skipped, bytesUploaded: bytes)
    }

    /// The registry's error text (`{"errors": [{"code", "message"}]}`), or the body.
    static func message(_ r: Response) -> String {
        if let json = try? JSONValue(parsing: Data(r.body)), let errors = json["errors"]?.array {
            return errors.map { "\($0["code"]?.string ?? ""): \($0["message"]?.string ?? "")" }.joined(separator: "; ")
        }
        return String(decoding: r.body.prefix(300), as: UTF8.self)
    }
}
