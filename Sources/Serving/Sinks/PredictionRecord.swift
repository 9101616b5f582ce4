import Foundation

/// One prediction row: what `skiff sinks init` creates a table for.
public struct PredictionRecord: Codable, Sendable, Equatable {
    public var requestID: String
    public var imageIndex: Int
    public var time: Date
    public var model: String
    public var modelVersion: String
    public var modelSHA256: String
    /// The image's entry of the one prediction schema (docs/API.md), as JSON text.
    public var prediction: String
    public var latencyMs: Double
    public var imageURI: String?
    public var imageSHA256: String
    public var imageBytes: Int
}

/// Where prediction rows go: PostgreSQL (`PostgresSink.RecordSink`) in `skiff`; `skiff-runtime` has none.
public protocol PredictionRecorder: Sendable {
    /// The sink's name in errors (its URI without a password).
    var name: String { get }
    /// Refuses to start against a missing or different schema version.
    func checkSchema() async throws
    /// Inserts the row (idempotent on request id and image index) and returns its id.
    func insert(_ record: PredictionRecord) async throws -> Int64
    func close() async
}

/// How `Sinks` makes its record sink: installed at start by the executables that link one (`PostgresSink.install()`).
public enum RecordSinks {
    public typealias Factory = @Sendable (_ location: RecordLocation, _ connections: Int, _ maxBackoff: Double) -> any PredictionRecorder
    /// Set once at start, before any `Sinks` is made (not synchronised).
    nonisolated(unsafe) public static var factory: Factory?

    static func make(_ location: RecordLocation, connections: Int, maxBackoff: Double) throws -> any PredictionRecorder {
        guard let factory else {
            throw ServingError(.internal, "this runtime is built without the PostgreSQL record sink (\(location)): skiff-runtime links no PostgreSQL client; unset SKIFF_RECORD_URL, or ship the full skiff as the runtime (skiff package lambda --image --runtime path/to/skiff)")
        }
        return factory(location, connections, maxBackoff)
    }
}
