import CSkiffZlib
import Formats

/// gzip through zlib, byte-for-byte reproducible: zlib's gzip wrapper writes mtime 0 and no file name, so the
/// same input always gives the same output (image layer digests depend on it).
enum Gzip {
    static func compress(_ input: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        guard skiff_deflate_init_gzip(&stream, level) == Z_OK else { throw FormatsError(.io, "zlib could not start a gzip stream") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        let status = input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst -> Int32 in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw FormatsError(.io, "zlib could not compress a layer (status \(status))") }
        return Array(output.prefix(Int(stream.total_out)))
    }
}
