/// Turns what a client sent into encoded image bytes: raw JPEG, standard or web-safe base64 (padding
/// optional, whitespace ignored), or a `data:image/…;base64,` URI.
public enum ImageBytes {
    static let jpegMagic: [UInt8] = [0xFF, 0xD8, 0xFF]
    static let pngMagic: [UInt8] = [0x89, 0x50, 0x4E, 0x47]

    /// - Throws: `EngineError` for empty input, bad base64, or data that is not a JPEG image.
    public static func unwrap(_ data: [UInt8], maxBytes: Int) throws -> [UInt8] {
        guard !data.isEmpty else { throw EngineError("the image is empty") }
        let (quadruple, overflow) = maxBytes.multipliedReportingOverflow(by: 4)
        guard data.count <= (overflow ? Int.max : quadruple / 3 + 4) else {  // base64 of maxBytes, plus slack
            throw EngineError("the image is \(data.count) bytes, more than the limit of \(maxBytes) (set by the model's image signature)")
        }
        var bytes = data
        if bytes.starts(with: jpegMagic) {
            // raw JPEG
        } else if bytes.starts(with: pngMagic) {
            throw EngineError("the image is a PNG; this model's image signature accepts JPEG")
        } else {
            var text = bytes[...]
            while let f = text.first, f == 0x20 || f == 0x0A || f == 0x0D || f == 0x09 { text = text.dropFirst() }
            if text.starts(with: Array("data:".utf8)) {
                guard let comma = text.firstIndex(of: UInt8(ascii: ",")),
                      String(decoding: text[..<comma], as: UTF8.self).lowercased().hasSuffix(";base64") else {
                    throw EngineError("a data: URI image must be base64 (data:image/jpeg;base64,…)")
                }
                text = text[(comma + 1)...]
            }
            bytes = try decodeBase64(Array(text))
            if bytes.starts(with: pngMagic) { throw EngineError("the image is a PNG; this model's image signature accepts JPEG") }
            guard bytes.starts(with: jpegMagic) else {
                throw EngineError("the data is neither a JPEG image nor base64 of one (it decodes to bytes starting \(bytes.prefix(4).map { String($0, radix: 16) }))")
            }
        }
        guard bytes.count <= maxBytes else {
            throw EngineError("the image is \(bytes.count) bytes, more than the limit of \(maxBytes) (set by the model's image signature)")
        }
        return bytes
    }

    private static let table: [Int8] = {
        var t = [Int8](repeating: -1, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8.enumerated() { t[Int(c)] = Int8(i) }
        t[Int(UInt8(ascii: "+"))] = 62; t[Int(UInt8(ascii: "-"))] = 62
        t[Int(UInt8(ascii: "/"))] = 63; t[Int(UInt8(ascii: "_"))] = 63
        return t
    }()

    /// Decodes base64 in either alphabet (`+/` standard, `-_` web-safe, as `tf.io.decode_base64` takes).
    public static func decodeBase64(_ text: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var acc: UInt32 = 0, n = 0, padding = 0, position = 0
        for c in text {
            position += 1
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { continue }
            if c == UInt8(ascii: "=") { padding += 1; continue }
            guard padding == 0 else { throw EngineError("invalid base64: data after '=' padding (byte \(position))") }
            let v = table[Int(c)]
            guard v >= 0 else { throw EngineError("invalid base64: character '\(Unicode.Scalar(c))' at byte \(position) is not in the standard or web-safe alphabet") }
            acc = acc << 6 | UInt32(v)
            n += 1
            if n == 4 {
                out += [UInt8(acc >> 16 & 0xFF), UInt8(acc >> 8 & 0xFF), UInt8(acc & 0xFF)]
                acc = 0; n = 0
            }
        }
        switch n {
        case 0: break
        case 1: throw EngineError("invalid base64: the length leaves one dangling character (truncated?)")
        case 2: out.append(UInt8(acc >> 4 & 0xFF))
        default: out += [UInt8(acc >> 10 & 0xFF), UInt8(acc >> 2 & 0xFF)]
        }
        guard padding <= 2 else { throw EngineError("invalid base64: too much '=' padding") }
        return out
    }
}
