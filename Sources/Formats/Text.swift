#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Small text and locking helpers for the modules `skiff-runtime` links (Formats, Engine, Serving). Foundation's
// NSString-backed conveniences — String(format:), trimmingCharacters, replacingOccurrences, range(of:), NSLock,
// DateFormatter — live in full Foundation, and one use of any of them links it with its ICU data: measured,
// a statically linked program grows from 13.7 MB (FoundationEssentials) to 57.9 MB. These stay in the standard
// library.

/// Lowercase (or uppercase) hexadecimal without String(format:).
public enum Hex {
    static let lower = Array("0123456789abcdef".utf8), upper = Array("0123456789ABCDEF".utf8)

    /// Two digits per byte, `separator` between bytes.
    public static func string<S: Sequence>(_ bytes: S, separator: String = "", uppercase: Bool = false) -> String where S.Element == UInt8 {
        let digits = uppercase ? upper : lower
        var out = ""
        for (i, b) in bytes.enumerated() {
            if i > 0 { out += separator }
            out.unicodeScalars.append(Unicode.Scalar(digits[Int(b >> 4)]))
            out.unicodeScalars.append(Unicode.Scalar(digits[Int(b & 15)]))
        }
        return out
    }

    /// Eight digits (a CRC-32C, header flags).
    public static func u32(_ v: UInt32) -> String {
        string([UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)])
    }
}

/// Decimal formatting without String(format:).
public enum Digits {
    /// `n` with at least `width` digits, zero-padded ("%0Nd").
    public static func padded<I: BinaryInteger>(_ n: I, width: Int) -> String {
        let digits = String(n.magnitude)
        return (n < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `x` rounded to `places` decimals ("%.Nf"), for finite x of moderate size.
    public static func fixed(_ x: Double, places: Int) -> String {
        guard x.isFinite, abs(x) < 1e15 else { return "\(x)" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let r = (abs(x) * scale).rounded()
        let whole = Int(r / scale), frac = Int(r - Double(whole) * scale)
        let sign = x < 0 && r != 0 ? "-" : ""
        return places == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(padded(frac, width: places))"
    }
}

extension StringProtocol {
    /// Without the leading and trailing characters `drop` selects.
    public func trimmed(where drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }

    /// Without leading and trailing spaces, tabs and newlines.
    public var trimmedWhitespace: String { trimmed { $0.isWhitespace || $0.isNewline } }

    /// Without leading and trailing `characters`.
    public func trimmed(_ characters: String) -> String { trimmed { characters.contains($0) } }
}

/// A mutual-exclusion lock (pthread), for code that must not link Foundation's NSLock.
public final class PlainLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    public init() { pthread_mutex_init(mutex, nil) }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Calendar fields in UTC without Foundation's Calendar or DateFormatter.
public enum UTC {
    /// (year, month 1–12, day 1–31, hour, minute, second) of a time in seconds since 1970 (fractions dropped).
    public static func fields(secondsSince1970 seconds: Double) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}

/// Percent-decoding ("%2F" → "/") without Foundation's removingPercentEncoding.
public enum Percent {
    /// The decoded text, or nil when a '%' is not followed by two hex digits or the bytes are not UTF-8.
    public static func decode<S: StringProtocol>(_ s: S) -> String? {
        var bytes: [UInt8] = []
        var it = Array(s.utf8).makeIterator()
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let h = it.next().flatMap(hex), let l = it.next().flatMap(hex) else { return nil }
                bytes.append(h << 4 | l)
            } else {
                bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension StringProtocol {
    /// Whether `other` occurs in this text. With Foundation imported, `contains(_:)` on strings resolves to
    /// Foundation's NSString version (full Foundation); this stays in the standard library.
    public func includes<T: StringProtocol>(_ other: T) -> Bool { firstRange(of: other) != nil }
}
