import Foundation
import SwiftCSV
import Formats

/// Class names from the label files people have: plain text (one per line), CSV (with or without a header,
/// with or without an index column), JSON (a list, an `{"index": "name"}` map, or Keras's `class_indices`
/// `{"name": index}`), and TensorFlow's `label_map.pbtxt`.
///
/// The result is indexed by class: `names[i]` names output class `i`.
public enum LabelsFile {
    /// Largest label file read (the ImageNet-21k names are about 400 KB).
    public static let maxBytes = 16 << 20

    public struct Labels: Equatable, Sendable {
        public var names: [String]
        /// How the file was read, for messages (`"CSV, header 'id,breed', names from column 'breed'"`).
        public var description: String
    }

    public static func read(_ path: String) throws -> Labels {
        guard let data = try BoundedRead.contents(of: path, limit: maxBytes, what: "labels file") else { throw FormatsError(.io, "cannot read the labels file", file: path) }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let lower = path.lowercased()
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if lower.hasSuffix(".json") || trimmed.hasPrefix("[") || trimmed.hasPrefix("{") {
            return try json(data, path: path)
        }
        let firstCode = trimmed.split(separator: "\n").first { !$0.hasPrefix("#") }.map { $0.replacingOccurrences(of: " ", with: "") } ?? ""
        if lower.hasSuffix(".pbtxt") || firstCode.hasPrefix("item{") || firstCode == "item" {
            return try labelMap(text, path: path)
        }
        if lower.hasSuffix(".csv") || lower.hasSuffix(".tsv") {
            return try csv(text, delimiter: lower.hasSuffix(".tsv") ? "\t" : ",", path: path)
        }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let names = Array(lines.reversed().drop { $0.isEmpty }.reversed())
        if let blank = names.firstIndex(of: "") {
            throw FormatsError(.manifestInvalid, "line \(blank + 1) is empty; a text label file has one class name per line", file: path)
        }
        return Labels(names: names, description: "text, one name per line")
    }

    // MARK: JSON

    static func json(_ data: Data, path: String) throws -> Labels {
        let value: JSONValue
        do { value = try JSONValue(parsing: data) } catch {
            throw FormatsError(.manifestInvalid, "is not valid JSON (\(error))", file: path)
        }
        if let list = value.array {
            let names = try list.enumerated().map { i, v -> String in
                guard let s = v.string else { throw FormatsError(.manifestInvalid, "entry \(i) is \(v) where a class name (a string) was expected", file: path) }
                return s
            }
            return Labels(names: names, description: "JSON list")
        }
        guard let map = value.object, !map.isEmpty else {
            throw FormatsError(.manifestInvalid, "expected a JSON list of names, an {\"index\": \"name\"} map or Keras class_indices {\"name\": index}", file: path)
        }
        if map.keys.allSatisfy({ Int($0) != nil }) {
            let pairs = try map.map { k, v -> (Int, String) in
                guard let s = v.string ?? v.object?["name"]?.string else {
                    throw FormatsError(.manifestInvalid, "the value of \"\(k)\" is \(v) where a class name was expected", file: path)
                }
                return (Int(k)!, s)
            }
            return Labels(names: try dense(pairs, path: path), description: "JSON index → name map")
        }
        if map.values.allSatisfy({ $0.int != nil }) {
            return Labels(names: try dense(map.map { ($0.value.int!, $0.key) }, path: path), description: "Keras class_indices (name → index)")
        }
        throw FormatsError(.manifestInvalid, "expected an {\"index\": \"name\"} map or Keras class_indices {\"name\": index}; keys and values are mixed", file: path)
    }

    /// Names ordered by index; the indices must be 0 … n−1 (or 1 … n, which is taken as 1-based).
    static func dense(_ pairs: [(Int, String)], path: String) throws -> [String] {
        let sorted = pairs.sorted { $0.0 < $1.0 }
        let indices = sorted.map(\.0)
        if indices == Array(0..<sorted.count) || indices == Array(1...sorted.count) { return sorted.map(\.1) }
        var seen = Set<Int>()
        if let dup = indices.first(where: { !seen.insert($0).inserted }) {
            throw FormatsError(.manifestInvalid, "class index \(dup) appears twice", file: path)
        }
        let missing = (0..<(indices.last ?? 0)).first { !seen.contains($0) } ?? 0
        throw FormatsError(.manifestInvalid, "class indices must run 0 … \(sorted.count - 1) without gaps; \(missing) is missing", file: path)
    }

