import Foundation
import Formats

/// Turns what a client sent into encoded image bytes: raw JPEG or PNG, standard or web-safe base64 of one
/// (padding optional, whitespace ignored), or a `data:image/…;base64,` URI.
public enum ImageBytes {
    static let jpegMagic: [UInt8] = [0xFF, 0xD8, 0xFF]

    static func isImage(_ b: some Collection<UInt8>) -> Bool { b.starts(with: jpegMagic) || b.starts(with: PNG.magic) }

    /// - Throws: `EngineError` for empty input, or data that is neither a JPEG/PNG image nor base64 of one.
    public static func unwrap(_ data: [UInt8], maxBytes: Int) throws -> [UInt8] {
        guard !data.isEmpty else { throw EngineError("the image is empty") }
        let (quadruple, overflow) = maxBytes.multipliedReportingOverflow(by: 4)
        guard data.count <= (overflow ? Int.max : quadruple / 3 + 4) else {  // base64 of maxBytes, plus slack
            throw EngineError("the image is \(data.count) bytes, more than the limit of \(maxBytes) (set by the model's image signature)")
        }
        var bytes = data
        if !isImage(bytes) {
            var text = bytes[...]
            while let f = text.first, f == 0x20 || f == 0x0A || f == 0x0D || f == 0x09 { text = text.dropFirst() }
            if text.starts(with: Array("data:".utf8)) {
                guard let comma = text.firstIndex(of: UInt8(ascii: ",")),
                      String(decoding: text[..<comma], as: UTF8.self).lowercased().hasSuffix(";base64") else {
                    throw EngineError("a data: URI image must be base64 (data:image/jpeg;base64,…)")
                }
                text = text[(comma + 1)...]
            }
            do { bytes = try decodeBase64(Array(text)) } catch {
                throw EngineError("not a JPEG or PNG image, nor base64 of one (\(describe(data)))")
            }
            guard isImage(bytes) else {
                throw EngineError("not a JPEG or PNG image, nor base64 of one (it decodes to bytes starting \(Hex.string(bytes.prefix(4), separator: " ")))")
            }
        }
        guard bytes.count <= maxBytes else {
            throw EngineError("the image is \(bytes.count) bytes, more than the limit of \(maxBytes) (set by the model's image signature)")
        }
        return bytes
    }

    /// What the data looks like, for an error message: text starting "…", or its first bytes.
    static func describe(_ data: [UInt8]) -> String {
        let head = data.prefix(24)
        if head.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            let s = String(decoding: head, as: UTF8.self).replacing("\n", with: " ")
            return "it is text starting \"\(s)\(data.count > head.count ? "…" : "")\""
        }
        return "it starts with bytes " + Hex.string(data.prefix(4), separator: " ")
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
