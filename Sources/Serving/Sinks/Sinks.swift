import Crypto
import Engine
import Formats
import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// Keeps what was predicted: each input image in S3, then one row per image in PostgreSQL, in that order (a row
/// never points at a missing object). `required` sinks fail the request with 503; `best-effort` ones answer anyway,
/// and the failed write goes to a bounded on-disk queue drained in the background when the sink recovers.
public final class Sinks: Sendable {
    public let configuration: SinkConfiguration
    let s3: S3Client?
    public let record: (any PredictionRecorder)?
    public let queue: RetryQueue
    /// sha256 of each model file, by path (the row's model version), computed once.
    let digests = NIOLockedValueBox<[String: String]>([:])
    let metrics: PrometheusCollectorRegistry?
    let stats = NIOLockedValueBox(Stats())
    let log: @Sendable (String) -> Void
    private let drainer = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let draining = NIOLockedValueBox(false)

    /// Counters for logs and metrics.
    public struct Stats: Sendable, Equatable {
        public var imagesStored = 0
        public var recordsWritten = 0
        /// Writes that failed, by sink ("images", "record").
        public var failures: [String: Int] = [:]
        public var queued = 0
        /// Jobs refused because the queue was full (lost, and logged).
        public var dropped = 0
        public var drained = 0
        public var queueDepth = 0
    }

    public var snapshot: Stats { stats.withLockedValue { $0 } }

    func digest(_ path: String) throws -> String {
        if let d = digests.withLockedValue({ $0[path] }) { return d }
        let d = try Digest.sha256Hex(file: path)
        digests.withLockedValue { $0[path] = d }
        return d
    }

    /// Counts an event in the Prometheus registry (serve's /metrics), if there is one.
    func metric(_ name: String, _ labels: [(String, String)] = [], help: String) {
        metrics?.makeCounter(name: name, labels: labels, help: help).increment()
    }

    func updateDepth(_ depth: Int) {
        stats.withLockedValue { $0.queueDepth = depth }
        metrics?.makeGauge(name: "skiff_sink_queue_depth", help: "Best-effort sink writes waiting in the on-disk retry queue.").set(Int64(depth))
    }

    public init(_ configuration: SinkConfiguration, credentials: AWSCredentials? = nil, region: String = "us-east-1",
                metrics: PrometheusCollectorRegistry? = nil, log: @escaping @Sendable (String) -> Void) throws {
        self.configuration = configuration
        if configuration.images != nil {
            guard let credentials else { throw ServingError(.internal, "--store-images needs AWS credentials") }
            s3 = try S3Client(endpoint: configuration.s3Endpoint, region: region, credentials: credentials)
        } else {
            s3 = nil
        }
        record = try configuration.record.map { try RecordSinks.make($0, connections: configuration.connections, maxBackoff: configuration.maxBackoff) }
        queue = try RetryQueue(directory: configuration.queueDirectory, maxItems: configuration.queueMaxItems, maxBytes: configuration.queueMaxBytes)
        self.metrics = metrics
        self.log = log
    }

