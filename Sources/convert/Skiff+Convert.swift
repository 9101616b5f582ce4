import ArgumentParser
import Engine
import Foundation
import Formats

extension Skiff {
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a trained model into a .skiff file.",
            subcommands: [H5.self, Keras.self])
    }
}

/// Options every `convert` source format shares.
struct ConvertOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output file (default: the input's name with .skiff, beside it).")
    var output: String?

    @Option(help: "Class labels for the first output: text (one per line), CSV with a header, or JSON (list or index → name map).")
    var labels: String?

    @Flag(help: "Keep the plain lowered graph: no BatchNormalization folding or activation fusion.")
    var noOptimize = false

    @Flag(help: "Store weights as float16 (half the size; values rounded to 11 significant bits).")
    var float16 = false

    @OptionGroup var global: GlobalOptions
}

extension Skiff.Convert {
    struct H5: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a Keras HDF5 model (Keras 2, tf.keras or Keras 3's .h5 writer).",
            discussion: "For a weights-only file (save_weights), pass it with --weights and the architecture (model.to_json()) with --config.")

        @Argument(help: "The .h5 model file.")
        var model: String?

        @Option(help: "A weights-only .h5 file (use with --config).")
        var weights: String?

        @Option(help: "The model's JSON architecture (use with --weights).")
        var config: String?

        @OptionGroup var options: ConvertOptions

        func validate() throws {
            if model == nil && (weights == nil || config == nil) {
                throw ValidationError("give a model file, or both --weights and --config")
            }
            if model != nil && (weights != nil || config != nil) {
                throw ValidationError("give either a model file or --weights with --config, not both")
            }
        }

        func run() throws {
            let source = model ?? weights!
            try Converter(options: options, source: source) {
                if let model { return try KerasReader.readH5(path: model) }
                return try KerasReader.readH5(weights: weights!, config: config!)
            }.run()
        }
    }

    struct Keras: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Convert a Keras 3 .keras archive.")

        @Argument(help: "The .keras file.")
        var model: String

        @OptionGroup var options: ConvertOptions

        func run() throws {
            try Converter(options: options, source: model) { try KerasReader.readArchive(path: model) }.run()
        }
    }
}

/// The shared convert pipeline: read → optimise → attach labels → write atomically → report.
struct Converter {
    let options: ConvertOptions
    let source: String
    let read: () throws -> KerasReader.Result

    struct Summary: Encodable {
        var output: String
        var sourceFormat: String
        var layers: Int
        var nodes: Int
        var parameters: Int
        var sourceBytes: Int
        var fileBytes: Int
        var rawTensorBytes: Int
        var storedTensorBytes: Int
        var optimizations: Optimizer.Report?
        var seconds: Double
    }

    func run() throws {
        let start = Date()
        let progress = Progress(enabled: !options.global.json)
        progress.step("reading \(source)")
        var result = try read()
        var report: Optimizer.Report?
        if !options.noOptimize {
            progress.step("optimising \(result.model.graph.nodes.count) nodes")
            report = Optimizer.optimize(&result.model)
        }
        var labels: [String: [String]]?
        if let path = options.labels {
            let names = try LabelsFile.read(path)
            guard let out = result.model.graph.outputs.first else { throw ValidationError("the model has no outputs to label") }
            if let classes = out.shape.last?.fixedValue, classes != names.count {
                throw FormatsError(.sizeMismatch, "has \(names.count) labels, but output '\(out.name)' has \(classes) classes", file: path)
            }
            labels = [out.name: names]
        }
        var provenance = result.provenance
        provenance.options = (provenance.options ?? [:]).merging(["optimize": options.noOptimize ? "false" : "true",
                                                                   "weights": options.float16 ? "float16" : "float32"]) { a, _ in a }
        let manifest = SkiffManifest(graph: result.model.graph, signatures: [.servingDefault(for: result.model.graph)],
                                     labels: labels, metadata: nil, provenance: provenance)
        // The graph must load in the engine before anything is written.
        progress.step("checking the graph")
        _ = try Model(graph: result.model.graph, weights: WeightStore(result.model.weights))
        var writer = SkiffWriter(manifest: manifest)
        try result.model.addTensors(to: &writer, storage: options.float16 ? .float16 : .float32)
        let output = options.output ?? (URL(fileURLWithPath: source).deletingPathExtension().path + ".skiff")
        progress.step("writing \(output)")
        let written = try writer.write(to: output)
        let summary = Summary(
            output: output, sourceFormat: provenance.sourceFormat, layers: result.layerCount, nodes: result.model.graph.nodes.count,
            parameters: result.model.weights.values.reduce(0) { $0 + $1.values.count },
            sourceBytes: (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? 0,
            fileBytes: written.fileLength, rawTensorBytes: written.rawTensorBytes, storedTensorBytes: written.storedTensorBytes,
            optimizations: report, seconds: (Date().timeIntervalSince(start) * 1000).rounded() / 1000)
        progress.done()
        if options.global.json { return try CLIOutput.printJSON(summary) }
        print("wrote \(output): \(summary.layers) layers → \(summary.nodes) nodes, \(summary.parameters) parameters, "
              + "\(CLIOutput.bytes(summary.fileBytes)) (source \(CLIOutput.bytes(summary.sourceBytes))) in \(String(format: "%.2f", summary.seconds)) s")
    }
}

/// Stage lines on stderr when it is a terminal; silent otherwise (scripts, CI, --json).
final class Progress {
    let enabled: Bool
    init(enabled: Bool) { self.enabled = enabled && isatty(2) != 0 }
    func step(_ s: String) { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K… \(s)".utf8)) } }
    func done() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

/// Class names from a text, CSV or JSON file.
enum LabelsFile {
    static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatsError(.io, "cannot read the labels file", file: path) }
        let text = String(decoding: data, as: UTF8.self)
        let lower = path.lowercased()
        if lower.hasSuffix(".json") {
            let json = try JSONValue(parsing: data)
            if let list = json.array { return list.map { $0.string ?? $0.description } }
            if let map = json.object {
                let pairs = try map.map { k, v -> (Int, String) in
                    guard let i = Int(k) else { throw FormatsError(.manifestInvalid, "label key '\(k)' is not a class index", file: path) }
                    return (i, v.string ?? v.description)
                }.sorted { $0.0 < $1.0 }
                guard pairs.map(\.0) == Array(0..<pairs.count) else {
                    throw FormatsError(.manifestInvalid, "label indices must be 0 … \(pairs.count - 1) without gaps", file: path)
                }
                return pairs.map(\.1)
            }
            throw FormatsError(.manifestInvalid, "expected a JSON list of names or an index → name map", file: path)
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if lower.hasSuffix(".csv") {
            // A header row, then one class per row; the name is the last column (an index column may precede it).
            return lines.dropFirst().map { line in
                let cols = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) }
                return cols.last ?? line
            }
        }
        return lines
    }
}
