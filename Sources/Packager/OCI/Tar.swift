import Formats

/// A reproducible tar archive (POSIX ustar): entries sorted by path, every parent directory present, fixed
/// mtime, uid/gid 0 and no user names — the same files always give the same bytes. Lambda refuses image
/// layers whose files lack their parent directories.
struct TarArchive {
    enum Kind { case directory, file([UInt8]), symlink(String) }
    struct Entry {
        var path: String
        var kind: Kind
        var mode: Int
    }

    private(set) var entries: [String: Entry] = [:]
    /// Seconds since 1970 stamped on every entry.
    var mtime = 0

    /// Adds a file (and its parent directories, 0755).
    mutating func add(file path: String, bytes: [UInt8], mode: Int = 0o644) throws {
        try addParents(of: path)
        entries[try Self.clean(path)] = Entry(path: try Self.clean(path), kind: .file(bytes), mode: mode)
    }

    mutating func add(symlink path: String, to target: String) throws {
        try addParents(of: path)
        entries[try Self.clean(path)] = Entry(path: try Self.clean(path), kind: .symlink(target), mode: 0o777)
    }

    mutating func add(directory path: String, mode: Int = 0o755) throws {
        try addParents(of: path)
        let p = try Self.clean(path)
        if entries[p] == nil { entries[p] = Entry(path: p, kind: .directory, mode: mode) }
    }

    private mutating func addParents(of path: String) throws {
        var parts = try Self.clean(path).split(separator: "/").map(String.init)
        parts.removeLast()
        var prefix = ""
        for p in parts {
            prefix += (prefix.isEmpty ? "" : "/") + p
            if entries[prefix] == nil { entries[prefix] = Entry(path: prefix, kind: .directory, mode: 0o755) }
        }
    }

    /// A relative path without `.`/`..` segments (tar entries never escape the root).
    static func clean(_ path: String) throws -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        guard !parts.isEmpty, !parts.contains("..") else { throw FormatsError(.io, "'\(path)' is not a path inside an image layer") }
        return parts.joined(separator: "/")
    }

    /// The archive's bytes: entries in path order (a directory before what it holds), two zero blocks at the end.
    func bytes() throws -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries.values.sorted(by: { $0.path < $1.path }) {
            var name = entry.path
            var size = 0, type: UInt8 = 0x30, link = ""
            switch entry.kind {
            case .directory: name += "/"; type = 0x35
            case .file(let b): size = b.count
            case .symlink(let t): type = 0x32; link = t
            }
            var header = [UInt8](repeating: 0, count: 512)
            let (prefix, rest) = try Self.split(name)
            func put(_ s: String, at offset: Int, width: Int) throws {
                let b = Array(s.utf8)
                guard b.count <= width else { throw FormatsError(.io, "'\(entry.path)' is too long for a tar header field") }
                header.replaceSubrange(offset..<(offset + b.count), with: b)
            }
            func octal(_ v: Int, at offset: Int, width: Int) throws {
                let s = String(v, radix: 8)
                try put(String(repeating: "0", count: max(0, width - 1 - s.count)) + s, at: offset, width: width - 1)
            }
            try put(rest, at: 0, width: 100)
            try octal(entry.mode, at: 100, width: 8)
            try octal(0, at: 108, width: 8)
            try octal(0, at: 116, width: 8)
            try octal(size, at: 124, width: 12)
            try octal(mtime, at: 136, width: 12)
            header[156] = type
            try put(link, at: 157, width: 100)
            try put("ustar", at: 257, width: 6)  // magic "ustar\0"
            try put("00", at: 263, width: 2)
            try octal(0, at: 329, width: 8)  // device major/minor
            try octal(0, at: 337, width: 8)
            try put(prefix, at: 345, width: 155)
            // The checksum is computed with its own field as spaces.
            header.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
            let sum = header.reduce(0) { $0 + Int($1) }
            let s = String(sum, radix: 8)
            header.replaceSubrange(148..<156, with: Array((String(repeating: "0", count: 6 - s.count) + s).utf8) + [0, 0x20])
            out += header
            if case .file(let b) = entry.kind {
                out += b
                out += [UInt8](repeating: 0, count: (512 - b.count % 512) % 512)
            }
        }
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }

    /// ustar splits long names into a prefix (≤155 bytes) and a name (≤100) at a '/'.
    static func split(_ name: String) throws -> (String, String) {
        if name.utf8.count <= 100 { return ("", name) }
        let chars = Array(name)
        for i in stride(from: chars.count - 1, through: 0, by: -1) where chars[i] == "/" {
            let prefix = String(chars[..<i]), rest = String(chars[(i + 1)...])
            if prefix.utf8.count <= 155, rest.utf8.count <= 100, !rest.isEmpty { return (prefix, rest) }
        }
        throw FormatsError(.io, "'\(name)' is too long for a tar entry")
    }
}
