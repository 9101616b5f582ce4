import Foundation
import Logging
import NIOCore
import PostgresNIO
import Serving
import HTTPServer

/// A throwaway PostgreSQL 15 cluster on 127.0.0.1 for the sink tests: initdb into a temporary folder, a free port,
/// password (SCRAM) authentication, `postgres` started and stopped (SIGQUIT) by the test. PostgreSQL refuses to run as
/// root, so as root every server command runs as `nobody` (setpriv) in a folder owned by it.
final class PostgresServer: @unchecked Sendable {
    static let bin = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]
        .first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") } ?? "/usr/lib/postgresql/15/bin"
    let directory: String
    let port: Int
    let user = "skiff"
    let password = "pw-\(UUID().uuidString.prefix(8))"
    let database = "postgres"
    var data: String { directory + "/data" }

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.bin + "/initdb") else {
            throw ServingError(.internal, "PostgreSQL's server is not installed (\(Self.bin)/initdb): run scripts/setup.sh --tests (Debian: postgresql)")
        }
        directory = "/tmp/skiff-pg-\(UUID().uuidString.prefix(12))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try password.write(toFile: directory + "/pwfile", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: directory + "/log", contents: nil)
        if getuid() == 0 { _ = try Self.run("/bin/chown", ["-R", "nobody", directory], asServerUser: false) }
        port = MotoServer.freePort()
        let initdb = try Self.run(Self.bin + "/initdb", ["-D", data, "-U", user, "--pwfile=\(directory)/pwfile", "--auth=scram-sha-256",
                                                          "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        guard initdb.status == 0 else { throw ServingError(.internal, "initdb failed: \(initdb.output)") }
        try start()
    }

    var uri: String { "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable" }
    var environment: [String: String] { ["PGPASSWORD": password] }

    private var server: Process?

    /// Runs `postgres` itself as the child (not `pg_ctl`, whose daemon would inherit Foundation's process-watching
    /// descriptors and keep `waitUntilExit` from returning), then waits until it accepts connections.
    func start() throws {
        let p = Process()
        let args = ["-D", data, "-p", String(port), "-k", directory, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        (p.executableURL, p.arguments) = Self.command(Self.bin + "/postgres", args)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/log"))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        server = p
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: "\(directory)/.s.PGSQL.\(port)") || !MotoServer.listening(port) {
            guard Date() < deadline, p.isRunning else {
                throw ServingError(.internal, "postgres did not start: \((try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "")")
            }
            usleep(50_000)
        }
    }

    /// Stops the server at once (SIGQUIT: immediate shutdown; connections are cut, as when a database goes away).
    func stop() throws {
        guard let p = server else { return }
        kill(p.processIdentifier, SIGQUIT)
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        guard !p.isRunning else { throw ServingError(.internal, "postgres did not stop") }
        server = nil
    }

    /// As root, the server's tools run as `nobody` (setpriv execs in place, so the child is the tool itself).
    static func command(_ tool: String, _ args: [String]) -> (URL, [String]) {
        if getuid() == 0 {
            return (URL(fileURLWithPath: "/usr/bin/setpriv"), ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", tool] + args)
        }
        return (URL(fileURLWithPath: tool), args)
    }

    @discardableResult
    static func run(_ tool: String, _ args: [String], asServerUser: Bool = true) throws -> (status: Int32, output: String) {
        let p = Process()
        if asServerUser {
            (p.executableURL, p.arguments) = command(tool, args)
        } else {
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = args
        }
        p.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        // A file, not a pipe: a server started by the tool would inherit the descriptors and hold a pipe open.
        let outPath = NSTemporaryDirectory() + "/skiff-pg-\(UUID().uuidString).out"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try? out.close()
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return (p.terminationStatus, text)
    }

    /// Runs a query on a new connection and returns every row's columns as text (NULL as nil).
    func query(_ sql: PostgresQuery) async throws -> [[String?]] {
        var logger = Logger(label: "test.pg")
        logger.logLevel = .critical
        // Right after a (re)start the server may still be recovering ("the database system is starting up")
        // although its socket is there: retry the connection for a while.
        var attempt = 0
        var connection: PostgresConnection?
        while connection == nil {
            do {
                connection = try await PostgresConnection.connect(
                    configuration: .init(host: "127.0.0.1", port: port, username: user, password: password, database: database, tls: .disable),
                    id: 1, logger: logger)
            } catch {
                attempt += 1
                if attempt >= 100 { throw error }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        let c = connection!
        do {
            var rows: [[String?]] = []
            for try await row in try await c.query(sql, logger: logger) {
                rows.append(row.map { cell in cell.bytes.map { String(buffer: $0) } })
            }
            try await c.close()
            return rows
        } catch {
            try? await c.close()
            throw error
        }
    }

    deinit {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
