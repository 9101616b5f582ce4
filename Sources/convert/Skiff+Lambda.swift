import ArgumentParser
import Foundation
import Formats
import Importers
import Serving
import HTTPServer

extension Skiff {
    struct Lambda: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Skiff's AWS Lambda runtime: serve a .skiff image model through the Lambda Runtime API.",
            discussion: """
            The entrypoint of the containers 'skiff package lambda' builds. Reads AWS_LAMBDA_RUNTIME_API; the model is \
            MODEL, else $SKIFF_MODEL, else $_HANDLER when it names a .skiff file, else model.skiff, relative to \
            $LAMBDA_TASK_ROOT. Accepts API Gateway REST/HTTP API and Function URL events (JPEG body or JSON) and \
            direct invocations with JSON {"b64": …}, {"image": …} or {"instances": [{"b64": …}, …]}; logs one JSON \
            line per request. Exits 1 if init fails (after reporting it to Lambda) or the Runtime API goes away.
            """)

        @Argument(help: "The .skiff model (default: see below).")
        var model: String?

        @Option(help: "Classes returned per image (default: $SKIFF_TOP_K or 5).")
        var top: Int?

        @OptionGroup var sinks: SinkOptions

        func run() throws {
            var config: LambdaRuntime.Configuration
            do {
                let env = ProcessInfo.processInfo.environment
                config = try .fromEnvironment(env, model: model, topK: top)
                if sinks.given { config.sinks = try sinks.resolve(environment: env) }
            } catch let e as ServingError {
                throw ValidationError(e.message)
            }
            let runtime = LambdaRuntime(configuration: config)
            let outcome = blockingAwait { try await runtime.run() }
            if case .failure(let error) = outcome {
                CLIOutput.error("\(error)")
                throw ExitCode.checkFailed
            }
        }
    }
}

/// Where predictions are kept, for `skiff lambda` and `skiff serve` (each flag falls back to its environment variable).
struct SinkOptions: ParsableArguments {
    @Option(name: .customLong("store-images"), help: ArgumentHelp("Store each input image as PREFIX/MODEL/YYYY/MM/DD/<request-id>.jpg (default: $SKIFF_STORE_IMAGES).", valueName: "s3://BUCKET/PREFIX"))
    var storeImages: String?

    @Option(help: ArgumentHelp("Insert one row per image into PostgreSQL (default: $SKIFF_RECORD_URL); the password comes from $SKIFF_RECORD_PASSWORD, $PGPASSWORD or --record-password-file.", valueName: "postgres://USER@HOST:PORT/DB?sslmode=…"))
    var record: String?

    @Option(name: .customLong("record-password-file"), help: "A file holding the database password.")
    var recordPasswordFile: String?

    @Option(name: .customLong("sink-mode"), help: ArgumentHelp("required: a failed write fails the request with 503; best-effort: answer anyway and queue the write on disk (default: $SKIFF_SINK_MODE or required).", valueName: "required|best-effort"))
    var sinkMode: String?

    @Option(name: .customLong("sink-queue"), help: "The best-effort retry queue's directory (default: $SKIFF_SINK_QUEUE or $TMPDIR/skiff-sink-queue).")
    var sinkQueue: String?

    var given: Bool { storeImages != nil || record != nil || sinkMode != nil || recordPasswordFile != nil || sinkQueue != nil }

    func resolve(environment env: [String: String]) throws -> SinkConfiguration? {
        try SinkConfiguration.resolve(storeImages: storeImages, record: record, mode: sinkMode, passwordFile: recordPasswordFile,
                                      queue: sinkQueue, environment: env)
    }
}

/// Runs async work from a synchronous command, on the cooperative pool, and waits for it.
func blockingAwait(_ work: @escaping @Sendable () async throws -> Void) -> Result<Void, any Error> {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<Void, any Error> = .success(())
    Task.detached {
        do { try await work() } catch { result = .failure(error) }
        done.signal()
    }
    done.wait()
    return result
}
