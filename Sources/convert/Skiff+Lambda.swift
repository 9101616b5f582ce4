import ArgumentParser
import Foundation
import Formats
import Serving

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

        func run() throws {
            let config: LambdaRuntime.Configuration
            do { config = try .fromEnvironment(ProcessInfo.processInfo.environment, model: model, topK: top) } catch let e as ServingError {
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
