import CSkiffPNG

/// PNG decoding through libpng (the only file that imports CSkiffPNG), with `tf.io.decode_png`'s behaviour
/// for uint8 output: alpha dropped, 16-bit samples truncated to their high byte, palettes and low-bit gray
/// expanded, gray replicated to RGB, RGB to gray with the BT.601 weights.
public enum PNG {
    static let magic: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func text(_ c: [CChar]) -> String { String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }

    public static func isPNG(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    /// - Parameter maxPixels: refused from the header, before any pixel memory is allocated.
    public static func decode(_ png: [UInt8], channels: Int, maxPixels: Int) throws -> DecodedImage {
        var error = [CChar](repeating: 0, count: 256)
        var width: UInt32 = 0, height: UInt32 = 0
        let header = png.withUnsafeBufferPointer { skiff_png_header($0.baseAddress, $0.count, &width, &height, &error, error.count) }
        guard header == 0 else { throw EngineError("not a valid PNG image: \(text(error))") }
        guard width > 0, height > 0 else { throw EngineError("the PNG declares an empty image (\(width)×\(height))") }
        let pixels = Int(width) * Int(height)
        guard pixels <= maxPixels else {
            throw EngineError("the PNG is \(width)×\(height) = \(pixels) pixels, more than the limit of \(maxPixels)")
        }
        var out = [UInt8](repeating: 0, count: pixels * channels)
        let status = png.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                skiff_png_decode(src.baseAddress, src.count, Int32(channels), dst.baseAddress, dst.count, &error, error.count)
            }
        }
        guard status == 0 else { throw EngineError("corrupt or truncated PNG: \(text(error))") }
        return DecodedImage(width: Int(width), height: Int(height), channels: channels, pixels: out)
    }
}