    /// Checks the record sink's schema (at start) and starts draining the retry queue. A required sink that cannot be
    /// reached fails; a best-effort one is only logged (its writes are queued until it answers).
    public func start(models: [String] = []) async throws {
        for path in models { _ = try digest(path) }
        if let record {
            do { try await record.checkSchema() } catch let e as ServingError where e.kind == .unavailable && configuration.recordMode == .bestEffort {
                log(LambdaRuntime.jsonLine(["event": "sink", "sink": "record", "outcome": "unreachable at start", "error": e.message]))
            }
        }
        updateDepth(await queue.count)
        let interval = configuration.retryInterval
        drainer.withLockedValue {
            $0 = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                    guard let self else { return }
                    await self.drain()
                }
            }
        }
    }

    public func shutdown() async {
        drainer.withLockedValue { $0?.cancel() }
        await record?.close()
        await s3?.shutdown()
    }

    /// What was stored for one image: its S3 URI and row id, when written now.
    public struct Stored: Sendable, Equatable {
        public var imageURI: String?
        public var recordID: Int64?
    }

    static func kind(of bytes: [UInt8]) -> (ext: String, contentType: String) {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return ("jpg", "image/jpeg") }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return ("png", "image/png") }
        return ("bin", "application/octet-stream")
    }

    /// Stores the request's images and rows, then puts the S3 URIs, row ids and any deferred writes into `report`.
    /// - Throws: `ServingError(.unavailable)` (503) naming the sink when a required write fails.
    public func store(requestID: String, images: [[UInt8]], report: inout PredictionReport, modelPath: String, latencyMs: Double,
                      time: Date = Date()) async throws {
        var warnings: [String] = []
        let modelSHA256 = record == nil ? "" : (try? digest(modelPath)) ?? ""
        for (i, sent) in images.enumerated() where i < report.predictions.count {
            // The image itself, as the model decoded it: JSON requests carry base64 or data: URIs.
            let bytes = (try? ImageBytes.unwrap(sent, maxBytes: 1 << 40)) ?? sent
            let entry = report.predictions[i]
            let (ext, contentType) = Self.kind(of: bytes)
            let key = configuration.images.map { $0.key(model: report.model, requestID: requestID, index: i, count: images.count, ext: ext, date: time) }
            let uri = configuration.images.flatMap { loc in key.map { "s3://\(loc.bucket)/\($0)" } }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let prediction = String(decoding: (try? encoder.encode(entry)) ?? Data("{}".utf8), as: UTF8.self)
            let row = PredictionRecord(requestID: requestID, imageIndex: i, time: time, model: report.model, modelVersion: report.version,
                                       modelSHA256: modelSHA256, prediction: prediction, latencyMs: latencyMs, imageURI: uri,
                                       imageSHA256: Digest.sha256Hex(bytes), imageBytes: bytes.count)
            var stored = Stored()
            var imagePending = false
            if let s3, let location = configuration.images, let key {
                do {
                    try await s3.put(bucket: location.bucket, key: key, body: bytes, contentType: contentType)
                    stats.withLockedValue { $0.imagesStored += 1 }
                    metric("skiff_sink_writes_total", [("sink", "images")], help: "Sink writes that succeeded, by sink.")
                    stored.imageURI = uri
                } catch {
                    let message = "the image sink \(location) could not store \(key): \(Self.message(error)); check the bucket, its policy and the endpoint"
                    count(failure: "images", message, requestID: requestID)
                    guard configuration.imagesMode == .bestEffort else { throw ServingError(.unavailable, message) }
                    if record != nil && configuration.recordMode == .required {
                        throw ServingError(.unavailable, message + " (the required record sink writes a row only after its image)")
                    }
                    imagePending = true
                    warnings.append("images: deferred (\(Self.message(error)))")
                }
            }
            if imagePending {
                try await defer_(RetryQueue.Job(record: row, image: bytes, imageKey: key, contentType: contentType, writeRecord: record != nil),
                                 requestID: requestID, warnings: &warnings)
            } else if let record {
                do {
                    stored.recordID = try await record.insert(row)
                    stats.withLockedValue { $0.recordsWritten += 1 }
                    metric("skiff_sink_writes_total", [("sink", "record")], help: "Sink writes that succeeded, by sink.")
                } catch {
                    let message = Self.message(error)
                    count(failure: "record", message, requestID: requestID)
                    guard configuration.recordMode == .bestEffort else {
                        throw ServingError(.unavailable, message.includes(record.name) ? message : "\(record.name): \(message)")
                    }
                    warnings.append("record: deferred (\(message))")
                    try await defer_(RetryQueue.Job(record: row, image: nil, imageKey: nil, contentType: nil, writeRecord: true),
                                     requestID: requestID, warnings: &warnings)
                }
            }
            report.predictions[i].image_uri = stored.imageURI
            report.predictions[i].record_id = stored.recordID
        }
        report.request_id = requestID
        if !warnings.isEmpty { report.sink_warnings = warnings }
    }

    private func defer_(_ job: RetryQueue.Job, requestID: String, warnings: inout [String]) async throws {
        if await queue.push(job) {
            let depth = await queue.count
            stats.withLockedValue { $0.queued += 1 }
            updateDepth(depth)
            metric("skiff_sink_queued_total", help: "Best-effort sink writes queued on disk for a retry.")
        } else {
            stats.withLockedValue { $0.dropped += 1 }
            metric("skiff_sink_dropped_total", help: "Best-effort sink writes lost because the retry queue was full.")
            let message = "the sink retry queue \(configuration.queueDirectory) is full (\(configuration.queueMaxItems) jobs or \(configuration.queueMaxBytes) bytes): request \(requestID) was not kept; restore the sinks or raise SKIFF_SINK_QUEUE_MAX"
            log(LambdaRuntime.jsonLine(["event": "sink", "outcome": "dropped", "requestId": requestID, "error": message]))
            warnings.append("dropped: the retry queue is full")
        }
    }

    private func count(failure sink: String, _ message: String, requestID: String) {
        stats.withLockedValue { $0.failures[sink, default: 0] += 1 }
        metric("skiff_sink_failures_total", [("sink", sink)], help: "Sink writes that failed, by sink.")
        log(LambdaRuntime.jsonLine(["event": "sink", "sink": sink, "outcome": "failed", "requestId": requestID, "error": message]))
    }

    static func message(_ error: any Error) -> String { (error as? ServingError)?.message ?? "\(error)" }

    /// Writes queued jobs, oldest first, until one fails (the sink is still down) or the queue is empty.
    /// - Returns: how many jobs were completed.
    @discardableResult
    public func drain() async -> Int {
        guard draining.withLockedValue({ busy in
            if busy { return false }
            busy = true
            return true
        }) else { return 0 }
        defer { draining.withLockedValue { $0 = false } }
        var done = 0
        while let item = await queue.peek() {
            let name = item.name
            var job = item.job
            if let image = job.image, let key = job.imageKey, let s3, let location = configuration.images {
                do {
                    try await s3.put(bucket: location.bucket, key: key, body: image, contentType: job.contentType ?? "application/octet-stream")
                } catch { break }
                stats.withLockedValue { $0.imagesStored += 1 }
                job.image = nil
                await queue.update(name, job)
            }
            if job.writeRecord, let record {
                do { _ = try await record.insert(job.record) } catch { break }
                stats.withLockedValue { $0.recordsWritten += 1 }
            }
            await queue.remove(name)
            done += 1
        }
        if done > 0 {
            let depth = await queue.count
            stats.withLockedValue { $0.drained += done }
            updateDepth(depth)
            metric("skiff_sink_drained_total", help: "Queued sink writes completed after the sink recovered.")
            log(LambdaRuntime.jsonLine(["event": "sink", "outcome": "drained", "jobs": done, "queue": depth]))
        }
        return done
    }
}
