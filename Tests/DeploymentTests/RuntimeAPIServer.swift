import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// A Lambda Runtime API on 127.0.0.1 (the part a runtime talks to): events are queued by the test, handed out on
/// `GET /2018-06-01/runtime/invocation/next`, and whatever the runtime posts back is recorded.
final class RuntimeAPIServer: Sendable {
    struct Posted: Sendable {
        enum Kind: Sendable { case response, error, initError }
        var kind: Kind
        var body: [UInt8]
        var errorType: String?
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        /// The proxy response's `body`, parsed.
        var bodyJSON: [String: Any]? {
            guard let text = json?["body"] as? String else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        }
        var statusCode: Int? { json?["statusCode"] as? Int }
    }

    actor State {
        var queue: [(id: String, event: [UInt8], deadline: Int64)] = []
        var waiting: [CheckedContinuation<(id: String, event: [UInt8], deadline: Int64)?, Never>] = []
        var posted: [String: Posted] = [:]
        var postWaiters: [String: [CheckedContinuation<Posted?, Never>]] = [:]
        var closed = false

        func enqueue(_ item: (id: String, event: [UInt8], deadline: Int64)) {
            if !waiting.isEmpty { waiting.removeFirst().resume(returning: item) } else { queue.append(item) }
        }
        func next() async -> (id: String, event: [UInt8], deadline: Int64)? {
            if closed { return nil }
            if !queue.isEmpty { return queue.removeFirst() }
            return await withCheckedContinuation { waiting.append($0) }
        }
        func record(_ id: String, _ p: Posted) {
            posted[id] = p
            for w in postWaiters.removeValue(forKey: id) ?? [] { w.resume(returning: p) }
        }
        func result(_ id: String) async -> Posted? {
            if let p = posted[id] { return p }
            if closed { return nil }
            return await withCheckedContinuation { postWaiters[id, default: []].append($0) }
        }
        func forget(_ id: String) { posted[id] = nil }
        func timeout(_ id: String) {
            for w in postWaiters.removeValue(forKey: id) ?? [] { w.resume(returning: nil) }
        }
        func close() {
            closed = true
            for w in waiting { w.resume(returning: nil) }
            waiting = []
            for (_, ws) in postWaiters { for w in ws { w.resume(returning: nil) } }
            postWaiters = [:]
        }
    }

    let state: State
    private let task: Task<Void, Error>
    let port: Int

    private init(task: Task<Void, Error>, port: Int, state: State) {
        self.task = task
        self.port = port
        self.state = state
    }

    static func start() async throws -> RuntimeAPIServer {
        let state = State()
        let router = Router()
        let base = "/2018-06-01/runtime"
        router.get("\(base)/invocation/next") { _, _ -> Response in
            guard let item = await state.next() else { return Response(status: .gone) }
            var headers = HTTPFields()
            headers[HTTPField.Name("Lambda-Runtime-Aws-Request-Id")!] = item.id
            headers[HTTPField.Name("Lambda-Runtime-Deadline-Ms")!] = String(item.deadline)
            headers[HTTPField.Name("Lambda-Runtime-Invoked-Function-Arn")!] = "arn:aws:lambda:us-east-1:000000000000:function:test"
            headers[HTTPField.Name("Lambda-Runtime-Trace-Id")!] = "Root=1-00000000-000000000000000000000000"
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: item.event)))
        }
        @Sendable func body(_ request: Request) async throws -> [UInt8] {
            var buffer = try await request.body.collect(upTo: 64 << 20)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        router.post("\(base)/invocation/:id/response") { request, context -> Response in
            let id = try context.parameters.require("id")
            await state.record(id, Posted(kind: .response, body: try await body(request)))
            return Response(status: .accepted)
        }
        router.post("\(base)/invocation/:id/error") { request, context -> Response in
            let id = try context.parameters.require("id")
            let type = request.headers[HTTPField.Name("Lambda-Runtime-Function-Error-Type")!]
            await state.record(id, Posted(kind: .error, body: try await body(request), errorType: type))
            return Response(status: .accepted)
        }
        router.post("\(base)/init/error") { request, _ -> Response in
            let type = request.headers[HTTPField.Name("Lambda-Runtime-Function-Error-Type")!]
            await state.record("init", Posted(kind: .initError, body: try await body(request), errorType: type))
            return Response(status: .accepted)
        }
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "runtime-api")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.run() }
        var port = 0
        for await p in stream { port = p; break }
        let server = RuntimeAPIServer(task: task, port: port, state: state)
        return server
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Queues an event; the deadline defaults to a minute from now.
    func invoke(_ event: [UInt8], id: String = UUID().uuidString, deadlineMs: Int64? = nil) async -> String {
        await state.enqueue((id, event, deadlineMs ?? Int64(Date().timeIntervalSince1970 * 1000) + 60_000))
        return id
    }

    /// Waits (up to `seconds`) for what the runtime posts for `id`.
    func result(_ id: String, seconds: Double = 60) async -> Posted? {
        let timer = Task { try await Task.sleep(nanoseconds: UInt64(seconds * 1e9)); await state.timeout(id) }
        defer { timer.cancel() }
        return await state.result(id)
    }

    /// Forgets what was posted for `id`, so the same request id can be invoked again (a Lambda retry).
    func forget(_ id: String) async { await state.forget(id) }

    func stop() async {
        await state.close()
        task.cancel()
        _ = try? await task.value
    }
}
