import Foundation
import Formats

/// Skiff's own AWS Lambda runtime: the Runtime API loop (`/2018-06-01/runtime/...`) around a `LambdaHandler`.
/// The model is loaded once during init; each invocation is one `LambdaHandler.handle` call.
public final class LambdaRuntime: Sendable {
    public struct Configuration: Sendable {
        /// `host:port` from `AWS_LAMBDA_RUNTIME_API`.
        public var api: String
        public var modelPath: String
        public var topK: Int
        public var functionName: String?
        /// `s3://BUCKET/PREFIX/NAME[/VERSION]` ($SKIFF_MODEL_SOURCE): download the model during init instead.
        public var modelSource: String?
        public var s3Endpoint: String?
        public var environment: [String: String] = [:]
        /// Where images and prediction rows are kept (`SKIFF_STORE_IMAGES`, `SKIFF_RECORD_URL`, …; nil: nowhere).
        public var sinks: SinkConfiguration?

        /// Reads Lambda's environment. The model is, in order: `model` (the command's argument),
        /// `$SKIFF_MODEL`, `$_HANDLER` if it names a .skiff file, else `model.skiff`; relative paths are taken
        /// from `$LAMBDA_TASK_ROOT` (or the working directory).
        public static func fromEnvironment(_ env: [String: String], model: String? = nil, topK: Int? = nil) throws -> Configuration {
            guard let api = env["AWS_LAMBDA_RUNTIME_API"], !api.isEmpty else {
                throw ServingError(.internal, "AWS_LAMBDA_RUNTIME_API is not set: 'skiff lambda' is a Lambda container's entrypoint; run it under Lambda (or a Runtime API emulator)")
            }
            var path = model ?? env["SKIFF_MODEL"] ?? env["_HANDLER"].flatMap { $0.hasSuffix(".skiff") ? $0 : nil } ?? "model.skiff"
            if !path.hasPrefix("/") {
                let root = env["LAMBDA_TASK_ROOT"] ?? FileManager.default.currentDirectoryPath
                path = root + "/" + path
            }
            let k = topK ?? env["SKIFF_TOP_K"].flatMap(Int.init) ?? 5
            guard k >= 1 else { throw ServingError(.internal, "SKIFF_TOP_K must be a positive integer") }
            return Configuration(api: api, modelPath: path, topK: k, functionName: env["AWS_LAMBDA_FUNCTION_NAME"],
                                 modelSource: model == nil ? env["SKIFF_MODEL_SOURCE"].flatMap { $0.isEmpty ? nil : $0 } : nil,
                                 s3Endpoint: env["SKIFF_S3_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? SinkConfiguration.s3Endpoint(environment: env),
                                 environment: env,
                                 sinks: try SinkConfiguration.resolve(storeImages: nil, record: nil, mode: nil, passwordFile: nil, queue: nil, environment: env))
        }
    }

    let configuration: Configuration
    let log: @Sendable (String) -> Void
    let base = "/2018-06-01/runtime"

    public init(configuration: Configuration, log: @escaping @Sendable (String) -> Void = LambdaRuntime.writeLine) {
        self.configuration = configuration
        self.log = log
    }

    /// Loads the model, then serves invocations until the Runtime API goes away.
    /// - Throws: when init fails (after reporting it to `/runtime/init/error`) or the Runtime API cannot be reached.
    public func run() async throws {
        try await serve()
    }

    func serve() async throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let client: RuntimeAPIClient
        do { client = try RuntimeAPIClient(api: configuration.api) } catch { throw ServingError(.internal, "\(error)") }
        let handler: LambdaHandler
        var sinks: Sinks?
        var source: [String: Any] = [:]
        do {
            var path = configuration.modelPath
            if let uri = configuration.modelSource {
                let location = try S3ModelSource(uri)
                let env = configuration.environment
                let client = try S3Client(endpoint: configuration.s3Endpoint, region: AWSCredentials.region(environment: env),
                                          credentials: try AWSCredentials.resolve(environment: env))
                let fetched: (path: String, version: Int)
                do { fetched = try await location.fetch(client: client, cache: (env["TMPDIR"] ?? "/tmp") + "/skiff-models") } catch {
                    await client.shutdown()
                    throw error
                }
                await client.shutdown()
                path = fetched.path
                source = ["source": location.uri, "version": fetched.version]
            }
            let classifier = try Classifier(path: path, name: configuration.functionName)
            handler = LambdaHandler(classifier: classifier, topK: configuration.topK)
            if let config = configuration.sinks {
                let env = configuration.environment
                do {
                    let created = try Sinks(config, credentials: config.images == nil ? nil : try AWSCredentials.resolve(environment: env),
                                            region: AWSCredentials.region(environment: env), log: log)
                    sinks = created
                    try await created.start(models: [path])
                } catch let e as ServingError {
                    await sinks?.shutdown()
                    throw ServingError(.internal, "the sinks: \(e.message)")
                }
            }
        } catch let e as ServingError where e.message.hasPrefix("the sinks: ") {
            let message = "cannot start " + e.message.dropFirst(4)
            try? await post(client, "\(base)/init/error", errorPayload(message, type: "Skiff.InitError"), errorType: "Skiff.InitError")
            log(Self.jsonLine(["event": "init", "outcome": "error", "error": message]))
            throw ServingError(.internal, message)
        } catch {
            let message = "cannot load the model: \(error)"
            try? await post(client, "\(base)/init/error", errorPayload(message, type: "Skiff.InitError"), errorType: "Skiff.InitError")
            log(Self.jsonLine(["event": "init", "outcome": "error", "error": message]))
            throw ServingError(.internal, message)
        }
        let initMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        log(Self.jsonLine(["event": "init", "outcome": "ok", "model": handler.classifier.path, "init_ms": PredictionReport.round(initMs),
                           "image": handler.classifier.image.map { "\($0.width)x\($0.height)" } ?? "none",
                           "sinks": Self.describe(configuration.sinks)].merging(source) { a, _ in a }))

