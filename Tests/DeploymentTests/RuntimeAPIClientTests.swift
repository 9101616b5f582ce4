import Foundation
@testable import Serving
import Testing

/// The runtime's own HTTP/1.1 client for the Runtime API, against canned responses from a one-shot TCP server on
/// 127.0.0.1: chunked and sized bodies, and the malformed or oversized answers it must refuse with a clear error.
@Suite struct RuntimeAPIClientTests {
    /// Listens on an ephemeral port, answers one connection with `response` once the request head has arrived,
    /// closes it, and hands back what the client sent.
    final class OneShotServer: @unchecked Sendable {
        let port: Int
        private let fd: Int32
        private let done = DispatchSemaphore(value: 0)
        private(set) var request = ""

        init(_ response: String) throws {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) == 0 && listen(s, 1) == 0 && getsockname(s, $0, &length) == 0 }
            }
            guard bound else { throw POSIXError(.EADDRINUSE) }
            fd = s
            port = Int(UInt16(bigEndian: address.sin_port))
            let listener = fd
            Thread.detachNewThread { [self] in
                let c = accept(listener, nil, nil)
                var received: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !String(decoding: received, as: UTF8.self).contains("\r\n\r\n") {
                    let n = buffer.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    received += buffer[0..<n]
                }
                request = String(decoding: received, as: UTF8.self)
                let bytes = Array(response.utf8)
                _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(c)
                done.signal()
            }
        }

        func finish() {
            done.wait()
            close(fd)
        }
    }

    func call(_ response: String, maxBody: Int = 1 << 20) throws -> (Result<RuntimeAPIClient.Response, any Error>, String) {
        let server = try OneShotServer(response)
        let client = try RuntimeAPIClient(api: "127.0.0.1:\(server.port)")
        let result = Result { try client.blockingCall("POST", "/2018-06-01/runtime/invocation/abc/response", headers: [("Content-Type", "application/json")],
                                                      body: Array("{\"ok\":1}".utf8), timeout: 5, maxBody: maxBody) }
        server.finish()
        return (result, server.request)
    }

    func message(_ r: Result<RuntimeAPIClient.Response, any Error>) -> String {
        if case .failure(let e) = r { return "\(e)" }
        return "no error"
    }

    @Test func readsChunkedAndSizedBodiesAndSendsAWellFormedRequest() throws {
        let (chunked, request) = try call("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nLambda-Runtime-Aws-Request-Id: r-1\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n")
        let c = try chunked.get()
        #expect(c.status == 200 && String(decoding: c.body, as: UTF8.self) == "Wikipedia")
        #expect(c.headers["lambda-runtime-aws-request-id"] == "r-1")
        #expect(request.hasPrefix("POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\n"))
        #expect(request.contains("Content-Length: 8\r\n") && request.contains("Content-Type: application/json\r\n"))

        let sized = try call("HTTP/1.1 202 Accepted\r\ncontent-length: 5\r\n\r\nhello, and more than that").0.get()
        #expect(sized.status == 202 && String(decoding: sized.body, as: UTF8.self) == "hello")
        let untilClose = try call("HTTP/1.1 200 OK\r\n\r\nall of it").0.get()
        #expect(String(decoding: untilClose.body, as: UTF8.self) == "all of it")
    }

    @Test func refusesMalformedTruncatedAndOversizedResponses() throws {
        #expect(message(try call("SSH-2.0-OpenSSH\r\n\r\n").0).contains("not an HTTP/1.1 status line"))
        #expect(message(try call("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort").0).contains("closed the connection after 5 of 100 bytes"))
        #expect(message(try call("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + String(repeating: "x", count: 100), maxBody: 10).0)
            .contains("larger than 10 bytes"))
        #expect(message(try call("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n").0).contains("malformed chunk size 'zz'"))
        #expect(message(try call("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + String(repeating: "y", count: 32) + "\r\n0\r\n\r\n", maxBody: 16).0)
            .contains("larger than 16 bytes"))
        #expect(message(try call("HTTP/1.1 200 OK\r\nX: " + String(repeating: "h", count: 70_000)).0).contains("no complete HTTP response head"))
        #expect(throws: (any Error).self) { try RuntimeAPIClient(api: "localhost") }
    }
}
