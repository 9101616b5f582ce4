import ArgumentParser
import Engine
import Foundation
import Formats
import Importers

extension Skiff {
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a trained model into a .skiff file.",
            subcommands: [H5.self, Keras.self, SavedModel.self])
    }
}

/// Options every `convert` source format shares.
struct ConvertOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output file (default: the input's name with .skiff, beside it).")
    var output: String?

    @Option(help: "Class labels for the first output: text (one per line), CSV (header and index column optional), JSON (a list, {\"index\": \"name\"} or Keras class_indices), or label_map.pbtxt.")
    var labels: String?

    @Flag(help: "Keep the plain lowered graph: no BatchNormalization folding or activation fusion.")
    var noOptimize = false

    @Option(help: "Weight storage: fp32 (lossless), fp16 (half size), int8 (per-channel conv/dense kernels; about a quarter). Computation stays float32.")
    var precision: WeightPrecision = .fp32

    @Option(name: .customLong("verify-with"), parsing: .upToNextOption,
            help: ArgumentHelp("Verify against reference outputs before writing: INPUT.npy EXPECTED.npy (NAME=FILE.npy for several).", valueName: "input.npy expected.npy"))
    var verifyWith: [String] = []

    @Option(name: .customLong("verify-images"), parsing: .upToNextOption,
            help: ArgumentHelp("Verify through the image signature: IMAGES_OR_DIR… EXPECTED.npy (images in sorted name order).", valueName: "images… expected.npy"))
    var verifyImages: [String] = []

    @Option(help: "Verification tolerance: absolute (default: 1e-5 fp32, 5e-3 fp16, 5e-2 int8).")
    var atol: Float?

    @Option(help: "Verification tolerance: relative (default: 1e-4 fp32, 5e-2 fp16, 0.25 int8).")
    var rtol: Float?

    @Flag(help: "Write the file even when --verify-with/--verify-images fails (the failure is recorded in it).")
    var force = false

    @Option(help: ArgumentHelp("Give the model an image input signature: 'auto' (size from the model's input) or WxH.", valueName: "auto|WxH"))
    var image: String?

    @Option(help: "Image normalisation: tf (x/127.5−1), caffe (BGR − ImageNet means), torch (ImageNet mean/std), unit (x/255), none (0–255, the default), custom (--scale/--offset). Implies --image auto.")
    var preprocess: String?

    @Option(help: "Per-channel scales for --preprocess custom (comma-separated, applied to 0–255 values).")
    var scale: String?

    @Option(help: "Per-channel offsets for --preprocess custom (comma-separated, added after scaling).")
    var offset: String?

    @Option(help: "Image resize method: bilinear (tf.image.resize default), nearest, area, antialias (bilinear with antialias=True).")
    var resize: String = "bilinear"

    @Option(name: .customLong("calibrate"), parsing: .upToNextOption,
            help: ArgumentHelp("Photos (files or directories of .jpg/.jpeg/.png; the first 16 by name) the fp16/int8 check runs on through the image signature; int8 kernels that change their answers are kept at float16 (default for models with an image signature: Skiff's built-in photos).", valueName: "photos…"))
    var calibrate: [String] = []

    @Option(name: .customLong("self-check"), help: ArgumentHelp("Random inputs the converted model is checked on before writing (default: 4, or 2 for models over 10 M parameters; 0 skips the check).", valueName: "N"))
    var selfCheck: Int?

    @Option(help: ArgumentHelp("Crop before resizing: central:FRACTION (tf.image.central_crop) or shorter:SIDE (resize the shorter side, then centre-crop).", valueName: "central:F|shorter:N"))
    var crop: String?

    @Option(help: "JPEG inverse DCT: fast (TensorFlow's default) or accurate (PIL's).")
    var idct: String = "fast"

    @Flag(help: "Apply EXIF orientation to images (TensorFlow does not).")
    var exif = false

    @Option(help: "The graph input that takes images (default: the first input).")
    var imageInput: String?

    /// Options that only mean something for an image signature, as the user typed them.
    var imageOptionsGiven: [String] {
        [preprocess.map { "--preprocess \($0)" }, crop.map { "--crop \($0)" }, scale.map { _ in "--scale" }, offset.map { _ in "--offset" },
         imageInput.map { "--image-input \($0)" }].compactMap { $0 }
    }

    /// The image signature for `graph`: from --image, or implied by --preprocess/--crop (said on stderr), and
    /// reconciled with one the source model already defines (a SavedModel's JPEG signature keeps its own
    /// preprocessing; options that contradict it are refused).
    func imageSignature(for graph: ModelGraph, existing: ImageInput?, note: (String) -> Void) throws -> ImageInput? {
        if let existing {
            guard image != nil || !imageOptionsGiven.isEmpty else { return existing }
            if let preprocess {
                let wanted = preprocess == "custom" ? nil : ImageInput.Normalization.preset(preprocess, channels: existing.channels)
                let same = wanted.map { $0.bgr == existing.normalization.bgr && zip($0.scale, existing.normalization.scale).allSatisfy { abs($0 - $1) < 1e-9 }
                    && zip($0.offset, existing.normalization.offset).allSatisfy { abs($0 - $1) < 1e-9 } } ?? false
                if !same {
                    throw ValidationError("--preprocess \(preprocess) conflicts with the model's own image signature, which already normalises with '\(existing.normalization.preset)' (\(existing.summary)); drop --preprocess to keep it")
                }
            }
            if let image, image != "auto", image.lowercased() != "\(existing.width)x\(existing.height)" {
                throw ValidationError("--image \(image) conflicts with the model's own image signature, which resizes to \(existing.width)x\(existing.height); drop --image to keep it")
            }
            if let crop { throw ValidationError("--crop \(crop) conflicts with the model's own image signature (\(existing.summary)); drop --crop to keep it") }
            return existing
        }
        var image = self.image
        if image == nil {
            guard !imageOptionsGiven.isEmpty else { return nil }
            image = "auto"
            note("\(imageOptionsGiven.joined(separator: " ")) implies --image auto: the model gets an image input signature")
        }
        guard let image else { return nil }
        let preprocess = self.preprocess ?? "none"
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
                if ImageInput.Normalization.presets.contains(preprocess) {
                    throw ValidationError("--preprocess \(preprocess) needs a 3-channel (RGB) input, but input '\(input.name)' has \(channels) channel; use tf, unit, none or custom")
                }
                throw ValidationError("--preprocess '\(preprocess)' is not one of \(ImageInput.Normalization.presets.joined(separator: ", ")), custom")
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
            if let model { try SourceKind.expect(.hdf5, at: model) }
            let source = model ?? weights!
            let (model, weights, config) = (model, weights, config)
            try Converter(options: options, source: source) {
                try IsolatedH5.read(model: model, weights: weights, config: config)  // libhdf5 runs in a child process
            }.run()
        }
    }

    struct Keras: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Convert a Keras 3 .keras archive.")

        @Argument(help: "The .keras file.")
        var model: String

        @OptionGroup var options: ConvertOptions

        func run() throws {
            try SourceKind.expect(.kerasArchive, at: model)
            let model = model
            try Converter(options: options, source: model) {
                try IsolatedH5.read(model: nil, weights: nil, config: nil, keras: model)  // libhdf5 runs in a child process
            }.run()
        }
    }
}