        while true {
            let next: RuntimeAPIClient.Response
            do {
                next = try await client.call("GET", "\(base)/invocation/next", timeout: nil, maxBody: handler.maxEventBytes * 2)
            } catch {
                throw ServingError(.internal, "the Runtime API at \(configuration.api) cannot be reached: \(error)")
            }
            guard next.status == 200, let id = next.headers["lambda-runtime-aws-request-id"] else {
                throw ServingError(.internal, "the Runtime API answered /invocation/next with \(next.status) and no request id")
            }
            if let trace = next.headers["lambda-runtime-trace-id"] { setenv("_X_AMZN_TRACE_ID", trace, 1) }
            let deadline = next.headers["lambda-runtime-deadline-ms"].flatMap(Int64.init)
            let began = DispatchTime.now().uptimeNanoseconds
            let event = next.body

            if let deadline, Self.nowMs() >= deadline {
                let message = "the invocation's deadline passed before it started"
                try await post(client, "\(base)/invocation/\(id)/error", errorPayload(message, type: "Skiff.DeadlineExceeded"), errorType: "Skiff.DeadlineExceeded")
                log(Self.jsonLine(["requestId": id, "outcome": "deadline", "status": 504, "error": message]))
                continue
            }
            let reply = await handler.handle(event: event, requestID: id, sinks: sinks)
            let ms = PredictionReport.round(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
            var line: [String: Any] = ["requestId": id, "status": reply.status, "ms": ms, "images": reply.images,
                                       "outcome": reply.status == 200 ? "ok" : reply.isFunctionError ? "error" : "rejected"]
            if let stats = sinks?.snapshot {
                line["sinks"] = ["stored": stats.imagesStored, "recorded": stats.recordsWritten, "failed": stats.failures,
                                 "queue": stats.queueDepth, "dropped": stats.dropped] as [String: Any]
            }
            if let e = reply.error { line["error"] = e }
            if let deadline { line["remaining_ms"] = deadline - Self.nowMs() }
            log(Self.jsonLine(line))
            if reply.isFunctionError {
                try await post(client, "\(base)/invocation/\(id)/error", errorPayload(reply.error ?? "internal error", type: "Skiff.InternalError"), errorType: "Skiff.InternalError")
            } else {
                try await post(client, "\(base)/invocation/\(id)/response", reply.payload)
            }
        }
    }

    func post(_ client: RuntimeAPIClient, _ path: String, _ payload: [UInt8], errorType: String? = nil) async throws {
        var headers = [("Content-Type", "application/json")]
        if let errorType { headers.append(("Lambda-Runtime-Function-Error-Type", errorType)) }
        let response: RuntimeAPIClient.Response
        do {
            response = try await client.call("POST", path, headers: headers, body: payload, timeout: 30, maxBody: 1 << 20)
        } catch {
            throw ServingError(.internal, "the Runtime API at \(configuration.api) cannot be reached: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw ServingError(.internal, "the Runtime API refused \(path) with \(response.status)")
        }
    }

    /// The sinks for the init log line, without any password.
    static func describe(_ sinks: SinkConfiguration?) -> [String: String] {
        guard let sinks else { return [:] }
        var out: [String: String] = [:]
        if let i = sinks.images { out["images"] = "\(i) (\(sinks.imagesMode.rawValue))" }
        if let r = sinks.record { out["record"] = "\(r) (\(sinks.recordMode.rawValue))" }
        return out
    }

    func errorPayload(_ message: String, type: String) -> [UInt8] {
        Array(Self.jsonLine(["errorMessage": message, "errorType": type, "stackTrace": [String]()]).utf8)
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Writes a log line to standard output (one write(2), so lines from concurrent tasks do not interleave).
    public static let writeLine: @Sendable (String) -> Void = { line in
        let bytes = Array((line + "\n").utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            done += n
        }
    }

    /// One JSON object on one line (keys sorted, slashes not escaped), for CloudWatch. Values: strings, numbers,
    /// booleans, and arrays and dictionaries of them (written by hand: JSONSerialization links full Foundation).
    static func jsonLine(_ fields: [String: Any]) -> String {
        var out = ""
        JSONText.write(fields, to: &out)
        return out
    }
}