    // MARK: CSV

    static let headerWords: Set<String> = [
        "", "id", "idx", "index", "class", "classes", "class_id", "class_index", "classid", "label", "labels", "label_id",
        "name", "names", "class_name", "classname", "label_name", "display_name", "breed", "breeds", "category", "categories",
        "species", "word", "words", "target", "unnamed: 0",
    ]
    static let nameColumns = ["display_name", "class_name", "label_name", "name", "label", "breed", "category", "species", "class", "word"]

    static func csv(_ text: String, delimiter: Character, path: String) throws -> Labels {
        var rows: [[String]] = []
        do {
            let parsed = try EnumeratedCSV(string: text, delimiter: delimiter == "\t" ? .tab : .comma, loadColumns: false)
            try parsed.enumerateAsArray(startAt: 0, rowLimit: nil) { rows.append($0.map { $0.trimmingCharacters(in: .whitespaces) }) }
        } catch {
            throw FormatsError(.manifestInvalid, "is not valid CSV (\(error))", file: path)
        }
        rows.removeAll { $0.allSatisfy(\.isEmpty) }
        guard let first = rows.first else { throw FormatsError(.manifestInvalid, "has no rows", file: path) }
        let width = first.count
        for (i, r) in rows.enumerated() where r.count != width {
            throw FormatsError(.manifestInvalid, "row \(i + 1) has \(r.count) columns; row 1 has \(width)", file: path)
        }
        let isInt = { (s: String) in Int(s) != nil }
        // A first row is a header when it names columns (id, label, name, …) or is not data: its cells are
        // numbers where the other rows hold text, or text where they hold numbers.
        let rest = rows.dropFirst()
        let pattern = { (r: [String]) in r.map(isInt) }
        let restPattern = rest.first.map(pattern)
        let restUniform = rest.allSatisfy { pattern($0) == restPattern }
        let looksLikeHeader = first.allSatisfy { headerWords.contains($0.lowercased()) && !isInt($0) }
        let differsFromData = restPattern != nil && restUniform && pattern(first) != restPattern
        let header: [String]? = (looksLikeHeader || differsFromData) ? first : nil
        let data = header == nil ? Array(rows) : Array(rest)
        guard !data.isEmpty else { throw FormatsError(.manifestInvalid, "has a header but no class rows", file: path) }

        // The name column: a recognised header name, else the last column. An index column: the first, when
        // every data row holds an integer there and there is more than one column.
        var nameColumn = width - 1
        if let header, let named = nameColumns.lazy.compactMap({ n in header.firstIndex { $0.lowercased() == n } }).first {
            nameColumn = named
        }
        let indexColumn: Int? = width > 1 && nameColumn != 0 && data.allSatisfy({ isInt($0[0]) }) ? 0 : nil
        var how = "CSV" + (header.map { ", header '\($0.joined(separator: ","))'" } ?? ", no header")
        if width > 1 { how += ", names from column \(nameColumn + 1)" }
        if let indexColumn {
            let pairs = data.map { (Int($0[indexColumn])!, $0[nameColumn]) }
            return Labels(names: try dense(pairs, path: path), description: how + ", ordered by column \(indexColumn + 1)")
        }
        return Labels(names: data.map { $0[nameColumn] }, description: how)
    }

    // MARK: label_map.pbtxt

