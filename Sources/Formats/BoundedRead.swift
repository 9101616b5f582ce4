import Foundation

/// Reads small text files (labels, recipes, `models.config`) with a cap enforced while reading, so a huge
/// file, `/dev/zero` or a FIFO that never ends costs at most `limit + 1` bytes instead of all memory.
public enum BoundedRead {
    /// The whole file, or nil if it cannot be opened.
    /// - Throws: `FormatsError(.sizeMismatch)` naming the file, `what` it is and the limit, when it is longer.
    public static func contents(of path: String, limit: Int, what: String) throws -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var data = Data()
        while data.count <= limit {
            guard let chunk = try? handle.read(upToCount: min(1 << 20, limit + 1 - data.count)), !chunk.isEmpty else { break }
            data.append(chunk)
        }
        guard data.count <= limit else {
            throw FormatsError(.sizeMismatch, "the \(what) is more than \(limit) bytes, the limit", file: path)
        }
        return data
    }
}
