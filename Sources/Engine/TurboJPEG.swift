import CTurboJPEG

/// Decoded 8-bit pixels, row-major HWC.
public struct DecodedImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]
}

/// JPEG decoding through libjpeg-turbo's TurboJPEG API (the only file that imports CTurboJPEG), with
/// `tf.io.decode_jpeg`'s behaviour: fast integer IDCT and fancy upsampling by default, CMYK converted as
/// TensorFlow does, truncated data refused.
public enum TurboJPEG {
    /// Whether a decompressor can be created (the library is linked and usable).
    public static var isAvailable: Bool {
        guard let handle = tjInitDecompress() else { return false }
        tjDestroy(handle)
        return true
    }

    /// - Parameters:
    ///   - channels: 3 (RGB) or 1 (the luminance channel, as `decode_jpeg(channels=1)`).
    ///   - accurateDCT: ISLOW instead of TensorFlow's default IFAST.
    ///   - maxPixels: refused before any pixel memory is allocated when the header declares more.
    public static func decode(_ jpeg: [UInt8], channels: Int, accurateDCT: Bool = false, maxPixels: Int) throws -> DecodedImage {
        guard let handle = tjInitDecompress() else { throw EngineError("cannot initialise the JPEG decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = jpeg.withUnsafeBufferPointer { tjDecompressHeader3(handle, $0.baseAddress, UInt(jpeg.count), &width, &height, &subsampling, &colorspace) }
        guard header == 0 else { throw EngineError("not a valid JPEG image: \(String(cString: tjGetErrorStr2(handle)))") }
        guard width > 0, height > 0 else { throw EngineError("the JPEG declares an empty image (\(width)×\(height))") }
        guard Int(width) * Int(height) <= maxPixels else {
            throw EngineError("the JPEG is \(width)×\(height) = \(Int(width) * Int(height)) pixels, more than the limit of \(maxPixels)")
        }
        let cmyk = colorspace == TJCS_CMYK.rawValue || colorspace == TJCS_YCCK.rawValue
        if cmyk && channels == 1 {
            throw EngineError("this JPEG is CMYK, which cannot be decoded to one grayscale channel (TensorFlow refuses it too); use a 3-channel model or convert the image to RGB")
        }
        let format = cmyk ? TJPF_CMYK : (channels == 1 ? TJPF_GRAY : TJPF_RGB)
        let decodedChannels = cmyk ? 4 : channels
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * decodedChannels)
        let flags = accurateDCT ? TJFLAG_ACCURATEDCT : TJFLAG_FASTDCT
        let status = jpeg.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(jpeg.count), dst.baseAddress, width, 0, height, format.rawValue, flags)
            }
        }
        if status != 0 {
            let message = String(cString: tjGetErrorStr2(handle))
            // Warnings leave a complete image, except a premature end (truncated data), which TensorFlow refuses.
            if tjGetErrorCode(handle) == TJERR_FATAL.rawValue || message.includes("Premature end") {
                throw EngineError("corrupt or truncated JPEG: \(message)")
            }
        }
        var image = DecodedImage(width: Int(width), height: Int(height), channels: decodedChannels, pixels: pixels)
        if cmyk { image = cmykToRGB(image, adobe: hasAdobeMarker(jpeg)) }
        return image
    }

    /// TensorFlow's CMYK conversion: Adobe files store inverted CMYK (r = c·k/255), others plain
    /// (r = (255 − c)(255 − k)/255).
    static func cmykToRGB(_ image: DecodedImage, adobe: Bool) -> DecodedImage {
        let n = image.width * image.height
        var rgb = [UInt8](repeating: 0, count: n * 3)
        for i in 0..<n {
            let k = Int(image.pixels[i * 4 + 3])
            for ch in 0..<3 {
                let c = Int(image.pixels[i * 4 + ch])
                rgb[i * 3 + ch] = UInt8(adobe ? c * k / 255 : (255 - c) * (255 - k) / 255)
            }
        }
        return DecodedImage(width: image.width, height: image.height, channels: 3, pixels: rgb)
    }

    /// Whether the JPEG carries an Adobe APP14 marker (which means inverted CMYK).
    static func hasAdobeMarker(_ jpeg: [UInt8]) -> Bool {
        JPEGMarkers.segments(jpeg).contains { $0.marker == 0xEE && $0.payload.starts(with: Array("Adobe".utf8)) }
    }
}

/// Walks the marker segments of a JPEG header (up to the start of scan), bounds-checked.
enum JPEGMarkers {
    struct Segment {
        var marker: UInt8
        var payload: ArraySlice<UInt8>
    }

    static func segments(_ b: [UInt8]) -> [Segment] {
        var out: [Segment] = []
        var i = 2
        while i + 4 <= b.count, b[i] == 0xFF {
            let marker = b[i + 1]
            if marker == 0xDA || marker == 0xD9 { break }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2, i + 2 + length <= b.count else { break }
            out.append(Segment(marker: marker, payload: b[(i + 4)..<(i + 2 + length)]))
            i += 2 + length
        }
        return out
    }
}
