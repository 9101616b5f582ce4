import Formats

/// JSON text for log lines and error payloads built from `[String: Any]`: what `JSONSerialization` with
/// `.sortedKeys` and `.withoutEscapingSlashes` writes, for the value types the runtime logs, without linking full
/// Foundation (see Formats/Text.swift).
enum JSONText {
    static func write(_ value: Any?, to out: inout String) {
        switch value {
        case nil: out += "null"
        case let s as String: string(s, to: &out)
        case let s as Substring: string(String(s), to: &out)
        case let b as Bool: out += b ? "true" : "false"
        case let i as Int: out += String(i)
        case let i as Int64: out += String(i)
        case let i as Int32: out += String(i)
        case let i as UInt64: out += String(i)
        case let i as UInt32: out += String(i)
        case let d as Double: number(d, to: &out)
        case let f as Float: number(Double(f), to: &out)
        case let dict as [String: Any]:
            out += "{"
            for (i, key) in dict.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                string(key, to: &out)
                out += ":"
                write(dict[key]!, to: &out)
            }
            out += "}"
        case let array as [Any]:
            out += "["
            for (i, v) in array.enumerated() {
                if i > 0 { out += "," }
                write(v, to: &out)
            }
            out += "]"
        default: string(String(describing: value!), to: &out)
        }
    }

    /// Whole numbers without a fraction (as JSONSerialization writes them), others in Swift's shortest form.
    static func number(_ d: Double, to out: inout String) {
        guard d.isFinite else { out += "null"; return }
        if d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) } else { out += "\(d)" }
    }

    static func string(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                out += "\\u00" + Hex.string([UInt8(u.value)])
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
