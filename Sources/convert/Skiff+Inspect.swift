import ArgumentParser
import Foundation
import Formats

extension Skiff {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Describe a .skiff file (signatures, labels, ops, parameters, storage, provenance) or a TensorFlow SavedModel directory.",
            discussion: "A .skiff file is fully validated first (checksums, sizes, graph), so a file inspect accepts is one the engine can load. For a SavedModel directory (or a TF Serving model folder with numbered versions) it lists tag sets, signatures, the op histogram over the graph and its functions, and the checkpoint's variables, each checked against its CRC-32C.")

        @Argument(help: "The .skiff file or SavedModel directory.")
        var file: String

        @Option(help: "For a TF Serving model folder: the version to inspect (default: the highest).")
        var version: Int?

        @OptionGroup var global: GlobalOptions

        func run() throws {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                let info = try SavedModelInfo(directory: file, version: version)
                let bundle = FileManager.default.fileExists(atPath: info.path + "/variables/variables.index") ? try TensorBundle(prefix: info.path + "/variables/variables") : nil
                for v in info.variables where v.dtype != "string" { _ = try bundle?.bytes(v.key) }  // every checksum
                if global.json { return try CLIOutput.printJSON(info) }
                print("\(info.path): TensorFlow SavedModel\(info.tensorflowVersion.map { " (written by TensorFlow \($0))" } ?? "")")
                print("  tag sets: \(info.tags.map { "{" + $0.joined(separator: ", ") + "}" }.joined(separator: " "))")
                for s in info.signatures {
                    print("  signature '\(s.name)' (\(s.method))")
                    for t in s.inputs { print("    in  \(t.key): \(t.dtype)\(t.shape.map { "\($0)" } ?? "[?]")  ← \(t.tensor)") }
                    for t in s.outputs { print("    out \(t.key): \(t.dtype)\(t.shape.map { "\($0)" } ?? "[?]")  ← \(t.tensor)") }
                }
                let total = info.ops.values.reduce(0, +)
                print("  ops: \(total) nodes in the graph and \(info.functions) functions")
                for (op, n) in info.ops.sorted(by: { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }) { print("    \(String(n).leftPad(5)) \(op)") }
                print("  variables: \(info.variables.count), \(CLIOutput.bytes(info.variables.reduce(0) { $0 + $1.bytes })) (checksums ok)")
                for v in info.variables { print("    \(v.key)  \(v.dtype)\(v.shape)\(v.skipped.map { "  (skipped by convert: \($0))" } ?? "")") }
                return
            }
            let skiff = try SkiffFile(path: file)
            let report = InspectReport(skiff)
            if global.json { try CLIOutput.printJSON(report) } else { print(report.text, terminator: "") }
        }
    }
}

/// What `skiff inspect` shows, as text or JSON.
struct InspectReport: Encodable {
    struct TensorRow: Encodable {
        var name: String
        var dtype: String
        var shape: [Int]
        var encoding: String
        var rawBytes: Int
        var storedBytes: Int
        var ratio: Double
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
    var labels: [String: Int]
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

    init(_ f: SkiffFile) {
        let m = f.manifest
        file = f.path
        formatVersion = "\(f.header.majorVersion).\(f.header.minorVersion)"
        fileBytes = f.fileLength
        let values = Dictionary((m.graph.inputs + m.graph.outputs).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        signatures = m.signatures.map { s in
            SignatureRow(name: s.name,
                         inputs: Dictionary(s.inputs.compactMap { b in values[b.value].map { (b.key, $0) } }, uniquingKeysWith: { a, _ in a }),
                         outputs: Dictionary(s.outputs.compactMap { b in values[b.value].map { (b.key, $0) } }, uniquingKeysWith: { a, _ in a }))
        }
        labels = (m.labels ?? [:]).mapValues(\.count)
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
                let l = labels[v.name].map { "  (\($0) labels)" } ?? ""
                out += "    out \(k): \(v)\(l)\n"
            }
        }
        if signatures.isEmpty { out += "  (none)\n" }
        for image in images { out += "image input: \(image.summary)\n" }
        out += "labels: " + (labels.isEmpty ? "none" : labels.sorted { $0.key < $1.key }.map { "\($0.value) for '\($0.key)'" }.joined(separator: ", ")) + "\n"
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