extension Skiff.Convert {
    struct SavedModel: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "savedmodel",
            abstract: "Convert a TensorFlow SavedModel directory (or a TF Serving model folder with numbered versions).",
            discussion: "The signature's function is inlined through nested calls, variables are bound through the object graph, constant subgraphs are folded. A signature taking encoded images (DecodeJpeg, optional DecodeBase64, resize and normalisation, usually in a tf.map_fn loop) becomes the model's image input. Ops Skiff cannot convert are listed, with counts and an example node, before anything is written.")

        @Argument(help: "The SavedModel directory.")
        var directory: String

        @Option(help: "The signature to convert.")
        var signature = "serving_default"

        @Option(help: ArgumentHelp("The MetaGraph's tag set, comma-separated (default: the only MetaGraph, or the one tagged serve).", valueName: "tags"))
        var tag: String?

        @Option(help: "For a TF Serving model folder: the version (default: the highest).")
        var version: Int?

        @OptionGroup var options: ConvertOptions

        func run() throws {
            var opts = options
            if opts.output == nil { opts.output = URL(fileURLWithPath: directory).standardizedFileURL.path + ".skiff" }
            let (dir, sig, v) = (directory, signature, version)
            let tags = tag.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            try Converter(options: opts, source: directory) { try SavedModelReader.read(directory: dir, signature: sig, tags: tags, version: v) }.run()
        }
    }
}

