import Formats
import Foundation

/// The bounded on-disk queue of best-effort writes that failed: one JSON file per job in a directory, written
/// atomically, drained oldest first. Full (items or bytes) → the job is refused, and the caller counts and logs it.
public actor RetryQueue {
    /// One deferred write: the row, and the image when it is not stored yet (it is stored before the row).
    public struct Job: Codable, Sendable {
        public var record: PredictionRecord
        /// The image to store first, with its key and content type; nil once it is in S3.
        public var image: [UInt8]?
        public var imageKey: String?
        public var contentType: String?
        /// Whether the row is to be written at all (false when only the image sink is configured).
        public var writeRecord: Bool
    }

    public let directory: String
    public let maxItems: Int
    public let maxBytes: Int
    private var sequence: UInt64 = 0
    private var files: [(name: String, bytes: Int)] = []

    public init(directory: String, maxItems: Int, maxBytes: Int) throws {
        self.directory = directory
        self.maxItems = maxItems
        self.maxBytes = maxBytes
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ServingError(.internal, "the sink retry queue \(directory) cannot be created: \(error); set SKIFF_SINK_QUEUE to a writable directory")
        }
        // Jobs left by an earlier process are drained too.
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".job") }.sorted()
        files = names.map { (name: $0, bytes: (try? FileManager.default.attributesOfItem(atPath: directory + "/" + $0)[.size] as? Int) ?? 0) }
        sequence = names.compactMap { UInt64($0.prefix(20)) }.max() ?? 0
    }

    public var count: Int { files.count }
    public var bytes: Int { files.reduce(0) { $0 + $1.bytes } }

    /// Adds a job; false when the queue is full.
    public func push(_ job: Job) -> Bool {
        guard let data = try? JSONEncoder().encode(job) else { return false }
        guard files.count < maxItems, bytes + data.count <= maxBytes else { return false }
        sequence += 1
        // The process id and a random tag keep two processes sharing a queue folder from overwriting each other's jobs.
        let name = Digits.padded(sequence, width: 20) + "-\(getpid())-" + Hex.u32(UInt32.random(in: 0...UInt32.max)) + ".job"
        let tmp = directory + "/." + name + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data), rename(tmp, directory + "/" + name) == 0 else {
            unlink(tmp)
            return false
        }
        files.append((name: name, bytes: data.count))
        return true
    }

    /// The oldest job and its name, or nil.
    public func peek() -> (name: String, job: Job)? {
        while let first = files.first {
            if let data = FileManager.default.contents(atPath: directory + "/" + first.name), let job = try? JSONDecoder().decode(Job.self, from: data) {
                return (first.name, job)
            }
            // An unreadable job is moved aside rather than blocking the queue.
            rename(directory + "/" + first.name, directory + "/" + first.name + ".bad")
            files.removeFirst()
        }
        return nil
    }

    /// Replaces a job (its image now stored) in place.
    public func update(_ name: String, _ job: Job) {
        guard let data = try? JSONEncoder().encode(job), let i = files.firstIndex(where: { $0.name == name }) else { return }
        let tmp = directory + "/." + name + ".tmp"
        if FileManager.default.createFile(atPath: tmp, contents: data), rename(tmp, directory + "/" + name) == 0 { files[i].bytes = data.count }
    }

    public func remove(_ name: String) {
        unlink(directory + "/" + name)
        files.removeAll { $0.name == name }
    }
}
