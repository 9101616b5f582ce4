import ArgumentParser
import Foundation
import Formats
import Importers

extension Skiff {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Describe a .skiff file (signatures, labels, ops, parameters, storage, provenance) or a TensorFlow SavedModel directory.",
            discussion: "A .skiff file is fully validated first (checksums, sizes, graph), so a file inspect accepts is one the engine can load. For a SavedModel directory (or a TF Serving model folder with numbered versions) it lists tag sets, signatures, the op histogram over the graph and its functions, and the checkpoint's variables, each checked against its CRC-32C.")

        @Argument(help: "The .skiff file or SavedModel directory.")
        var file: String

        @Option(help: "For a TF Serving model folder: the version to inspect (default: the highest).")
        var version: Int?

        @Flag(help: "Print only the class labels: one 'INDEX<tab>NAME' line each (with --json, a list of names).")
        var labels = false

        @Option(name: .customLong("output"), help: "With --labels: the output whose labels to print (default: the only labelled one).")
        var labelledOutput: String?

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if labelledOutput != nil && !labels { throw ValidationError("--output chooses whose labels --labels prints; add --labels") }
        }

        func run() throws {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                if labels { throw ValidationError("--labels reads the labels of a .skiff file; a SavedModel has none (convert it with --labels FILE)") }
                let info = try SavedModelInfo(directory: file, version: version)
                let bundle = FileManager.default.fileExists(atPath: info.path + "/variables/variables.index") ? try TensorBundle(prefix: info.path + "/variables/variables") : nil
                for v in info.variables where v.dtype != "string" { _ = try bundle?.bytes(v.key) }  // every checksum
                if global.json { return try CLIOutput.printJSON(info) }
                func shape(_ t: SavedModelInfo.TensorSpec) -> String { t.displayShape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "[?]" }
                print("\(info.path): TensorFlow SavedModel\(info.tensorflowVersion.map { " (written by TensorFlow \($0))" } ?? "")")
                print("  tag sets: \(info.tags.map { "{" + $0.joined(separator: ", ") + "}" }.joined(separator: " "))")
                for s in info.signatures {
                    print("  signature '\(s.name)' (\(s.method))")
                    for t in s.inputs { print("    in  \(t.key): \(t.dtype)\(shape(t))  ← \(t.tensor)") }
                    for t in s.outputs { print("    out \(t.key): \(t.dtype)\(shape(t))  ← \(t.tensor)") }
                }
                let total = info.ops.values.reduce(0, +)
                print("  ops: \(total) nodes in the graph and \(info.functions) functions")
                for (op, n) in info.ops.sorted(by: { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }) { print("    \(String(n).leftPad(5)) \(op)") }
                print("  variables: \(info.variables.count), \(CLIOutput.bytes(info.variables.reduce(0) { $0 + $1.bytes })) (checksums ok)")
                for v in info.variables { print("    \(v.key)  \(v.dtype)\(v.shape)\(v.skipped.map { "  (skipped by convert: \($0))" } ?? "")") }
                return
            }
            let skiff = try SkiffFile(path: file)
            if labels { return try printLabels(skiff) }
            let report = InspectReport(skiff)
            if global.json { try CLIOutput.printJSON(report) } else { print(report.text, terminator: "") }
        }

        /// `--labels`: one output's class names, index by index.
        func printLabels(_ skiff: SkiffFile) throws {
            let all = skiff.manifest.labels ?? [:]
            let names: [String]
            if let labelledOutput {
                guard let n = all[labelledOutput] else {
                    throw FormatsError(.io, "has no labels for output '\(labelledOutput)' (labelled outputs: \(all.isEmpty ? "none" : all.keys.sorted().joined(separator: ", ")))", file: file)
                }
                names = n
            } else {
                guard let only = all.first else { throw FormatsError(.io, "has no labels (add them when converting: skiff convert … --labels FILE)", file: file) }
                guard all.count == 1 else {
                    throw FormatsError(.io, "has labels for several outputs (\(all.keys.sorted().joined(separator: ", "))); choose one with --output NAME", file: file)
                }
                names = only.value
            }
            if global.json { return try CLIOutput.printJSON(names) }
            print(names.enumerated().map { "\($0.offset)\t\($0.element)\n" }.joined(), terminator: "")
        }
    }
}

