import ArgumentParser
import Foundation
import Formats
import Importers
import Serving
import HTTPServer

extension Skiff {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve .skiff models over HTTP with TensorFlow Serving's REST API and an upload page.",
            discussion: """
            Endpoints: GET /v1/models/NAME[/versions/V][/metadata]; POST /v1/models/NAME[/versions/V]:predict \
            ({"instances": […]} or {"inputs": …}, binary values as {"b64": …}), :classify, and :labels (a raw \
            JPEG or PNG body → top-k labels in the prediction schema of docs/API.md); GET /v1/models, /healthz, /metrics (Prometheus) and / (upload page). \
            SIGTERM or SIGINT stops accepting connections and finishes the requests in flight.
            """)

        @Argument(help: "Models to serve as version 1 under their file name.")
        var models: [String] = []

        @Option(help: "Names for the models, in order (default: file names).")
        var name: [String] = []

        @Option(name: .customLong("model-config"), help: "A TensorFlow Serving models.config (model_config_list) whose base_path folders hold VERSION/model.skiff.")
        var modelConfig: String?

        @Option(help: "Address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "Port (0 picks a free one; the chosen port is printed).")
        var port = 8501

        @Option(help: "Inferences running at once.")
        var workers = 1

        @Option(help: "Requests that may wait for a worker before new ones get 503.")
        var queue = 32

        @Option(name: .customLong("max-body-mb"), help: "Largest request body, in MiB (larger gets 413).")
        var maxBodyMB = 8

        @Option(help: "Seconds a request may wait for a worker before it gets 503.")
        var timeout = 30.0

        @Option(name: .customLong("idle-timeout"), help: "Seconds a connection may stay open without sending a request (or while sending one's head or body) before it is closed.")
        var idleTimeout = 60.0

        @Option(help: "Classes returned by :labels and :classify unless the request says.")
        var top = 5

        @Option(help: ArgumentHelp("Allow browser pages from this origin to call the API (CORS), e.g. https://example.com, or * for any.", valueName: "origin"))
        var cors: String?

        @Flag(name: .customLong("no-request-log"), help: "Do not log one JSON line per request on stderr.")
        var noRequestLog = false

        @Option(name: .customLong("s3-endpoint"), help: "An S3-compatible endpoint for s3:// models (default: AWS).")
        var s3Endpoint: String?

        @Option(help: "AWS profile for s3:// models (default: the environment, then $AWS_PROFILE or default).")
        var profile: String?

        @Option(help: "Where s3:// models are downloaded (default: $TMPDIR/skiff-models).")
        var cache: String?

        @OptionGroup var sinks: SinkOptions

        func validate() throws {
            if models.isEmpty && modelConfig == nil { throw ValidationError("give .skiff files to serve or --model-config") }
            if !(0...65535).contains(port) { throw ValidationError("--port must be 0 … 65535") }
            if workers < 1 || queue < 0 || maxBodyMB < 1 || timeout <= 0 || idleTimeout <= 0 || top < 1 { throw ValidationError("--workers, --max-body-mb, --timeout, --idle-timeout and --top must be positive, --queue not negative") }
        }

        func run() throws {
            let usesS3 = models.contains { $0.hasPrefix("s3://") }
                || (modelConfig.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?.contains("s3://") ?? false)
            let env = ProcessInfo.processInfo.environment
            let s3 = usesS3 ? try S3Client(endpoint: s3Endpoint ?? SinkConfiguration.s3Endpoint(environment: env), region: AWSCredentials.region(profile: profile, environment: env),
                                            credentials: AWSCredentials.resolve(profile: profile, environment: env)) : nil
            let (files, givenNames, config, cacheDir) = (models, name, modelConfig, cache ?? NSTemporaryDirectory() + "skiff-models")
            nonisolated(unsafe) var loaded: ModelRegistry?
            let loading = blockingAwait {
                defer { if let s3 { Task { await s3.shutdown() } } }
                loaded = try await ModelRegistry.load(files: files, names: givenNames, config: config, s3: s3, cache: cacheDir)
            }
            if case .failure(let error) = loading { throw error }
            let registry = loaded!
            var options = SkiffServer.Options()
            options.host = host
            options.port = port
            options.workers = workers
            options.queueLimit = queue
            options.maxBodyBytes = maxBodyMB << 20
            options.queueTimeout = timeout
            options.idleTimeout = idleTimeout
            options.topK = top
            options.corsOrigin = cors
            options.logRequests = !noRequestLog
            var sinkConfig: SinkConfiguration?
            do { sinkConfig = try sinks.resolve(environment: env) } catch let e as ServingError { throw ValidationError(e.message) }
            if var c = sinkConfig {
                c.connections = min(4, max(2, workers))
                if let e = s3Endpoint { c.s3Endpoint = e }
                sinkConfig = c
            }
            let server = try SkiffServer(registry: registry, options: options, sinks: sinkConfig,
                                         credentials: sinkConfig?.images == nil ? nil : AWSCredentials.resolve(profile: profile, environment: env),
                                         region: AWSCredentials.region(profile: profile, environment: env))
            let names = registry.models.keys.sorted().map { n in "\(n) (v\(registry.models[n]!.keys.sorted().map(String.init).joined(separator: ",")))" }
            let host = self.host
            let outcome = blockingAwait {
                try await server.run { port in
                    FileHandle.standardOutput.write(Data("skiff serve: listening on http://\(host):\(port) — \(names.joined(separator: ", "))\n".utf8))
                }
            }
            if case .failure(let error) = outcome {
                CLIOutput.error((error as? ServingError)?.message ?? "\(error)")
                throw ExitCode.fileError
            }
            FileHandle.standardOutput.write(Data("skiff serve: stopped\n".utf8))
        }
    }
}
