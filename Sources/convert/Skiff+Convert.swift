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

    @Option(help: ArgumentHelp("Give the model an image input signature: 'auto' (size from the model's input) or WxH.", valueName: "auto|WxH"))
    var image: String?

    @Option(help: "Image normalisation: tf (x/127.5−1), caffe (BGR − ImageNet means), torch (ImageNet mean/std), unit (x/255), none (0–255), custom (--scale/--offset).")
    var preprocess: String = "none"

    @Option(help: "Per-channel scales for --preprocess custom (comma-separated, applied to 0–255 values).")
    var scale: String?

    @Option(help: "Per-channel offsets for --preprocess custom (comma-separated, added after scaling).")
    var offset: String?

    @Option(help: "Image resize method: bilinear (tf.image.resize default), nearest, area, antialias (bilinear with antialias=True).")
    var resize: String = "bilinear"

    @Option(help: ArgumentHelp("Crop before resizing: central:FRACTION (tf.image.central_crop) or shorter:SIDE (resize the shorter side, then centre-crop).", valueName: "central:F|shorter:N"))
    var crop: String?

    @Option(help: "JPEG inverse DCT: fast (TensorFlow's default) or accurate (PIL's).")
    var idct: String = "fast"

    @Flag(help: "Apply EXIF orientation to images (TensorFlow does not).")
    var exif = false

    @Option(help: "The graph input that takes images (default: the first input).")
    var imageInput: String?

    /// The image signature these options describe for `graph`, or nil without --image.
    func imageSignature(for graph: ModelGraph) throws -> ImageInput? {
        guard let image else { return nil }
        guard let input = imageInput.map({ n in graph.inputs.first { $0.name == n } }) ?? graph.inputs.first else {
            throw ValidationError("the model has no input named '\(imageInput ?? "")' (inputs: \(graph.inputs.map(\.name).joined(separator: ", ")))")
        }
        guard input.shape.count == 4 else {
            throw ValidationError("input '\(input.name)' has shape \(input.shape.map(\.description)); --image needs an NHWC image input")
        }
        guard let channels = input.shape[3].fixedValue, channels == 1 || channels == 3 else {
            throw ValidationError("input '\(input.name)' must have 1 or 3 channels for --image, it has \(input.shape[3])")
        }
        let modelSize = (input.shape[1].fixedValue, input.shape[2].fixedValue)
        let (height, width): (Int, Int)
        if image == "auto" {
            guard let h = modelSize.0, let w = modelSize.1 else {
                throw ValidationError("input '\(input.name)' has no fixed size (\(input.shape.map(\.description))); give one with --image WxH")
            }
            (height, width) = (h, w)
        } else {
            let parts = image.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--image must be 'auto' or WxH such as 224x224, not '\(image)'") }
            (width, height) = (parts[0], parts[1])
            if let h = modelSize.0, let w = modelSize.1, (h, w) != (height, width) {
                throw ValidationError("--image \(image) does not fit the model, whose input '\(input.name)' is \(w)x\(h); use --image auto")
            }
        }
        var normalization: ImageInput.Normalization
        if preprocess == "custom" {
            func list(_ s: String?, _ name: String) throws -> [Double] {
                let v = (s ?? "").split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard v.count == 1 || v.count == channels else { throw ValidationError("--preprocess custom needs --\(name) with 1 or \(channels) numbers") }
                return v.count == 1 ? Array(repeating: v[0], count: channels) : v
            }
            normalization = .init(preset: "custom", bgr: false, scale: try list(scale, "scale"), offset: try list(offset, "offset"))
        } else {
            guard let n = ImageInput.Normalization.preset(preprocess, channels: channels) else {
                throw ValidationError("--preprocess '\(preprocess)' is not one of \(ImageInput.Normalization.presets.joined(separator: ", ")), custom\(channels == 1 ? " (caffe and torch need 3 channels)" : "")")
            }
            normalization = n
        }
        var cropSpec: ImageInput.Crop?
        if let crop {
            let parts = crop.split(separator: ":", maxSplits: 1).map(String.init)
            switch (parts.first, parts.count == 2 ? parts[1] : nil) {
            case ("central", let v?): cropSpec = .init(centralFraction: Double(v))
            case ("shorter", let v?): cropSpec = .init(shorterSide: Int(v))
            default: throw ValidationError("--crop must be central:FRACTION or shorter:SIDE, not '\(crop)'")
            }
            if cropSpec?.centralFraction == nil && cropSpec?.shorterSide == nil { throw ValidationError("--crop '\(crop)' has no valid number") }
        }
        let spec = ImageInput(input: input.name, height: height, width: width, channels: channels, resize: resize, crop: cropSpec,
                              normalization: normalization, idct: idct, exifOrientation: exif)
        try spec.validate(against: graph)
        return spec
    }

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
        let images = try options.imageSignature(for: result.model.graph).map { [$0] }
        let manifest = SkiffManifest(graph: result.model.graph, signatures: [.servingDefault(for: result.model.graph)],
                                     labels: labels, metadata: nil, provenance: provenance, images: images)
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