    /// TensorFlow Object Detection's `StringIntLabelMap` text format: `item { id: 1 name: "…" display_name: "…" }`.
    /// Names are indexed by id; ids 1 … n (the usual form, 0 being background) are taken as 1-based.
    static func labelMap(_ text: String, path: String) throws -> Labels {
        var items: [(id: Int, name: String?, display: String?)] = []
        var scanner = PbtxtScanner(text)
        var current: (id: Int?, name: String?, display: String?)?
        while let token = try scanner.next(path: path) {
            switch token {
            case .word("item") where current == nil:
                guard try scanner.next(path: path) == .open else { throw FormatsError(.manifestInvalid, "expected '{' after 'item' on line \(scanner.line)", file: path) }
                current = (nil, nil, nil)
            case .close where current != nil:
                guard let id = current!.id else { throw FormatsError(.manifestInvalid, "an item before line \(scanner.line) has no id", file: path) }
                items.append((id, current!.name, current!.display))
                current = nil
            case .word(let field) where current != nil:
                guard try scanner.next(path: path) == .colon, let value = try scanner.next(path: path) else {
                    throw FormatsError(.manifestInvalid, "expected '\(field): value' on line \(scanner.line)", file: path)
                }
                switch (field, value) {
                case ("id", .word(let w)):
                    guard let id = Int(w), id >= 0, id < 1 << 20 else { throw FormatsError(.manifestInvalid, "id '\(w)' on line \(scanner.line) is not a class id", file: path) }
                    current!.id = id
                case ("name", .string(let s)): current!.name = s
                case ("display_name", .string(let s)): current!.display = s
                default: break  // other StringIntLabelMapItem fields (keypoints, frequency, …) do not name classes
                }
            default:
                throw FormatsError(.manifestInvalid, "unexpected \(token) on line \(scanner.line); expected 'item { id: N name: \"…\" }'", file: path)
            }
        }
        guard current == nil else { throw FormatsError(.manifestInvalid, "the last item is not closed with '}'", file: path) }
        guard !items.isEmpty else { throw FormatsError(.manifestInvalid, "has no 'item { … }' entries", file: path) }
        let pairs = try items.map { item -> (Int, String) in
            guard let n = item.display ?? item.name else { throw FormatsError(.manifestInvalid, "item \(item.id) has neither display_name nor name", file: path) }
            return (item.id, n)
        }
        let ids = pairs.map(\.0).sorted()
        var seen = Set<Int>()
        if let dup = ids.first(where: { !seen.insert($0).inserted }) { throw FormatsError(.manifestInvalid, "id \(dup) appears twice", file: path) }
        if ids == Array(1...ids.count) {
            return Labels(names: pairs.sorted { $0.0 < $1.0 }.map(\.1), description: "label map, ids 1 … \(ids.count) as classes 0 … \(ids.count - 1)")
        }
        // Ids with gaps (COCO's 90): a name per id, empty where the map has none.
        var names = Array(repeating: "", count: (ids.last ?? 0) + 1)
        for (id, n) in pairs { names[id] = n }
        return Labels(names: names, description: "label map indexed by id (\(ids.count) ids up to \(ids.last ?? 0))")
    }

    struct PbtxtScanner {
        enum Token: Equatable, CustomStringConvertible {
            case word(String), string(String), open, close, colon
            var description: String {
                switch self {
                case .word(let w): "'\(w)'"
                case .string(let s): "\"\(s)\""
                case .open: "'{'"
                case .close: "'}'"
                case .colon: "':'"
                }
            }
        }
        let chars: [Character]
        var i = 0
        var line = 1
        init(_ text: String) { chars = Array(text) }

        mutating func next(path: String) throws -> Token? {
            while i < chars.count {
                let c = chars[i]
                if c == "\n" { line += 1; i += 1; continue }
                if c.isWhitespace || c == "," || c == ";" { i += 1; continue }
                if c == "#" { while i < chars.count, chars[i] != "\n" { i += 1 }; continue }
                if c == "{" { i += 1; return .open }
                if c == "}" { i += 1; return .close }
                if c == ":" { i += 1; return .colon }
                if c == "\"" || c == "'" {
                    var s = ""
                    i += 1
                    while i < chars.count, chars[i] != c {
                        if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                        if chars[i] == "\n" { line += 1 }
                        s.append(chars[i]); i += 1
                    }
                    guard i < chars.count else { throw FormatsError(.manifestInvalid, "a string on line \(line) is not closed", file: path) }
                    i += 1
                    return .string(s)
                }
                var w = ""
                while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "-" || chars[i] == "." {
                    w.append(chars[i]); i += 1
                }
                guard !w.isEmpty else { throw FormatsError(.manifestInvalid, "unexpected character '\(c)' on line \(line)", file: path) }
                return .word(w)
            }
            return nil
        }
    }
}
