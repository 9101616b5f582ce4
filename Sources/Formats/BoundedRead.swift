import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads small text files (labels, recipes, `models.config`) with a cap enforced while reading, so a huge
/// file, `/dev/zero` or a FIFO that never ends costs at most `limit + 1` bytes instead of all memory.
public enum BoundedRead {
    /// The whole file, or nil if it cannot be opened.
    /// - Throws: `FormatsError(.sizeMismatch)` naming the file, `what` it is and the limit, when it is longer.
    public static func contents(of path: String, limit: Int, what: String) throws -> Data? {
        // POSIX reads, not FileHandle (which would link full Foundation into skiff-runtime).
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: min(1 << 20, limit + 1))
        while bytes.count <= limit {
            let want = min(buffer.count, limit + 1 - bytes.count)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatsError(.io, "cannot read the \(what) (errno \(errno))", file: path)
            }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        guard bytes.count <= limit else {
            throw FormatsError(.sizeMismatch, "the \(what) is more than \(limit) bytes, the limit", file: path)
        }
        return Data(bytes)
    }
}