/// The shared convert pipeline: read → optimise → attach labels → write atomically → report.
struct Converter {
    let options: ConvertOptions
    let source: String
    let read: () throws -> KerasReader.Result
    /// Print nothing (a caller such as `package lambda` reports instead).
    var quiet = false

    struct Summary: Encodable {
        var output: String
        var sourceFormat: String
        var precision: String
        var layers: Int
        var nodes: Int
        var parameters: Int
        var sourceBytes: Int
        var fileBytes: Int
        var rawFloat32WeightBytes: Int
        var storedTensorBytes: Int
        var optimizations: Optimizer.Report?
        var verification: [VerificationRecord]
        var keptFloat16: [String]
        var seconds: Double
    }

    /// A file's size, or for a directory (a SavedModel) the total of the files in it.
    static func bytes(at path: String) -> Int {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        guard isDirectory.boolValue else { return (try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        return (fm.subpaths(atPath: path) ?? []).reduce(0) { sum, sub in
            let attrs = try? fm.attributesOfItem(atPath: path + "/" + sub)
            return sum + (attrs?[.type] as? FileAttributeType == .typeRegular ? (attrs?[.size] as? Int ?? 0) : 0)
        }
    }

    @discardableResult
    func run() throws -> Summary {
        SignalCleanup.install()
        let start = Date()
        let progress = Progress(enabled: !quiet, json: options.global.json)
        progress.step("read", "\(source) → graph IR")
        let result = try read()
        let source = result.model
        var model = source
        var report: Optimizer.Report?
        if !options.noOptimize {
            progress.step("optimise", "\(model.graph.nodes.count) nodes")
            report = Optimizer.optimize(&model)
        }
        var labels: [String: [String]]?
        if let path = options.labels {
            let read = try LabelsFile.read(path)
            guard let out = model.graph.outputs.first else { throw ValidationError("the model has no outputs to label") }
            if let classes = out.shape.last?.fixedValue, classes != read.names.count {
                throw FormatsError(.sizeMismatch, "has \(read.names.count) labels (read as \(read.description)), but the model's output '\(out.name)' has \(classes) classes", file: path)
            }
            labels = [out.name: read.names]
        }
        let images = try options.imageSignature(for: model.graph, existing: result.image) { progress.note($0) }

        // Storage precision, then the self-check: the model as it will be stored against the plain
        // float32 graph on deterministic inputs. For int8, first/last kernels stay float32 if they drift.
        var plan = PrecisionPlan.make(model, options.precision)
        let tolerance = Tolerance(precision: options.precision, atol: options.atol, rtol: options.rtol)
        var records: [VerificationRecord] = []
        let parameters = model.weights.values.reduce(0) { $0 + $1.values.count }
        let samples = options.selfCheck ?? SelfCheck.defaultBatch(parameters: parameters)
        // Narrowed weights on a model that takes images are checked on photos (--calibrate, else built-in ones).
        var photos: CalibrationPhotos?
        if !options.calibrate.isEmpty {
            guard images != nil else { throw ValidationError("--calibrate needs an image signature (--image or --preprocess) to feed the photos through") }
            photos = try CalibrationPhotos.load(options.calibrate)
        } else if images != nil, options.precision != .fp32 {
            photos = .builtInSet
        }
        progress.step("self-check", samples == 0 ? "skipped (--self-check 0): loading only"
                      : photos.map { "\($0.images.count * 2) photo inputs against the float32 graph" } ?? "\(samples) inputs against the reference kernels")
        if samples > 0, let check = try SelfCheck(source: source, images: images, batch: samples, photos: photos) {
            var record = try check.run(model, plan, tolerance)
            if options.precision == .int8, !record.acceptable {
                progress.note("int8: \(record.summary); finding the kernels that cause it")
                record = try check.keepSensitiveKernels(model, &plan, tolerance) { progress.note($0) }
            }
            records.append(record.record)
        } else {
            _ = try Model(graph: model.graph, weights: WeightStore(plan.storedWeights(model)))
        }

        // Verification against reference outputs.
        var failed: VerificationRecord?
        if !options.verifyWith.isEmpty || !options.verifyImages.isEmpty {
            progress.step("verify", "against reference outputs")
            let engine = try Model(graph: model.graph, weights: WeightStore(plan.storedWeights(model)))
            let reference = try ReferenceData(inputs: options.verifyWith, images: options.verifyImages, graph: model.graph, image: images)
            let outputs = try reference.compare(engine, atol: tolerance.atol, rtol: tolerance.rtol, topK: 1)
            let record = VerificationRecord(kind: "reference", passed: outputs.allSatisfy(\.passed), atol: tolerance.atol, rtol: tolerance.rtol,
                                            inputs: reference.inputDigest, precision: options.precision.rawValue, outputs: outputs)
            records.append(record)
            if !record.passed { failed = record }
        }

        var provenance = result.provenance
        provenance.options = (provenance.options ?? [:]).merging(["optimize": options.noOptimize ? "false" : "true",
                                                                   "precision": options.precision.rawValue]) { a, _ in a }
        if !plan.kept.isEmpty { provenance.options?["int8_kept_float16"] = plan.kept.joined(separator: ",") }
        var manifest = SkiffManifest(graph: model.graph, signatures: [.servingDefault(for: model.graph)],
                                     labels: labels, metadata: nil, provenance: provenance, images: images.map { [$0] })
        manifest.verification = records.isEmpty ? nil : records
        let output = options.output ?? (URL(fileURLWithPath: self.source).deletingPathExtension().path + ".skiff")
        if let failed, !options.force {
            progress.done()
            try VerifyReport(model: output, records: [failed]).printText(to: .standardError)
            CLIOutput.error("verification failed: nothing written (use --force to write anyway)")
            throw ExitCode.checkFailed
        }
        var writer = SkiffWriter(manifest: manifest)
        try model.addTensors(to: &writer, plan: plan)
        progress.step("write", output)
        let written = try writer.write(to: output)
        let rawFloat32 = model.weights.values.reduce(0) { $0 + $1.values.count * 4 }
        let summary = Summary(
            output: output, sourceFormat: provenance.sourceFormat, precision: options.precision.rawValue, layers: result.layerCount,
            nodes: model.graph.nodes.count, parameters: parameters,
            sourceBytes: Self.bytes(at: self.source),
            fileBytes: written.fileLength, rawFloat32WeightBytes: rawFloat32, storedTensorBytes: written.storedTensorBytes,
            optimizations: report, verification: records, keptFloat16: plan.kept,
            seconds: (Date().timeIntervalSince(start) * 1000).rounded() / 1000)
        progress.done()
        if quiet { return summary }
        if options.global.json { try CLIOutput.printJSON(summary); return summary }
        print("wrote \(output): \(summary.layers) layers → \(summary.nodes) nodes, \(summary.parameters) parameters, \(options.precision.rawValue) weights")
        print("  size: \(CLIOutput.bytes(summary.fileBytes)) = \(String(format: "%.2f", Double(summary.fileBytes) / Double(max(summary.sourceBytes, 1))))× the source, "
              + "weights \(String(format: "%.3f", Double(summary.storedTensorBytes) / Double(max(rawFloat32, 1))))× raw float32")
        for r in records {
            let worst = r.outputs.map { "'\($0.name)' max abs \(String(format: "%.2e", $0.maxAbsError))\($0.topKAgreement.map { String(format: ", top-1 %.0f%%", $0 * 100) } ?? "")" }
            print("  \(r.kind): \(r.passed ? "ok" : "FAILED") (atol \(r.atol), rtol \(r.rtol)) — \(worst.joined(separator: "; "))")
        }
        if !plan.kept.isEmpty { print("  int8: \(plan.kept.count) kernel(s) kept at float16 after measuring their drift: \(plan.kept.joined(separator: ", "))") }
        print("  in \(String(format: "%.2f", summary.seconds)) s")
        return summary
    }
}

/// Phase lines on stderr with the time each took — in every mode, so logs and CI show where a long
/// conversion is (stdout stays the result, JSON with --json). On a terminal the running phase shows its
/// elapsed time in place.
final class Progress {
    let enabled: Bool
    let terminal: Bool
    private var phase: (name: String, detail: String, start: Date)?
    private var ticker: DispatchSourceTimer?
    private let lock = NSLock()

    init(enabled: Bool, json: Bool = false) {
        self.enabled = enabled
        self.terminal = enabled && isatty(2) != 0 && !json
    }

    func step(_ name: String, _ detail: String) {
        finish()
        guard enabled else { return }
        lock.withLock { phase = (name, detail, Date()) }
        if terminal {
            write("\u{1B}[K… \(name) \(detail)\r")
            let t = DispatchSource.makeTimerSource(queue: .global())
            t.schedule(deadline: .now() + 1, repeating: 1)
            t.setEventHandler { [weak self] in
                guard let self, let p = self.lock.withLock({ self.phase }) else { return }
                self.write("\u{1B}[K… \(p.name) \(p.detail) (\(Int(Date().timeIntervalSince(p.start))) s)\r")
            }
            t.resume()
            ticker = t
        }
    }

    /// A remark between phases (e.g. an option implied by another).
    func note(_ text: String) {
        guard enabled else { return }
        write((terminal ? "\u{1B}[K" : "") + "skiff: note: \(text)\n")
    }

    /// Ends the running phase with its time.
    private func finish() {
        ticker?.cancel()
        ticker = nil
        guard let p = lock.withLock({ () -> (name: String, detail: String, start: Date)? in defer { phase = nil }; return phase }) else { return }
        let seconds = Date().timeIntervalSince(p.start)
        write((terminal ? "\u{1B}[K" : "") + "\(p.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(String(format: "%6.2f s", seconds))  \(p.detail)\n")
    }

    func done() { finish() }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// What a model path holds, from its first bytes, so that the wrong `convert` subcommand says which one to use
/// instead of failing deep inside a reader.
enum SourceKind: String {
    case hdf5 = "an HDF5 (.h5) file", kerasArchive = "a Keras 3 .keras (zip) archive", savedModel = "a SavedModel directory", other

    static func of(_ path: String) -> SourceKind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .other }
        if isDirectory.boolValue { return .savedModel }
        guard let h = FileHandle(forReadingAtPath: path) else { return .other }
        defer { try? h.close() }
        let head = [UInt8]((try? h.read(upToCount: 8)) ?? Data())
        if head == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] { return .hdf5 }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return .kerasArchive }
        return .other
    }

    var command: String {
        switch self {
        case .hdf5: "skiff convert h5"
        case .kerasArchive: "skiff convert keras"
        case .savedModel: "skiff convert savedmodel"
        case .other: ""
        }
    }

    /// Throws when `path` is clearly another kind of model than `kind` (unknown content is left to the reader).
    static func expect(_ kind: SourceKind, at path: String) throws {
        let found = of(path)
        guard found != .other, found != kind else { return }
        throw FormatsError(.badMagic, "this is \(found.rawValue), not \(kind.rawValue): use `\(found.command) \(path)`", file: path)
    }
}
