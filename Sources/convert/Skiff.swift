import ArgumentParser
import Foundation
import Engine
import EngineBLAS
import PostgresSink
import Formats
import Importers
import Serving
import HTTPServer

/// The `skiff` command tree. Each command group lives in its own file as an extension.
@main
struct Skiff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skiff",
        abstract: "Convert Keras and TensorFlow image models to compact .skiff files, verify them, run and deploy them.",
        discussion: """
        Exit codes: 0 success; 1 a check failed (verification); 2 bad usage, or a file that cannot be read or written.

        'skiff --version' prints Skiff's version; 'skiff version' also lists the C libraries it is linked with.
        """,
        subcommands: [Convert.self, Run.self, Predict.self, Verify.self, Bench.self, Inspect.self, Recipes.self, Package.self, Lambda.self, Serve.self, Sinks.self, Version.self, ReadH5.self]
    )

    /// The command `arguments` stand for, parsed exactly as `main` does; nil for `skiff --version` (which `main`
    /// answers itself). Tests parse every command line in the documentation with it.
    static func command(for arguments: [String]) throws -> (any ParsableCommand)? {
        if arguments == ["--version"] { return nil }
        return try parseAsRoot(arguments)
    }

    /// Runs the command and maps every error to one clear line and an exit code CI can use.
    static func main() {
        let verbose = CommandLine.arguments.contains("--verbose")
        // `skiff --version` by hand: ArgumentParser's automatic flag would also be listed in every subcommand's
        // help, beside the commands' own --version options (a TF Serving model version, an S3 version).
        let arguments = Array(CommandLine.arguments.dropFirst())
        OpenBLAS.install()
        PostgresSink.install()
        do {
            guard var command = try Self.command(for: arguments) else {
                print(SkiffVersion.current)
                return
            }
            do { try command.run() } catch {
                SignalCleanup.yieldToInterruption()
                throw error
            }
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

    /// Something the user should know that is not an error (a default chosen for them), on stderr.
    static func note(_ line: String) {
        FileHandle.standardError.write(Data("skiff: note: \(line)\n".utf8))
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
