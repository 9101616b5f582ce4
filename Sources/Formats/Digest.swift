import Crypto
import Foundation

/// SHA-256 in hex, for provenance records and content checks.
public enum Digest {
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// Hex SHA-256 of a file, read in 1 MiB chunks.
    public static func sha256Hex(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw FormatsError(.io, "cannot read the file", file: path) }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
