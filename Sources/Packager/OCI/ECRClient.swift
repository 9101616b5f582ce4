import AsyncHTTPClient
import Crypto
import Foundation
import Formats
import NIOCore
import NIOHTTP1
import Serving

/// The two Amazon ECR API calls an image push needs, signed with SigV4 from the usual AWS credential chain (no
/// AWS CLI): `GetAuthorizationToken` (registry credentials: user `AWS`, a 12-hour password) and
/// `CreateRepository`. The endpoint is `$AWS_ENDPOINT_URL_ECR`, then `$AWS_ENDPOINT_URL`, else AWS's.
public final class ECRClient: Sendable {
    public let endpoint: URL
    let signer: SigV4
    let http: HTTPClient

    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]` → REGION; nil for any other registry.
    public static func region(ofRegistry host: String) -> String? {
        let parts = host.split(separator: ":")[0].split(separator: ".")
        guard parts.count >= 6, parts[1] == "dkr", parts[2] == "ecr", parts[4] == "amazonaws", parts[0].allSatisfy(\.isNumber) else { return nil }
        return String(parts[3])
    }

    public init(region: String, credentials: AWSCredentials, environment env: [String: String] = ProcessInfo.processInfo.environment) throws {
        let given = [env["AWS_ENDPOINT_URL_ECR"], env["AWS_ENDPOINT_URL"]].compactMap { $0 }.first { !$0.isEmpty }
        let text = given ?? "https://api.ecr.\(region).amazonaws.com"
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw FormatsError(.io, "the ECR endpoint '\(text)' is not an http(s) URL")
        }
        endpoint = url
        var signer = SigV4(credentials: credentials, region: region)
        signer.service = "ecr"
        self.signer = signer
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(60))))
    }

    public func shutdown() async { try? await http.shutdown() }

    /// One JSON-protocol call (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.ACTION`).
    func call(_ action: String, _ body: [String: Any]) async throws -> JSONValue {
        let payload = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        var host = endpoint.host!
        if let port = endpoint.port { host += ":\(port)" }
        var headers: [(String, String)] = [("content-type", "application/x-amz-json-1.1"),
                                           ("x-amz-target", "AmazonEC2ContainerRegistry_V20150921.\(action)")]
        let path = endpoint.path.isEmpty ? "/" : endpoint.path
        signer.sign(method: "POST", host: host, path: path, query: [], headers: &headers,
                    payloadSHA256: SHA256.hash(data: payload).map { String(format: "%02x", $0) }.joined())
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(60)) } catch {
            throw FormatsError(.io, "cannot reach ECR at \(endpoint.absoluteString): \(error)")
        }
        var buffer = try await response.body.collect(upTo: 1 << 20)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        let json = (try? JSONValue(parsing: Data(bytes))) ?? .null
        guard response.status == .ok else {
            let kind = json["__type"]?.string ?? json["message"]?.string ?? "HTTP \(response.status.code)"
            throw FormatsError(.io, "ECR \(action) failed (\(kind)): \(json["message"]?.string ?? json["Message"]?.string ?? String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
        return json
    }

    /// Registry credentials for this account's registry.
    public func authorization() async throws -> RegistryClient.Credentials {
        let json = try await call("GetAuthorizationToken", [:])
        guard let token = json["authorizationData"]?[0]?["authorizationToken"]?.string, let raw = Data(base64Encoded: token),
              let text = String(data: raw, encoding: .utf8), let colon = text.firstIndex(of: ":") else {
            throw FormatsError(.io, "ECR GetAuthorizationToken answered without a usable authorizationToken")
        }
        return .init(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    /// Creates `name`; an existing repository is fine. Returns true when it was created.
    @discardableResult
    public func createRepository(_ name: String) async throws -> Bool {
        do {
            _ = try await call("CreateRepository", ["repositoryName": name, "imageTagMutability": "MUTABLE"])
            return true
        } catch let e as FormatsError where e.message.contains("RepositoryAlreadyExistsException") {
            return false
        }
    }
}
