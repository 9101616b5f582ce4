import ArgumentParser
import Foundation
import Serving
import PostgresSink
import HTTPServer

extension Skiff {
    struct Sinks: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set up where predictions are kept (the record sink's PostgreSQL table).",
            subcommands: [Init.self])

        struct Init: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create or upgrade the prediction table and its index in PostgreSQL (versioned; safe to run again).",
                discussion: """
                The password is read from $SKIFF_RECORD_PASSWORD, $PGPASSWORD or --record-password-file, never from the \
                URI. 'skiff lambda' and 'skiff serve' refuse to start against a database whose schema version is not theirs.
                """)

            @Option(help: "postgres://USER@HOST:PORT/DB?sslmode=disable|prefer|require|verify-ca|verify-full[&sslrootcert=PEM]")
            var record: String

            @Option(name: .customLong("record-password-file"), help: "A file holding the database password.")
            var passwordFile: String?

            func run() throws {
                var location: RecordLocation
                do {
                    location = try RecordLocation(record)
                    try location.resolvePassword(file: passwordFile, environment: ProcessInfo.processInfo.environment)
                } catch let e as ServingError { throw ValidationError(e.message) }
                let sink = RecordSink(location)
                let shown = location.description  // no password
                let outcome = blockingAwait {
                    let result = try await sink.migrate()
                    await sink.close()
                    print(result.from == result.to
                          ? "\(shown): schema version \(result.to) already in place; nothing to do"
                          : "\(shown): schema migrated from version \(result.from) to \(result.to) (table \(RecordSink.table))")
                }
                if case .failure(let error) = outcome {
                    CLIOutput.error("skiff sinks init: \(error)")
                    throw ExitCode.checkFailed
                }
            }
        }
    }
}
