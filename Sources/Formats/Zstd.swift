import CZstd

/// zstd compression of single, independent frames (the only file that imports CZstd).
package enum Zstd {
    package static var versionString: String { String(cString: ZSTD_versionString()) }

    package static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 9) throws -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            ZSTD_compress(dst.baseAddress, bound, input.baseAddress, input.count, level)
        }
        if ZSTD_isError(written) != 0 {
            throw FormatsError(.decompression, "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.removeSubrange(written...)
        return out
    }

    /// Decompresses one frame into `output`, which must be exactly the expected raw size.
    package static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, what: String) throws {
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        if declared == skiff_zstd_contentsize_error() {
            throw FormatsError(.decompression, "\(what) is not a valid zstd frame")
        }
        if declared != skiff_zstd_contentsize_unknown(), declared != UInt64(output.count) {
            throw FormatsError(.sizeMismatch, "\(what): zstd frame declares \(declared) bytes, expected raw_length \(output.count)")
        }
        let n = ZSTD_decompress(output.baseAddress, output.count, input.baseAddress, input.count)
        if ZSTD_isError(n) != 0 {
            throw FormatsError(.decompression, "\(what): zstd decompression failed: \(String(cString: ZSTD_getErrorName(n)))")
        }
        if n != output.count {
            throw FormatsError(.sizeMismatch, "\(what): decompressed to \(n) bytes, expected raw_length \(output.count)")
        }
    }
}
