import Foundation

/// A NumPy `.npy` array (format versions 1.0, 2.0 and 3.0; C order; little-endian data in memory).
///
/// Supported element types: float32, float16, float64, int32, int64, uint8, bool. Fortran-order and
/// object arrays are refused with a clear error.
public struct NpyArray: Equatable, Sendable {
    public var dtype: DType
    public var shape: [Int]
    /// Row-major little-endian element bytes.
    public var data: [UInt8]

    public init(dtype: DType, shape: [Int], data: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    public init(floats: [Float], shape: [Int]) {
        self.init(dtype: .float32, shape: shape, data: floats.withUnsafeBytes { Array($0) })
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// Values converted to Float (from any numeric dtype).
    public var floats: [Float] {
        data.withUnsafeBytes { b in
            (0..<elementCount).map { i -> Float in
                switch dtype {
                case .float32: Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                case .float16: Float(Float16(bitPattern: UInt16(littleEndian: b.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
                case .float64: Float(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
                case .int32: Float(Int32(littleEndian: b.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
                case .int64: Float(Int64(littleEndian: b.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)))
                case .uint8, .bool: Float(b[i])
                case .int8q: Float(Int8(bitPattern: b[i]))
                }
            }
        }
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
    static let maxHeaderLength = 1 << 20

    /// Type strings for each dtype, in the little-endian form written.
    static func descr(_ t: DType) -> String? {
        switch t {
        case .float32: "<f4"
        case .float16: "<f2"
        case .float64: "<f8"
        case .int32: "<i4"
        case .int64: "<i8"
        case .uint8: "|u1"
        case .bool: "|b1"
        case .int8q: nil
        }
    }

    /// Parses `.npy` bytes. `name` is used in error messages.
    public init(bytes: [UInt8], name: String = "<memory>") throws {
        func fail(_ m: String) -> FormatsError { FormatsError(.npyInvalid, m, file: name) }
        func unsupported(_ m: String) -> FormatsError { FormatsError(.npyUnsupported, m, file: name) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == Self.magic else {
            throw fail("not a .npy file: it does not start with \\x93NUMPY")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("file ends inside the .npy preamble") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw unsupported(".npy format version \(major).\(bytes[7]) is not supported (expected 1.0, 2.0 or 3.0)")
        }
        guard headerLength <= Self.maxHeaderLength, headerStart + headerLength <= bytes.count else {
            throw fail("header length \(headerLength) runs past the end of the \(bytes.count)-byte file")
        }
        let headerBytes = bytes[headerStart..<(headerStart + headerLength)]
        guard let header = major == 3 ? String(validating: headerBytes, as: UTF8.self) : String(bytes: headerBytes, encoding: .isoLatin1) else {
            throw fail("header is not valid text")
        }
        let dict = try NpyHeader.parse(header, file: name)
        guard let descr = dict["descr"]?.string else { throw fail("header has no 'descr' string (got: \(header.trimmedWhitespace))") }
        guard let fortran = dict["fortran_order"]?.bool else { throw fail("header has no 'fortran_order' boolean") }
        guard let shape = dict["shape"]?.tuple else { throw fail("header has no 'shape' tuple") }
        if fortran { throw unsupported("array is in Fortran order; save it in C order (numpy.ascontiguousarray)") }
        if descr.hasPrefix("|O") || descr == "O" { throw unsupported("object arrays (dtype 'O') are not supported: they hold Python objects, not numbers") }
        let byteSwapped = descr.hasPrefix(">")
        let normal = byteSwapped ? "<" + descr.dropFirst() : (descr.hasPrefix("=") ? "<" + descr.dropFirst() : descr)
        let table: [String: DType] = ["<f4": .float32, "<f2": .float16, "<f8": .float64, "<i4": .int32, "<i8": .int64,
                                      "|u1": .uint8, "<u1": .uint8, "|b1": .bool, "<b1": .bool]
        guard let dtype = table[String(normal)] else {
            throw unsupported("dtype '\(descr)' is not supported (expected float32, float16, float64, int32, int64, uint8 or bool)")
        }
        var count = 1
        for d in shape {
            guard d >= 0 else { throw fail("shape \(shape) has a negative dimension") }
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw fail("shape \(shape) is absurd: the element count overflows") }
            count = p
        }
        let size = dtype.size!
        let dataStart = headerStart + headerLength
        let (needed, o) = count.multipliedReportingOverflow(by: size)
        guard !o, bytes.count - dataStart == needed else {
            throw fail("data is \(bytes.count - dataStart) bytes, expected \(o ? -1 : needed) for shape \(shape) of \(dtype)")
        }
        var data = Array(bytes[dataStart...])
        if byteSwapped, size > 1 {
            for i in stride(from: 0, to: data.count, by: size) { data[i..<(i + size)].reverse() }
        }
        self.init(dtype: dtype, shape: shape, data: data)
    }

    public init(path: String) throws {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw FormatsError(.io, "cannot read the file (does it exist?)", file: path)
        }
        try self.init(bytes: Array(d), name: path)
    }

    /// Serialises as `.npy` version 1.0 (2.0 when the header needs it), header padded to 64 bytes.
    public func serialized() throws -> [UInt8] {
        guard let descr = Self.descr(dtype) else { throw FormatsError(.npyUnsupported, "dtype \(dtype) cannot be written to .npy") }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        var version: UInt8 = 1
        var preamble = 10
        if header.utf8.count + 1 + preamble > 65535 { version = 2; preamble = 12 }
        let total = (preamble + header.utf8.count + 1 + 63) / 64 * 64
        header += String(repeating: " ", count: total - preamble - header.utf8.count - 1) + "\n"
        var out = Self.magic + [version, 0]
        let hl = header.utf8.count
        out += version == 1 ? [UInt8(hl & 0xFF), UInt8(hl >> 8)] : [UInt8(hl & 0xFF), UInt8((hl >> 8) & 0xFF), UInt8((hl >> 16) & 0xFF), UInt8(hl >> 24)]
        out += Array(header.utf8)
        out += data
        return out
    }

    public func write(to path: String) throws {
        try AtomicFile.write(try serialized(), to: path)
    }
}

/// The Python-literal dict of a `.npy` header: strings, True/False, and tuples of integers.
enum NpyHeader {
    enum Value {
        case string(String), bool(Bool), tuple([Int])
        var string: String? { if case .string(let s) = self { s } else { nil } }
        var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
        var tuple: [Int]? { if case .tuple(let t) = self { t } else { nil } }
    }

    static func parse(_ text: String, file: String) throws -> [String: Value] {
        var s = Substring(text)
        func fail(_ m: String) -> FormatsError { FormatsError(.npyInvalid, "header is not a valid dict literal: \(m)", file: file) }
        func skipSpace() { while let c = s.first, c.isWhitespace { s.removeFirst() } }
        func expect(_ c: Character) throws {
            skipSpace()
            guard s.first == c else { throw fail("expected '\(c)' at '\(s.prefix(20))'") }
            s.removeFirst()
        }
        func string() throws -> String {
            skipSpace()
            guard let q = s.first, q == "'" || q == "\"" else { throw fail("expected a quoted string at '\(s.prefix(20))'") }
            s.removeFirst()
            guard let end = s.firstIndex(of: q) else { throw fail("unterminated string") }
            defer { s = s[s.index(after: end)...] }
            return String(s[..<end])
        }
        func value() throws -> Value {
            skipSpace()
            if s.hasPrefix("True") { s.removeFirst(4); return .bool(true) }
            if s.hasPrefix("False") { s.removeFirst(5); return .bool(false) }
            if s.first == "(" {
                s.removeFirst()
                var items: [Int] = []
                while true {
                    skipSpace()
                    if s.first == ")" { s.removeFirst(); break }
                    let digits = s.prefix { $0.isNumber || $0 == "-" || $0 == "L" }
                    guard !digits.isEmpty, let v = Int(digits.filter { $0 != "L" }) else { throw fail("expected an integer in the shape at '\(s.prefix(20))'") }
                    items.append(v)
                    s.removeFirst(digits.count)
                    skipSpace()
                    if s.first == "," { s.removeFirst() }
                }
                return .tuple(items)
            }
            return .string(try string())
        }
        var dict: [String: Value] = [:]
        try expect("{")
        while true {
            skipSpace()
            if s.first == "}" { break }
            let k = try string()
            try expect(":")
            dict[k] = try value()
            skipSpace()
            if s.first == "," { s.removeFirst() }
        }
        return dict
    }
}
