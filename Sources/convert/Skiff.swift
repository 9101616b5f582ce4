import ArgumentParser
import Foundation
import Engine
import Formats
import Serving

/// The `skiff` command tree. Each command group lives in its own file as an extension.
@main
struct Skiff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "Convert Keras and TensorFlow image models to compact .skiff files, verify them, run and deploy them.",
        discussion: """
        Exit codes: 0 success; 1 a check failed (verification); 2 bad usage, or a file that cannot be read or written.
        """,
        version: SkiffVersion.current,
        subcommands: [Convert.self, Run.self, Predict.self, Verify.self, Bench.self, Inspect.self, Recipes.self, Package.self, Lambda.self, Serve.self, Sinks.self, Version.self]
    )

    /// Runs the command and maps every error to one clear line and an exit code CI can use.
    static func main() {
        let verbose = CommandLine.arguments.contains("--verbose")
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as EngineError {
            CLIOutput.error(error.description)
            Foundation.exit(ExitCode.fileError.rawValue)
        } catch let error as FormatsError {
            CLIOutput.error(error.description)
            if verbose {
                CLIOutput.error("  code: \(error.code.rawValue); thrown at \(error.thrownAt)")
                if let cause = error.underlying { CLIOutput.error("  caused by: \(cause)") }
            }
            Foundation.exit(ExitCode.fileError.rawValue)
        } catch let error as ServingError {
            CLIOutput.error(error.message)
            Foundation.exit(ExitCode.fileError.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version
            }
            if code == .validationFailure {
                var message = fullMessage(for: error)
                if message.hasPrefix("Error: ") { message.removeFirst(7) }
                // One line: the usage text ArgumentParser appends is for --help, not for errors.
                if let usage = message.range(of: "\nUsage: ") { message = String(message[..<usage.lowerBound]) }
                CLIOutput.error(message)
                Foundation.exit(ExitCode.fileError.rawValue)
            }
            exit(withError: error)
        }
    }
}

extension ExitCode {
    /// A check (verification) ran and failed.
    static let checkFailed = ExitCode(1)
    /// Bad usage, or a file that cannot be read or written.
    static let fileError = ExitCode(2)
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false

    @Flag(name: .long, help: "On errors, also print the error code, where it was raised and its cause.")
    var verbose = false
}

enum CLIOutput {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data("skiff: error: \(line)\n".utf8))
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try e.encode(value), as: UTF8.self))
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var v = Double(n), u = 0
        while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
    }
}
