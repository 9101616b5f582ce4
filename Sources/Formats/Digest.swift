import Crypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SHA-256 in hex, for provenance records and content checks.
public enum Digest {
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        Hex.string(SHA256.hash(data: bytes))
    }

    /// Hex SHA-256 of a file, read in 1 MiB chunks.
    public static func sha256Hex(file path: String) throws -> String {
        // POSIX reads, not FileHandle (which would link full Foundation into skiff-runtime).
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatsError(.io, "cannot read the file", file: path) }
        defer { close(fd) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatsError(.io, "cannot read the file (errno \(errno))", file: path)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return Hex.string(hasher.finalize())
    }
}