/// What `skiff inspect` shows, as text or JSON. Every JSON key is snake_case (the CodingKeys here and in the
/// manifest types it embeds); keys of maps (`ops`, `labels`, `metadata`, signature keys) are names from the model.
/// A symbolic outermost dimension is the batch and shows as `N`, whatever symbol the file records for it.
struct InspectReport: Encodable {
    struct TensorRow: Encodable {
        var name: String
        var dtype: String
        var shape: [Int]
        var encoding: String
        var rawBytes: Int
        var storedBytes: Int
        var ratio: Double
        enum CodingKeys: String, CodingKey { case name, dtype, shape, encoding, rawBytes = "raw_bytes", storedBytes = "stored_bytes", ratio }
    }
    struct SignatureRow: Encodable {
        var name: String
        var inputs: [String: ValueInfo]
        var outputs: [String: ValueInfo]
    }

    var file: String
    var formatVersion: String
    var fileBytes: Int
    var signatures: [SignatureRow]
    /// Graph output → class names (index = class id).
    var labels: [String: [String]]
    /// Graph output → number of classes named.
    var labelCounts: [String: Int]
    var nodes: Int
    var ops: [String: Int]
    var parameters: Int
    var rawTensorBytes: Int
    var storedTensorBytes: Int
    var tensors: [TensorRow]
    var metadata: [String: String]
    var provenance: Provenance
    var images: [ImageInput]
    var verification: [VerificationRecord]

    enum CodingKeys: String, CodingKey {
        case file, formatVersion = "format_version", fileBytes = "file_bytes", signatures, labels, labelCounts = "label_counts"
        case nodes, ops, parameters, rawTensorBytes = "raw_tensor_bytes", storedTensorBytes = "stored_tensor_bytes"
        case tensors, metadata, provenance, images, verification
    }

    /// The value as shown: a symbolic outermost dimension is the batch, `N` (a file may record a symbol a shape
    /// rule derived from a node name, e.g. `block_13_pad:0`).
    static func display(_ v: ValueInfo) -> ValueInfo {
        var v = v
        if case .symbol = v.shape.first { v.shape[0] = .batch }
        return v
    }

    init(_ f: SkiffFile) {
        let m = f.manifest
        file = f.path
        formatVersion = "\(f.header.majorVersion).\(f.header.minorVersion)"
        fileBytes = f.fileLength
        let values = Dictionary((m.graph.inputs + m.graph.outputs).map { ($0.name, Self.display($0)) }, uniquingKeysWith: { a, _ in a })
        signatures = m.signatures.map { s in
            SignatureRow(name: s.name,
                         inputs: Dictionary(s.inputs.compactMap { b in values[b.value].map { (b.key, $0) } }, uniquingKeysWith: { a, _ in a }),
                         outputs: Dictionary(s.outputs.compactMap { b in values[b.value].map { (b.key, $0) } }, uniquingKeysWith: { a, _ in a }))
        }
        labels = m.labels ?? [:]
        labelCounts = labels.mapValues(\.count)
        nodes = m.graph.nodes.count
        ops = Dictionary(m.graph.opHistogram.map { ($0.key.rawValue, $0.value) }, uniquingKeysWith: +)
        let constants = Set(m.graph.constants.map(\.name))
        parameters = f.tensors.filter { constants.contains($0.name) }.reduce(0) { $0 + $1.elementCount }
        rawTensorBytes = f.tensors.reduce(0) { $0 + $1.rawLength }
        storedTensorBytes = f.tensors.reduce(0) { $0 + $1.storedLength }
        tensors = f.tensors.map {
            TensorRow(name: $0.name, dtype: $0.dtype.name, shape: $0.shape, encoding: $0.encoding.description,
                      rawBytes: $0.rawLength, storedBytes: $0.storedLength, ratio: ($0.ratio * 1000).rounded() / 1000)
        }
        metadata = m.metadata ?? [:]
        provenance = m.provenance
        images = m.images ?? []
        verification = m.verification ?? []
    }

