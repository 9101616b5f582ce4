#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Formats

/// The Lambda Runtime API's HTTP/1.1, spoken over a plain blocking socket: one connection per call
/// (`Connection: close`), run on a Dispatch thread so the long-polling `GET …/next` never holds one of Swift's
/// cooperative threads. The API is always plain HTTP on a local address, so this needs neither TLS nor an event
/// loop: an HTTP client library here cost ~8 ms of every cold start (event-loop threads, a connection pool, and the
/// Swift runtime's first protocol look-ups across a dozen modules) for two requests.
struct RuntimeAPIClient: Sendable {
    struct Response {
        var status: Int
        /// Header names lower-cased.
        var headers: [String: String]
        var body: [UInt8]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let host: String
    let port: String

    /// `host:port` as Lambda gives it in `AWS_LAMBDA_RUNTIME_API` (IPv6 hosts in brackets).
    init(api: String) throws {
        var text = Substring(api)
        if text.hasPrefix("http://") { text = text.dropFirst(7) }
        guard let colon = text.lastIndex(of: ":"), let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else {
            throw Failure(description: "AWS_LAMBDA_RUNTIME_API is '\(api)'; expected host:port")
        }
        var h = text[..<colon]
        if h.hasPrefix("["), h.hasSuffix("]") { h = h.dropFirst().dropLast() }
        host = String(h)
        port = String(p)
    }

    /// Sends one request and reads the whole response (at most `maxBody` bytes of body).
    /// `timeout` nil: wait as long as it takes (the `next` long poll).
    func call(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [],
              timeout seconds: Int?, maxBody: Int) async throws -> Response {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Response, any Error>) in
            DispatchQueue.global().async {
                c.resume(with: Result { try blockingCall(method, path, headers: headers, body: body, timeout: seconds, maxBody: maxBody) })
            }
        }
    }

    func blockingCall(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8], timeout: Int?, maxBody: Int) throws -> Response {
        let fd = try dial(timeout: timeout ?? 5)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try transmit(fd, Array(head.utf8) + body)
        setTimeout(fd, SO_RCVTIMEO, timeout)
        return try receive(fd, maxBody: maxBody)
    }

    private func dial(timeout: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &list)
        guard status == 0, let first = list else { throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(list) }
        var error: Int32 = 0
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let a = next {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 {
                setTimeout(fd, SO_SNDTIMEO, timeout)  // on Linux also bounds connect(2)
                if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                error = errno
                close(fd)
            } else {
                error = errno
            }
            next = a.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(error)))")
    }

    private func setTimeout(_ fd: Int32, _ option: Int32, _ seconds: Int?) {
        var tv = timeval(tv_sec: seconds ?? 0, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private func transmit(_ fd: Int32, _ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure(description: "sending to \(host):\(port) failed: \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    /// Status line and headers (up to 64 KiB), then the body by Content-Length, chunked, or up to the close.
    private func receive(_ fd: Int32, maxBody: Int) throws -> Response {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var closed = false
        func fill() throws {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { return }
                throw Failure(description: "reading from \(host):\(port) failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { closed = true } else { buffer += chunk[0..<n] }
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            if let r = find(separator, in: buffer, from: 0) { headEnd = r; break }
            guard buffer.count <= 65536, !closed else { throw Failure(description: "\(host):\(port) sent no complete HTTP response head") }
            try fill()
        }
        let lines = String(decoding: buffer[0..<headEnd!], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw Failure(description: "\(host):\(port) answered with '\(lines.first ?? "")', not an HTTP/1.1 status line")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmedWhitespace
        }
        var rest = Array(buffer[(headEnd! + 4)...])
        buffer = []
        func tooLarge() -> Failure { Failure(description: "\(host):\(port) sent a body larger than \(maxBody) bytes") }

        if let length = headers["content-length"].flatMap(Int.init) {
            guard length >= 0, length <= maxBody else { throw tooLarge() }
            buffer = rest
            while buffer.count < length {
                guard !closed else { throw Failure(description: "\(host):\(port) closed the connection after \(buffer.count) of \(length) bytes") }
                try fill()
            }
            return Response(status: status, headers: headers, body: Array(buffer.prefix(length)))
        }
        if let coding = headers["transfer-encoding"], coding.split(separator: ",").contains(where: { $0.trimmedWhitespace.lowercased() == "chunked" }) {
            var body: [UInt8] = []
            var position = 0
            buffer = rest
            rest = []
            while true {
                var lineEnd = find([13, 10], in: buffer, from: position)
                while lineEnd == nil {
                    guard !closed, buffer.count - position < 1024 else { throw Failure(description: "\(host):\(port) sent a malformed chunk") }
                    try fill()
                    lineEnd = find([13, 10], in: buffer, from: position)
                }
                let sizeText = String(decoding: buffer[position..<lineEnd!], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmedWhitespace, radix: 16), size >= 0 else { throw Failure(description: "\(host):\(port) sent a malformed chunk size '\(sizeText)'") }
                if size == 0 { return Response(status: status, headers: headers, body: body) }
                guard body.count + size <= maxBody else { throw tooLarge() }
                let start = lineEnd! + 2
                while buffer.count < start + size + 2 {
                    guard !closed else { throw Failure(description: "\(host):\(port) closed the connection inside a chunk") }
                    try fill()
                }
                body += buffer[start..<(start + size)]
                position = start + size + 2
            }
        }
        buffer = rest
        while !closed {
            guard buffer.count <= maxBody else { throw tooLarge() }
            try fill()
        }
        guard buffer.count <= maxBody else { throw tooLarge() }
        return Response(status: status, headers: headers, body: buffer)
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count + from else { return nil }
        var i = from
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
