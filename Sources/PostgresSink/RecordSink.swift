import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Serving

/// Prediction rows in PostgreSQL (PostgresNIO): a few connections opened once and reused, reconnected with
/// exponential backoff, and parameterised statements only.
public actor RecordSink: PredictionRecorder {
    /// The schema this build writes; `skiff sinks init` migrates to it and the runtime refuses any other.
    public static let schemaVersion = 1
    public static let table = "skiff_predictions"

    public let location: RecordLocation
    let logger: Logger
    let maxBackoff: Double
    private var slots: [Task<PostgresConnection, any Error>?]
    private var next = 0
    private var backoff = 0.0
    private var retryAt = ContinuousClock.now

    public init(_ location: RecordLocation, connections: Int = 1, maxBackoff: Double = 5) {
        self.location = location
        self.maxBackoff = maxBackoff
        self.slots = Array(repeating: nil, count: max(1, connections))
        var logger = Logger(label: "skiff.record")
        logger.logLevel = .critical
        self.logger = logger
    }

    /// The sink's name in errors: the URI without a password.
    public nonisolated var name: String { "the record sink \(location)" }

    func configuration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch location.tls {
        case .disable: tls = .disable
        case .prefer, .require, .verifyCA, .verifyFull:
            var c = TLSConfiguration.makeClientConfiguration()
            c.certificateVerification = location.tls == .verifyFull ? .fullVerification : location.tls == .verifyCA ? .noHostnameVerification : .none
            if let root = location.rootCertificate { c.trustRoots = .file(root) }
            let context: NIOSSLContext
            do { context = try NIOSSLContext(configuration: c) } catch {
                throw ServingError(.badRequest, "\(name): cannot set up TLS (\(error)); check sslrootcert")
            }
            tls = location.tls == .prefer ? .prefer(context) : .require(context)
        }
        var password = location.password
        if location.iamAuth {
            // A fresh token per connection: they expire after 15 minutes.
            let env = ProcessInfo.processInfo.environment
            let credentials: AWSCredentials
            do { credentials = try AWSCredentials.resolve(environment: env) } catch let e as ServingError {
                throw ServingError(.unavailable, "\(name): auth=iam needs AWS credentials: \(e.message)")
            }
            password = SigV4.rdsAuthToken(host: location.host, port: location.port, user: location.user,
                                          region: AWSCredentials.region(environment: env), credentials: credentials)
        }
        var config = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                                      password: password, database: location.database, tls: tls)
        config.options.connectTimeout = .seconds(5)
        if location.tls == .verifyFull || location.tls == .verifyCA { config.options.tlsServerName = location.host }
        return config
    }

    /// A live connection, connecting (at most once per backoff period) when there is none.
    func connection() async throws -> PostgresConnection {
        let slot = next
        next = (next + 1) % slots.count
        if let task = slots[slot] {
            if let c = try? await task.value, !c.isClosed { return c }
            slots[slot] = nil
        }
        let now = ContinuousClock.now
        if now < retryAt {
            let wait = retryAt - now
            let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
            throw ServingError(.unavailable, "\(name) is unreachable (the last attempt failed); next attempt in \(String(format: "%.1f", seconds)) s — check that PostgreSQL is running and reachable")
        }
        let config = try configuration()
        let logger = self.logger
        let task = Task { try await PostgresConnection.connect(configuration: config, id: slot, logger: logger) }
        slots[slot] = task
        do {
            let c = try await task.value
            backoff = 0
            return c
        } catch {
            slots[slot] = nil
            backoff = backoff == 0 ? 0.1 : min(backoff * 2, maxBackoff)
            retryAt = ContinuousClock.now + .milliseconds(Int(backoff * 1000))
            throw ServingError(.unavailable, "\(name) is unreachable: \(Self.describe(error)); check that PostgreSQL is running and reachable, and the user and password")
        }
    }

    /// Runs `body` on a connection; a connection that failed is dropped so the next call reconnects.
    func with<T: Sendable>(_ what: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let c = try await connection()
        do {
            return try await body(c)
        } catch {
            if !c.isClosed, !(error is PSQLError && (error as! PSQLError).serverInfo != nil) { try? await c.close() }
            throw ServingError(.unavailable, "\(name): \(what) failed: \(Self.describe(error))")
        }
    }

    /// A PostgresNIO error as one line: the server's message and SQLSTATE, or the connection failure.
    static func describe(_ error: any Error) -> String {
        if let e = error as? ServingError { return e.message }
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                let message = info[.message] ?? "error"
                return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
            }
            if let cause = e.underlying { return "\(e.code): \(cause)" }
            return "\(e.code)"
        }
        return "\(error)"
    }

    // MARK: schema

    /// The schema version recorded by `skiff sinks init`, or nil when the database has none.
    public func installedVersion() async throws -> Int? {
        try await with("reading the schema version") { c in
            let rows = try await c.query("SELECT to_regclass('skiff_schema_version') IS NOT NULL", logger: logger)
            var exists = false
            for try await v in rows.decode(Bool.self) { exists = v }
            guard exists else { return nil }
            var version: Int?
            for try await v in try await c.query("SELECT max(version) FROM skiff_schema_version", logger: logger).decode(Int?.self) { version = v }
            return version
        }
    }

    /// Refuses to start against a database without Skiff's table, or with another schema version.
    public func checkSchema() async throws {
        let version = try await installedVersion()
        guard let version else {
            throw ServingError(.internal, "\(name) has no Skiff schema: run 'skiff sinks init --record \(location)' first")
        }
        guard version == Self.schemaVersion else {
            throw ServingError(.internal, "\(name) has Skiff schema version \(version) but this skiff writes version \(Self.schemaVersion): run 'skiff sinks init --record \(location)' with this skiff")
        }
    }

    /// The versioned migrations, in order; each runs once, inside a transaction.
    static let migrations: [Int: [PostgresQuery]] = [
        1: [
            """
            CREATE TABLE skiff_predictions (
                id bigserial PRIMARY KEY,
                request_id text NOT NULL,
                image_index integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL,
                model_name text NOT NULL,
                model_version text NOT NULL,
                model_sha256 text NOT NULL,
                prediction jsonb NOT NULL,
                latency_ms double precision NOT NULL,
                image_uri text,
                image_sha256 text NOT NULL,
                image_bytes integer NOT NULL,
                UNIQUE (request_id, image_index)
            )
            """,
            "CREATE INDEX skiff_predictions_model_time ON skiff_predictions (model_name, created_at)",
        ],
    ]

    /// Creates or upgrades the tables; running it again changes nothing. Returns (before, after) versions.
    public func migrate() async throws -> (from: Int, to: Int) {
        try await with("the migration") { c in
            try await c.query("BEGIN", logger: logger)
            do {
                try await c.query("SELECT pg_advisory_xact_lock(7294815)", logger: logger)
                try await c.query("CREATE TABLE IF NOT EXISTS skiff_schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", logger: logger)
                var current = 0
                for try await v in try await c.query("SELECT coalesce(max(version), 0) FROM skiff_schema_version", logger: logger).decode(Int.self) { current = v }
                guard current <= Self.schemaVersion else {
                    throw ServingError(.badRequest, "\(name) has Skiff schema version \(current), newer than this skiff's \(Self.schemaVersion); use a newer skiff")
                }
                for v in (current + 1)..<(Self.schemaVersion + 1) {
                    for statement in Self.migrations[v] ?? [] { try await c.query(statement, logger: logger) }
                    try await c.query("INSERT INTO skiff_schema_version (version) VALUES (\(v))", logger: logger)
                }
                try await c.query("COMMIT", logger: logger)
                return (current, Self.schemaVersion)
            } catch {
                try? await c.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    // MARK: rows

    /// Inserts the row unless its (request id, image index) is already there; returns the row's id either way.
    public func insert(_ r: PredictionRecord) async throws -> Int64 {
        try await with("inserting request \(r.requestID)") { c in
            let query: PostgresQuery = """
                WITH ins AS (
                    INSERT INTO skiff_predictions (request_id, image_index, created_at, model_name, model_version, model_sha256,
                                                   prediction, latency_ms, image_uri, image_sha256, image_bytes)
                    VALUES (\(r.requestID), \(r.imageIndex), \(r.time), \(r.model), \(r.modelVersion), \(r.modelSHA256),
                            \(r.prediction)::jsonb, \(r.latencyMs), \(r.imageURI), \(r.imageSHA256), \(r.imageBytes))
                    ON CONFLICT (request_id, image_index) DO NOTHING
                    RETURNING id)
                SELECT id FROM ins
                UNION ALL
                SELECT id FROM skiff_predictions WHERE request_id = \(r.requestID) AND image_index = \(r.imageIndex)
                LIMIT 1
                """
            var id: Int64?
            for try await v in try await c.query(query, logger: logger).decode(Int64.self) { id = v }
            guard let id else { throw ServingError(.internal, "no row id returned for request \(r.requestID)") }
            return id
        }
    }

    public func close() async {
        for case let task? in slots { if let c = try? await task.value { try? await c.close() } }
        slots = slots.map { _ in nil }
    }
}

/// Makes `Sinks` write prediction rows with `RecordSink`. `skiff` installs it at start; `skiff-runtime` links no
/// PostgreSQL client (PostgresNIO needs full Foundation and its ICU data, tens of MB: docs/BENCHMARKS.md).
public enum PostgresSink {
    public static func install() {
        RecordSinks.factory = { location, connections, maxBackoff in RecordSink(location, connections: connections, maxBackoff: maxBackoff) }
    }
}
