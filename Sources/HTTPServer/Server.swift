import Engine
import Formats
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Serving

/// `skiff serve`: TensorFlow Serving's REST API (`/v1/models/…`), a labels endpoint for raw JPEG bodies, health,
/// Prometheus metrics and an upload page, over the models of a `ModelRegistry`.
public final class SkiffServer: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 8501
        /// Inferences running at once (each already uses the engine's threads).
        public var workers = 1
        /// Requests waiting for a worker before new ones get 503.
        public var queueLimit = 32
        public var maxBodyBytes = 8 << 20
        /// Seconds a request may wait for a worker.
        public var queueTimeout = 30.0
        /// Seconds a connection may go without a complete request part (head, body chunk, end) before it is
        /// closed, unless a response is being computed for it: bounds idle keep-alive and slow clients.
        public var idleTimeout = 60.0
        public var topK = 5
        /// An origin allowed to call the API from a browser (`Access-Control-Allow-Origin`), or nil for none.
        public var corsOrigin: String?
        /// One JSON line per request on stderr (method, path, status, milliseconds).
        public var logRequests = true
        public init() {}
    }

    public let registry: ModelRegistry
    public let options: Options
    let admission: Admission
    let metrics = PrometheusCollectorRegistry()
    let inFlight: Gauge
    let queueDepth: Gauge
    let latency: DurationHistogram
    /// Where `:labels` predictions are kept (images to S3, rows to PostgreSQL), if configured.
    let sinks: Sinks?

    public init(registry: ModelRegistry, options: Options, sinks: SinkConfiguration? = nil, credentials: AWSCredentials? = nil,
                region: String = "us-east-1") throws {
        self.registry = registry
        self.options = options

        self.admission = Admission(workers: options.workers, queueLimit: options.queueLimit)
        inFlight = metrics.makeGauge(name: "skiff_requests_in_flight", help: "Requests being handled.")
        queueDepth = metrics.makeGauge(name: "skiff_queue_depth", help: "Requests waiting for an inference worker.")
        latency = metrics.makeDurationHistogram(
            name: "skiff_request_duration_seconds",
            buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5)],
            help: "Time from request to response.")
        let registry = metrics
        self.sinks = try sinks.map {
            try Sinks($0, credentials: credentials, region: region, metrics: registry,
                      log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        }
    }

    /// Serves until SIGTERM/SIGINT, then finishes in-flight requests and returns.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        if let sinks {
            do { try await sinks.start(models: registry.models.values.flatMap { $0.values.map(\.path) }) } catch let e as ServingError {
                await sinks.shutdown()
                throw ServingError(.unavailable, "cannot start the sinks: \(e.message)")
            }
        }
        defer { if let sinks { Task { await sinks.shutdown() } } }
        var logger = Logger(label: "skiff.serve")
        logger.logLevel = .warning
        let app = Application(
            router: router(),
            server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(options.idleTimeout * 1000)))),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "skiff/\(SkiffVersion.current)"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch let e as IOError where e.errnoCode == EADDRINUSE {
            throw ServingError(.unavailable, "port \(options.port) is in use on \(options.host): stop what is listening there or pick another with --port (0 picks a free one)")
        } catch let e as IOError where e.errnoCode == EADDRNOTAVAIL || e.errnoCode == EACCES {
            throw ServingError(.unavailable, "cannot listen on \(options.host):\(options.port): \(e.errnoCode == EACCES ? "permission denied (ports below 1024 need privileges)" : "the address is not on this machine")")
        }
    }

    // MARK: routes

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: RequestLog(enabled: options.logRequests))
        if let origin = options.corsOrigin {
            router.add(middleware: CORSMiddleware(allowOrigin: origin == "*" ? .all : .custom(origin),
                                                  allowHeaders: [.contentType], allowMethods: [.get, .post, .options]))
        }
        router.add(middleware: JSONErrors())
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: UploadPage.html)))
        }
        router.get("/healthz") { [self] _, _ in
            json(.ok, #"{"status":"ok","models":\#(registry.models.count)}"#)
        }
        router.get("/metrics") { [self] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
        router.get("/v1/models") { [self] _, _ in json(.ok, modelList()) }
        router.get("/v1/models/:name") { [self] _, c in
            let name = try c.parameters.require("name")
            if name.contains(":") { return Self.postOnly(name) }
            return try await endpoint("status") { try status(name, nil) }
        }
        router.get("/v1/models/:name/versions/:version") { [self] _, c in
            let version = try c.parameters.require("version")
            if version.contains(":") { return Self.postOnly(version) }
            return try await endpoint("status") { try status(c.parameters.require("name"), version) }
        }
        router.get("/v1/models/:name/metadata") { [self] _, c in try await endpoint("metadata") { try metadata(c.parameters.require("name"), nil) } }
        router.get("/v1/models/:name/versions/:version/metadata") { [self] _, c in
            try await endpoint("metadata") { try metadata(c.parameters.require("name"), c.parameters.require("version")) }
        }
        // Same parameter names as the GET routes (the router keys on the path): `:name` holds NAME:verb, and
        // `:version` holds V:verb.
        router.post("/v1/models/:name") { [self] request, c in try await post(request, target: c.parameters.require("name"), version: nil) }
        router.post("/v1/models/:name/versions/:version") { [self] request, c in
            let target = try c.parameters.require("version")
            guard let colon = target.lastIndex(of: ":") else { return errorResponse(ServingError(.notFound, "unknown endpoint; use …/versions/V:predict")) }
            return try await post(request, target: c.parameters.require("name") + String(target[colon...]), version: String(target[..<colon]))
        }
        return router
    }

    /// `NAME:predict`, `NAME:classify`, `NAME:labels`.
    func post(_ request: Request, target: String, version: String?) async throws -> Response {
        guard let colon = target.lastIndex(of: ":") else {
            return errorResponse(ServingError(.badRequest, "POST to /v1/models/NAME:predict, :classify or :labels"))
        }
        let name = String(target[..<colon]), verb = String(target[target.index(after: colon)...])
        guard ["predict", "classify", "regress", "labels"].contains(verb) else {
            return errorResponse(ServingError(.notFound, "unknown method ':\(verb)' (predict, classify, labels)"))
        }
        return try await endpoint(verb) {
            let model = try registry.find(name, version: version)
            let body = try await collect(request)
            let topK = try ImageRequest.topK(query: request.uri.queryParameters["top_k"].map(String.init))
            switch verb {
            case "predict": return try await predict(model, body)
            case "classify": return try await classify(model, body, topK: topK)
            case "labels": return try await labels(model, body, contentType: request.headers[.contentType] ?? "", topK: topK,
                                                   requestID: request.headers[HTTPField.Name("X-Request-Id")!])
            default: throw ServingError(.badRequest, "the regress API is not supported; use :predict")
            }
        }
    }

    /// Runs `work`, recording metrics and turning errors into TF Serving's `{"error": …}` responses.
    func endpoint(_ name: String, _ work: () async throws -> String) async throws -> Response {
        let start = ContinuousClock.now
        inFlight.increment()
        defer { inFlight.decrement() }
        var response: Response
        do {
            response = json(.ok, try await work())
        } catch let e as ServingError {
            response = errorResponse(e)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            response = errorResponse(ServingError(.tooLarge, "the request body is larger than \(options.maxBodyBytes) bytes"))
        } catch {
            response = errorResponse(ServingError(.internal, "\(error)"))
        }
        latency.record(ContinuousClock.now - start)
        metrics.makeCounter(name: "skiff_requests_total", labels: [("endpoint", name), ("code", String(response.status.code))],
                            help: "Requests by endpoint and status code.").increment()
        return response
    }

    func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func errorResponse(_ e: ServingError) -> Response { Self.errorResponse(e) }

    static func errorResponse(_ e: ServingError) -> Response {
        var r = Response(status: HTTPResponse.Status(code: e.kind.status), headers: [.contentType: "application/json"],
                         body: .init(byteBuffer: ByteBuffer(string: #"{"error":\#(TensorJSON.quote(e.message))}"#)))
        if e.kind == .unavailable { r.headers[.retryAfter] = "1" }
        return r
    }

    /// `GET …:predict` and friends: the verbs are POST-only.
    static func postOnly(_ target: String) -> Response {
        var r = errorResponse(ServingError(.methodNotAllowed, "\(target) takes POST (with a JSON or image body), not GET"))
        r.headers[.allow] = "POST"
        return r
    }

    func collect(_ request: Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > options.maxBodyBytes {
            throw ServingError(.tooLarge, "the request body is \(length) bytes; the limit is \(options.maxBodyBytes)")
        }
        do {
            var buffer = try await request.body.collect(upTo: options.maxBodyBytes)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw ServingError(.tooLarge, "the request body is larger than the limit of \(options.maxBodyBytes) bytes")
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw ServingError(.tooLarge, "the request body is larger than the limit of \(options.maxBodyBytes) bytes")
        } catch {
            throw ServingError(.badRequest, "the request body could not be read (a malformed chunked encoding, or a body shorter than its Content-Length)")
        }
    }

    /// Runs blocking engine work on a worker thread once admitted.
    func infer<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        queueDepth.increment()
        do { try await admission.acquire(timeout: options.queueTimeout) } catch { queueDepth.decrement(); throw error }
        queueDepth.decrement()
        do {
            let r = try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
                DispatchQueue.global().async { c.resume(with: Result { try work() }) }
            }
            await admission.release()
            return r
        } catch {
            await admission.release()
            throw error
        }
    }

    // MARK: TensorFlow Serving API

    func modelList() -> String {
        let entries = registry.models.keys.sorted().map { name -> String in
            let versions = registry.models[name]!.keys.sorted()
            let m = registry.models[name]![versions.last!]!
            var fields = [#""name":\#(TensorJSON.quote(name))"#, #""versions":[\#(versions.map(String.init).joined(separator: ","))]"#]
            if let image = m.image { fields.append(#""image":{"width":\#(image.width),"height":\#(image.height)}"#) }
            fields.append(#""labels":\#(m.labels != nil)"#)
            return "{" + fields.joined(separator: ",") + "}"
        }
        return #"{"models":[\#(entries.joined(separator: ","))]}"#
    }

    func status(_ name: String, _ version: String?) throws -> String {
        let model = try registry.find(name, version: version)
        let versions = version == nil ? registry.models[name]!.keys.sorted(by: >) : [model.version ?? 1]
        let entries = versions.map { #"{"version":"\#($0)","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}"# }
        return #"{"model_version_status":[\#(entries.joined(separator: ","))]}"#
    }

    func metadata(_ name: String, _ version: String?) throws -> String {
        let model = try registry.find(name, version: version)
        let graph = model.model.graph
        func tensorInfo(_ dtype: String, _ dims: [Dim], _ tensorName: String) -> String {
            let d = dims.map { #"{"size":"\#($0.fixedValue ?? -1)","name":""}"# }.joined(separator: ",")
            return #"{"dtype":"\#(dtype)","tensor_shape":{"dim":[\#(d)],"unknown_rank":false},"name":\#(TensorJSON.quote(tensorName))}"#
        }
        var inputs: [String] = []
        if let image = model.image {
            inputs.append(#"\#(TensorJSON.quote(image.input)):\#(tensorInfo("DT_STRING", [.batch], image.input))"#)
        } else {
            inputs = graph.inputs.map { #"\#(TensorJSON.quote($0.name)):\#(tensorInfo(TensorJSON.dtypeName($0.dtype), $0.shape, $0.name))"# }
        }
        let outputs = graph.outputs.map { #"\#(TensorJSON.quote($0.name)):\#(tensorInfo(TensorJSON.dtypeName($0.dtype), $0.shape, $0.name))"# }
        let signature = #"{"inputs":{\#(inputs.joined(separator: ","))},"outputs":{\#(outputs.joined(separator: ","))},"method_name":"tensorflow/serving/predict"}"#
        return #"{"model_spec":{"name":\#(TensorJSON.quote(name)),"signature_name":"","version":"\#(model.version ?? 1)"},"metadata":{"signature_def":{"signature_def":{"serving_default":\#(signature)}}}}"#
    }

    func parseJSON(_ body: [UInt8]) throws -> [String: JSONValue] {
        let value: JSONValue
        do { value = try JSONValue(parsing: Data(body)) } catch { throw ServingError(.badRequest, "JSON Parse error: \(error)") }
        guard let object = value.object else { throw ServingError(.badRequest, "the request must be a JSON object") }
        if let sig = object["signature_name"]?.string, !sig.isEmpty, sig != "serving_default" {
            throw ServingError(.badRequest, "Serving signature name: \"\(sig)\" not found in signature def (this model has serving_default)")
        }
        return object
    }

    func predict(_ model: Classifier, _ body: [UInt8]) async throws -> String {
        let object = try parseJSON(body)
        let graph = model.model.graph
        let row: Bool
        let outputs: [String: Tensor]
        let count: Int
        if let instances = object["instances"] {
            guard let list = instances.array, !list.isEmpty else { throw ServingError(.badRequest, "\"instances\" must be a non-empty list") }
            row = true
            count = list.count
            if model.image != nil {
                let images = try list.enumerated().map { i, v in try ImageRequest.imageBytes(v, field: "instances[\(i)]") }
                outputs = try await infer { try model.runImages(images).outputs }
            } else if graph.inputs.count == 1 {
                let t = try TensorJSON.stack(list, field: "instances")
                outputs = try await infer { try model.run([graph.inputs[0].name: t]) }
            } else {
                let f = try TensorJSON.stack(list, inputs: graph.inputs.map(\.name))
                outputs = try await infer { try model.run(f) }
            }
        } else if let inputs = object["inputs"] {
            row = false
            if model.image != nil {
                var v = inputs
                if let o = v.object, o["b64"] == nil, o.count == 1, let only = o.values.first { v = only }
                let list = v.array ?? [v]
                count = list.count
                let images = try list.enumerated().map { i, x in try ImageRequest.imageBytes(x, field: "inputs[\(i)]") }
                outputs = try await infer { try model.runImages(images).outputs }
            } else {
                var feeds: [String: Tensor] = [:]
                if let o = inputs.object {
                    feeds = try TensorJSON.named(o)
                } else {
                    guard graph.inputs.count == 1 else { throw ServingError(.badRequest, "this model has \(graph.inputs.count) inputs; send \"inputs\" as an object by name") }
                    let (s, vals) = try TensorJSON.flatten(inputs, field: "inputs")
                    feeds[graph.inputs[0].name] = Tensor(shape: s, values: vals)
                }
                count = feeds.values.first?.shape.first ?? 0
                let f = feeds
                outputs = try await infer { try model.run(f) }
            }
        } else {
            throw ServingError(.badRequest, "Missing 'inputs' or 'instances' key")
        }
        let names = graph.outputs.map(\.name)
        if row {
            let rows = (0..<count).map { i -> String in
                if names.count == 1 { return TensorJSON.text(outputs[names[0]]!, row: i) }
                return "{" + names.map { "\(TensorJSON.quote($0)):\(TensorJSON.text(outputs[$0]!, row: i))" }.joined(separator: ",") + "}"
            }
            return #"{"predictions":[\#(rows.joined(separator: ","))]}"#
        }
        if names.count == 1 { return #"{"outputs":\#(TensorJSON.text(outputs[names[0]]!))}"# }
        return #"{"outputs":{\#(names.map { "\(TensorJSON.quote($0)):\(TensorJSON.text(outputs[$0]!))" }.joined(separator: ","))}}"#
    }

    /// TF Serving's classify shape: `{"results": [[["label", score], …], …]}`, one list per example, best first.
    func classify(_ model: Classifier, _ body: [UInt8], topK: Int?) async throws -> String {
        let object = try parseJSON(body)
        guard let list = (object["examples"] ?? object["instances"])?.array, !list.isEmpty else {
            throw ServingError(.badRequest, "expected \"examples\": [{\"b64\": …}, …]")
        }
        let images = try list.enumerated().map { i, v in Classifier.NamedImage(name: "examples[\(i)]", bytes: try ImageRequest.imageBytes(v, field: "examples[\(i)]")) }
        let k = topK ?? object["top_k"]?.int ?? options.topK
        let report = try await infer { try model.predict(images, top: k) }
        let rows = report.predictions.map { p in
            "[" + (p.top_k ?? []).map { "[\(TensorJSON.quote($0.label ?? String($0.index))),\($0.score)]" }.joined(separator: ",") + "]"
        }
        return #"{"results":[\#(rows.joined(separator: ","))]}"#
    }

    /// Raw image body (or any `ImageRequest` JSON) → the one prediction schema, as the Lambda runtime answers.
    func labels(_ model: Classifier, _ body: [UInt8], contentType: String, topK: Int?, requestID: String? = nil) async throws -> String {
        let began = ContinuousClock.now
        guard !body.isEmpty else { throw ServingError(.badRequest, "the request has no body: POST a JPEG or PNG (Content-Type: image/jpeg)") }
        var request = ImageRequest(images: [body], names: ["body"])
        if contentType.lowercased().hasPrefix("application/json") { request = try ImageRequest.parse(json: body) }
        let k = topK ?? request.topK ?? options.topK
        let images = request.named
        var report = try await infer { try model.predict(images, top: k) }
        if let sinks {
            // A client's X-Request-Id makes its retries idempotent; without one each request is new.
            let id = requestID.flatMap { $0.isEmpty || $0.count > 200 ? nil : $0 } ?? UUID().uuidString.lowercased()
            let elapsed = ContinuousClock.now - began
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            try await sinks.store(requestID: id, images: request.images, report: &report, modelPath: model.path, latencyMs: (ms * 1000).rounded() / 1000)
        }
        return report.json()
    }
}

/// Turns every error that reaches the router — unknown paths (404), wrong methods, Hummingbird's own — into
/// TensorFlow Serving's `{"error": "…"}` body, so no client ever gets an empty or internal-text reply.
struct JSONErrors<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError {
            let message: String
            switch e.status {
            case .notFound: message = "no endpoint \(request.method) \(request.uri.path) (see GET /v1/models, POST /v1/models/NAME:predict, :classify, :labels)"
            case .contentTooLarge: message = "the request body is too large"
            default: message = e.body ?? e.status.reasonPhrase
            }
            let kind: ServingError.Kind = switch e.status.code {
            case 404: .notFound
            case 405: .methodNotAllowed
            case 413: .tooLarge
            case 400..<500: .badRequest
            default: .internal
            }
            var r = SkiffServer.errorResponse(ServingError(kind, message))
            r.status = e.status
            return r
        }
    }
}

/// One JSON line per request on stderr, like the Lambda runtime's: method, path, status, milliseconds.
struct RequestLog<Context: RequestContext>: RouterMiddleware {
    let enabled: Bool
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard enabled else { return try await next(request, context) }
        let start = ContinuousClock.now
        var status = 500
        defer {
            let d = ContinuousClock.now - start
            let ms = PredictionReport.round(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            let line = #"{"method":"\#(request.method)","path":\#(TensorJSON.quote(request.uri.path)),"status":\#(status),"ms":\#(ms)}"# + "\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        do {
            let response = try await next(request, context)
            status = response.status.code
            return response
        } catch let e as HTTPError {
            status = e.status.code
            throw e
        }
    }
}
