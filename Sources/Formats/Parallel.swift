import Dispatch
import Foundation

/// Runs `body` for every index in `0..<count` on all cores and returns the results in order;
/// rethrows the first error (by index) after every task has finished.
public func parallelMap<T>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
    let box = ResultBox<T>(count: count)
    DispatchQueue.concurrentPerform(iterations: count) { i in
        box.set(i, Result { try body(i) })
    }
    return try box.values.map { try $0!.get() }
}

/// Slots written from `concurrentPerform` workers, one index each.
final class ResultBox<T>: @unchecked Sendable {
    private(set) var values: [Result<T, any Error>?]
    private let lock = PlainLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, any Error>) {
        lock.lock(); values[i] = r; lock.unlock()
    }
}
