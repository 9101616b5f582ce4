// skiff-runtime: Skiff's AWS Lambda runtime on its own — the entrypoint of the images `skiff package lambda
// --image` builds. It links the native format, the engine and the runtime core (Serving) and nothing else: no
// source-format readers, no HTTP server, no argument-parser framework, OpenBLAS left out (the engine's own
// kernels run every GEMM). Same behaviour and environment as `skiff lambda`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Formats
import Serving

let usage = """
usage: skiff-runtime [--top K] [MODEL]

Skiff's AWS Lambda runtime: serves a .skiff image model through the Lambda Runtime API ($AWS_LAMBDA_RUNTIME_API).
The model is MODEL, else $SKIFF_MODEL, else $_HANDLER when it names a .skiff file, else model.skiff, relative to
$LAMBDA_TASK_ROOT; $SKIFF_MODEL_SOURCE (s3://BUCKET/PREFIX/NAME[/VERSION]) downloads it during init instead.
--top K (or $SKIFF_TOP_K, default 5): classes returned per image. Sinks come from $SKIFF_STORE_IMAGES,
$SKIFF_RECORD_URL, $SKIFF_SINK_MODE, … as for 'skiff lambda' (docs/DEPLOY.md).
Exits 1 if init fails (after reporting it to Lambda) or the Runtime API goes away, 2 on bad usage.

"""

/// Writes all of `text` to file descriptor `fd` (1 stdout, 2 stderr).
func emit(_ text: String, to fd: Int32) {
    let bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return }
        done += n
    }
}

func fail(_ message: String, status: Int32) -> Never {
    emit("skiff-runtime: \(message)\n", to: 2)
    exit(status)
}

var model: String?
var top: Int?
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    switch a {
    case "-h", "--help":
        emit(usage, to: 1)
        exit(0)
    case "--version":
        print("skiff-runtime \(SkiffVersion.current)")
        exit(0)
    case "--top", "-k":
        guard let v = arguments.popFirst(), let k = Int(v), k >= 1 else {
            fail("--top takes a positive integer (classes per image), e.g. --top 5", status: 2)
        }
        top = k
    default:
        if a.hasPrefix("--top=") {
            guard let k = Int(a.dropFirst(6)), k >= 1 else { fail("--top takes a positive integer (classes per image), not '\(a.dropFirst(6))'", status: 2) }
            top = k
        } else if a.hasPrefix("-") {
            fail("unknown option '\(a)'; expected --top K, --version, --help or a .skiff path", status: 2)
        } else if model == nil {
            model = a
        } else {
            fail("one model only: got '\(model!)' and '\(a)'", status: 2)
        }
    }
}

let configuration: LambdaRuntime.Configuration
do {
    configuration = try .fromEnvironment(ProcessInfo.processInfo.environment, model: model, topK: top)
} catch {
    fail("\(error)", status: 2)
}

let done = DispatchSemaphore(value: 0)
nonisolated(unsafe) var failure: (any Error)?
Task.detached {
    do { try await LambdaRuntime(configuration: configuration).run() } catch { failure = error }
    done.signal()
}
done.wait()
if let failure { fail("\(failure)", status: 1) }
