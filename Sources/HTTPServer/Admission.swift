import Foundation
import Serving

/// Bounded admission to the engine: at most `workers` inferences at once and `queueLimit` waiting; beyond that
/// requests are turned away at once (503 with Retry-After) rather than piling up.
public actor Admission {
    public let workers: Int
    public let queueLimit: Int
    private var running = 0
    private var waiting: [(id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
    private var nextID: UInt64 = 0

    public init(workers: Int, queueLimit: Int) {
        self.workers = max(1, workers)
        self.queueLimit = max(0, queueLimit)
    }

    public var inFlight: Int { running }
    public var queued: Int { waiting.count }

    /// Waits for a worker slot, up to `timeout` seconds.
    /// - Throws: `ServingError(.unavailable)` when the queue is full or the wait times out.
    public func acquire(timeout: Double) async throws {
        if running < workers { running += 1; return }
        guard waiting.count < queueLimit else {
            throw ServingError(.unavailable, "the server is busy (\(running) running, \(waiting.count) queued); retry shortly")
        }
        nextID += 1
        let id = nextID
        let timer = Task { [weak self] in
            try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
            await self?.expire(id)
        }
        defer { timer.cancel() }
        try await withCheckedThrowingContinuation { waiting.append((id, $0)) }
    }

    private func expire(_ id: UInt64) {
        guard let i = waiting.firstIndex(where: { $0.id == id }) else { return }
        waiting.remove(at: i).continuation.resume(throwing: ServingError(.unavailable, "timed out waiting for the engine; retry shortly"))
    }

    /// Hands the slot to the next waiter, or frees it.
    public func release() {
        if waiting.isEmpty { running -= 1 } else { waiting.removeFirst().continuation.resume() }
    }
}