    var text: String {
        var out = "\(file): .skiff \(formatVersion), \(CLIOutput.bytes(fileBytes))\n"
        let p = provenance
        var from = "from \(p.sourceFormat)"
        if let s = p.sourceFile { from += " '\(s)'" }
        if let h = p.sourceSHA256 { from += " (sha256 \(h.prefix(12))…)" }
        if let fw = p.framework { from += ", \(fw)\(p.frameworkVersion.map { " " + $0 } ?? "")" }
        out += "provenance: \(from); converted by \(p.converter) \(p.converterVersion)\(p.created.map { " on " + $0 } ?? "")\n"
        if let o = p.options, !o.isEmpty {
            out += "options: " + o.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n"
        }
        out += "signatures:\n"
        for s in signatures {
            out += "  \(s.name)\n"
            for (k, v) in s.inputs.sorted(by: { $0.key < $1.key }) { out += "    in  \(k): \(v)\n" }
            for (k, v) in s.outputs.sorted(by: { $0.key < $1.key }) {
                let l = labelCounts[v.name].map { "  (\($0) labels)" } ?? ""
                out += "    out \(k): \(v)\(l)\n"
            }
        }
        if signatures.isEmpty { out += "  (none)\n" }
        for image in images { out += "image input: \(image.summary)\n" }
        out += "labels: " + (labels.isEmpty ? "none" : labels.sorted { $0.key < $1.key }.map { output, names in
            let shown = names.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (names.count > 5 ? ", …" : "")
            return "\(names.count) for '\(output)' (\(shown))"
        }.joined(separator: ", ")) + (labels.values.contains { $0.count > 5 } ? "; all: skiff inspect \(file) --labels" : "") + "\n"
        out += "ops: \(nodes) nodes — " + ops.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + "\n"
        let ratio = rawTensorBytes == 0 ? 1 : Double(storedTensorBytes) / Double(rawTensorBytes)
        out += "parameters: \(parameters) in \(tensors.count) tensors; raw \(CLIOutput.bytes(rawTensorBytes)), stored \(CLIOutput.bytes(storedTensorBytes)) (\(String(format: "%.3f", ratio)))\n"
        out += "tensors:\n"
        let w = max(4, tensors.map(\.name.count).max() ?? 0)
        out += "  " + "name".padding(toLength: w, withPad: " ", startingAt: 0) + "  dtype    shape                encoding      raw        stored     ratio\n"
        for t in tensors {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            out += "  " + t.name.padding(toLength: w, withPad: " ", startingAt: 0) + "  "
                + t.dtype.padding(toLength: 8, withPad: " ", startingAt: 0) + " "
                + shape.padding(toLength: 20, withPad: " ", startingAt: 0) + " "
                + t.encoding.padding(toLength: 13, withPad: " ", startingAt: 0) + " "
                + CLIOutput.bytes(t.rawBytes).padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                + CLIOutput.bytes(t.storedBytes).padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                + String(format: "%.3f", t.ratio) + "\n"
        }
        for r in verification {
            out += "verification (\(r.kind), \(r.date), skiff \(r.skiffVersion)): \(r.passed ? "passed" : "FAILED") with atol \(r.atol), rtol \(r.rtol), \(r.precision) weights; \(r.inputs)\n"
            for o in r.outputs {
                out += "  '\(o.name)': max abs \(VerifyReport.f(o.maxAbsError)), max rel \(VerifyReport.f(o.maxRelError)), cosine \(String(format: "%.6f", o.cosine))"
                    + (o.topKAgreement.map { String(format: ", top-1 agreement %.1f%%", $0 * 100) } ?? "") + "\n"
            }
        }
        if !metadata.isEmpty {
            out += "metadata:\n" + metadata.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)\n" }.joined()
        }
        return out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
