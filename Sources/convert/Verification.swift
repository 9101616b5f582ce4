import ArgumentParser
import Engine
import Foundation
import Formats
import Importers

extension WeightPrecision: ExpressibleByArgument {}

/// Default tolerances per storage precision (float32 computation throughout).
struct Tolerance {
    var atol: Float
    var rtol: Float

    init(precision: WeightPrecision, atol: Float?, rtol: Float?) {
        let (a, r): (Float, Float) = switch precision {
        case .fp32: (1e-5, 1e-4)
        case .fp16: (5e-3, 5e-2)
        case .int8: (5e-2, 0.25)
        }
        self.atol = atol ?? a
        self.rtol = rtol ?? r
    }
}

/// The converter's check of itself: the model as stored (optimised, narrowed) against the plain
/// float32 source graph on deterministic inputs.
struct SelfCheck {
    /// Samples checked by default: 4, or 2 for models over 10 M parameters (the reference kernels are the
    /// slow, plain definition; ResNet50's check took most of a 60 s conversion at 8).
    static func defaultBatch(parameters: Int) -> Int { parameters > 10_000_000 ? 2 : 4 }
    let batch: Int
    let source: LoweredModel
    let reference: [String: Tensor]
    let feeds: [String: Tensor]
    let description: String

    /// nil when an input has symbolic non-batch dimensions (no deterministic input can be made), or the graph
    /// has typed values or control flow (format 2.0: random inputs mean nothing to indices, counts and
    /// thresholds; check those models with --verify-with TensorFlow's outputs). With `photos` (and an image
    /// signature), the image input gets the photos and their mirror images instead of random pixels, and the
    /// reference is the float32 graph on the fast kernels (the reference kernels are too slow for many photos).
    init?(source: LoweredModel, images: ImageInput?, batch: Int, photos: CalibrationPhotos? = nil) throws {
        guard !source.graph.needsVersion2 else { return nil }
        let photoFeed = try images.flatMap { image in try photos.map { try $0.batch(image) } }
        let batch = photoFeed?.shape[0] ?? batch
        self.batch = batch
        var rng = UInt64(0x5EED)
        func next() -> Float {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(rng >> 40) / Float(1 << 24)
        }
        var feeds: [String: Tensor] = [:]
        for input in source.graph.inputs {
            let dims = input.shape.dropFirst().compactMap(\.fixedValue)
            guard dims.count == input.shape.count - 1 else { return nil }
            let shape = [batch] + dims
            let count = shape.reduce(1, *)
            if let image = images, image.input == input.name {
                if let photoFeed {
                    guard photoFeed.shape == shape else { return nil }
                    feeds[input.name] = photoFeed
                    continue
                }
                // Pixels 0…255 through the signature's normalisation.
                let n = image.normalization
                let c = image.channels
                feeds[input.name] = Tensor(shape: shape, values: (0..<count).map { i in (next() * 255) * Float(n.scale[i % c]) + Float(n.offset[i % c]) })
            } else {
                feeds[input.name] = Tensor(shape: shape, values: (0..<count).map { _ in next() * 2 - 1 })
            }
        }
        self.source = source
        self.feeds = feeds
        reference = try Model(graph: source.graph, weights: WeightStore(source.weights), kernels: photoFeed == nil ? .reference : .fast).run(feeds)
        if let photos, photoFeed != nil {
            description = "self-check: \(photos.description)"
        } else {
            description = "self-check: \(batch) deterministic inputs (seed 0x5EED)\(images != nil ? " through the image normalisation" : " in [-1, 1)")"
        }
    }

    struct Outcome {
        var record: VerificationRecord
        /// Whether the drift is small enough to keep this precision plan (top-1 ≥ 99%, cosine ≥ 0.999).
        var acceptable: Bool

        /// One line: top-1 agreement (classifier outputs), cosine and largest difference of each output.
        var summary: String {
            record.outputs.map { o in
                (o.topKAgreement.map { String(format: "top-1 agreement %.1f%%, ", $0 * 100) } ?? "")
                    + String(format: "cosine %.5f, max abs drift %.3g", o.cosine, o.maxAbsError) + " on '\(o.name)'"
            }.joined(separator: "; ")
        }
    }

    func run(_ model: LoweredModel, _ plan: PrecisionPlan, _ tolerance: Tolerance) throws -> Outcome {
        let engine = try Model(graph: model.graph, weights: WeightStore(plan.storedWeights(model)))
        let results = try engine.run(feeds)
        let outputs = zip(source.graph.outputs, model.graph.outputs).map { s, m in
            OutputComparison.compare(name: m.name, actual: results[m.name]!.values, shape: results[m.name]!.shape,
                                     expected: reference[s.name]!.values, expectedShape: reference[s.name]!.shape,
                                     atol: tolerance.atol, rtol: tolerance.rtol)
        }
        let record = VerificationRecord(kind: "self-check", passed: outputs.allSatisfy(\.passed), atol: tolerance.atol, rtol: tolerance.rtol,
                                        inputs: description, precision: plan.precision.rawValue, outputs: outputs)
        let acceptable = outputs.allSatisfy { ($0.topKAgreement ?? 1) >= 0.99 && $0.cosine >= 0.999 }
        return Outcome(record: record, acceptable: acceptable)
    }
}

/// Inputs and expected outputs given on the command line: `.npy` tensors (one per input/output, or
/// NAME=FILE.npy), or images through the model's image signature with one expected `.npy`.
struct ReferenceData {
    var feeds: [String: Tensor] = [:]
    var expected: [String: NpyArray] = [:]
    var inputDigest = ""

    /// `pairs`: [input.npy, expected.npy] or NAME=… entries for several; `images`: files/dirs…, expected.npy.
    init(inputs pairs: [String], images: [String], graph: ModelGraph, image: ImageInput?) throws {
        if !images.isEmpty {
            guard images.count >= 2 else { throw ValidationError("--images / --verify-images need images (or a directory) and then the expected .npy") }
            try self.init(inputs: [], expected: [images.last!], images: Array(images.dropLast()), graph: graph, image: image)
        } else {
            guard pairs.count == 2 else { throw ValidationError("--verify-with takes two files: INPUT.npy EXPECTED.npy") }
            try self.init(inputs: [pairs[0]], expected: [pairs[1]], images: [], graph: graph, image: image)
        }
    }

    init(inputs: [String], expected: [String], images: [String], graph: ModelGraph, image: ImageInput?) throws {
        var digestBytes: [UInt8] = []
        if !images.isEmpty {
            guard let image else { throw ValidationError("the model has no image signature; convert it with --image to verify with images") }
            let files = try ImageFiles.collect(images)
            let bytes = files.map(\.bytes)
            digestBytes = bytes.flatMap { $0 }
            do {
                feeds[image.input] = try ImagePipeline(image).batch(bytes)
            } catch let e as EngineError { throw EngineError("verification images: \(e.message)") }
            inputDigest = "sha256:\(Digest.sha256Hex(digestBytes)) (\(files.count) images: \(files.map(\.name).joined(separator: ", ")))"
        } else {
            for spec in inputs {
                let (name, path) = try Self.split(spec, names: graph.inputs.map(\.name), what: "input")
                guard let d = FileManager.default.contents(atPath: path) else { throw FormatsError(.io, "cannot read the file", file: path) }
                digestBytes += Array(d)
                feeds[name] = Tensor(try NpyArray(bytes: Array(d), name: path))
            }
            inputDigest = "sha256:\(Digest.sha256Hex(digestBytes))"
        }
        for spec in expected {
            let (name, path) = try Self.split(spec, names: graph.outputs.map(\.name), what: "output")
            self.expected[name] = try NpyArray(path: path)
        }
        for input in graph.inputs where feeds[input.name] == nil {
            throw ValidationError("no input given for '\(input.name)' (name each with --input NAME=FILE.npy)")
        }
    }

    /// NAME=FILE, or FILE alone when there is exactly one candidate name.
    static func split(_ spec: String, names: [String], what: String) throws -> (String, String) {
        if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
            let name = String(spec[..<eq])
            guard names.contains(name) else {
                throw ValidationError("the model has no \(what) '\(name)' (its \(what)s: \(names.joined(separator: ", ")))")
            }
            return (name, String(spec[spec.index(after: eq)...]))
        }
        guard names.count == 1 else {
            throw ValidationError("the model has \(names.count) \(what)s (\(names.joined(separator: ", "))); name each: NAME=FILE.npy")
        }
        return (names[0], spec)
    }

    func compare(_ engine: Model, atol: Float, rtol: Float, topK: Int) throws -> [OutputComparison] {
        let results = try engine.run(feeds)
        return engine.graph.outputs.compactMap { o -> OutputComparison? in
            guard let e = expected[o.name] else { return nil }
            let a = results[o.name]!
            return OutputComparison.compare(name: o.name, actual: a.values, shape: a.shape, expected: e.floats, expectedShape: e.shape,
                                            atol: atol, rtol: rtol, topK: topK)
        }
    }
}

/// Renders verification results as a terminal table, JSON, JUnit XML or Markdown.
struct VerifyReport: Encodable {
    var model: String
    var records: [VerificationRecord]

    var passed: Bool { records.allSatisfy(\.passed) }

    static func f(_ v: Float) -> String { v.isFinite ? String(format: "%.3g", v) : "\(v)" }

    func line(_ o: OutputComparison) -> String {
        var s = "\(o.passed ? "PASS" : "FAIL")  '\(o.name)' \(o.shape)"
        if o.shape != o.expectedShape { return s + "  shape differs: expected \(o.expectedShape)" }
        s += "  max abs \(Self.f(o.maxAbsError))  max rel \(Self.f(o.maxRelError))  mean abs \(Self.f(o.meanAbsError))  cosine \(String(format: "%.6f", o.cosine))"
        if let t = o.topKAgreement { s += "  top-\(o.topK ?? 1) agreement \(String(format: "%.1f%%", t * 100))" }
        if !o.passed, let w = o.worst {
            s += "\n      \(o.mismatches) element(s) outside tolerance; worst at \(w.index): expected \(w.expected), got \(w.actual)"
        }
        return s
    }

    func printText(to handle: FileHandle = .standardOutput) throws {
        var out = ""
        for r in records {
            out += "\(model): \(r.kind) with atol \(r.atol), rtol \(r.rtol) (\(r.precision) weights) — \(r.passed ? "passed" : "FAILED")\n"
            for o in r.outputs { out += "  " + line(o) + "\n" }
        }
        handle.write(Data(out.utf8))
    }

    static func xml(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&apos;")
    }

    /// JUnit XML: one test case per output, a <failure> naming the worst element.
    var junit: String {
        let cases = records.flatMap { r in r.outputs.map { (r, $0) } }
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuites name=\"skiff verify\" tests=\"\(cases.count)\" failures=\"\(cases.filter { !$0.1.passed }.count)\">\n"
        x += "  <testsuite name=\"\(Self.xml(model))\" tests=\"\(cases.count)\" failures=\"\(cases.filter { !$0.1.passed }.count)\" errors=\"0\">\n"
        for (r, o) in cases {
            x += "    <testcase classname=\"\(Self.xml(model))\" name=\"\(Self.xml("\(r.kind): output '\(o.name)'"))\">\n"
            if !o.passed {
                x += "      <failure message=\"\(Self.xml(line(o).components(separatedBy: "\n").last!.trimmingCharacters(in: .whitespaces)))\">\(Self.xml(line(o)))</failure>\n"
            }
            x += "      <system-out>\(Self.xml(line(o)))</system-out>\n    </testcase>\n"
        }
        return x + "  </testsuite>\n</testsuites>\n"
    }

    var markdown: String {
        var m = "### Skiff verification: `\(model)` — \(passed ? "✅ passed" : "❌ failed")\n\n"
        for r in records {
            m += "\(r.kind), atol \(r.atol), rtol \(r.rtol), \(r.precision) weights\n\n"
            m += "| | output | shape | max abs | max rel | mean abs | cosine | top-k |\n|---|---|---|---:|---:|---:|---:|---:|\n"
            for o in r.outputs {
                m += "| \(o.passed ? "✅" : "❌") | `\(o.name)` | \(o.shape) | \(Self.f(o.maxAbsError)) | \(Self.f(o.maxRelError)) | \(Self.f(o.meanAbsError)) | \(String(format: "%.6f", o.cosine)) | \(o.topKAgreement.map { String(format: "%.1f%%", $0 * 100) } ?? "—") |\n"
            }
            for o in r.outputs where !o.passed {
                if let w = o.worst { m += "\n`\(o.name)`: \(o.mismatches) element(s) outside tolerance; worst at \(w.index): expected \(w.expected), got \(w.actual)\n" }
            }
            m += "\n"
        }
        return m
    }
}

extension Skiff {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a .skiff model's outputs against reference outputs (a CI gate).",
            discussion: """
            Every output is compared: shape first, then per element |actual − expected| ≤ atol + rtol·|expected| \
            (defaults atol 1e-5, rtol 1e-4, suited to float32 weights). Reported: max abs / max rel / mean abs error, \
            cosine similarity, top-k agreement for classifier outputs, and the worst element on failure.
            Exit codes: 0 within tolerance, 1 not, 2 usage or file errors.
            """)

        @Argument(help: "The .skiff model.")
        var model: String

        @Option(name: .customLong("input"), help: "An input tensor: FILE.npy or NAME=FILE.npy (repeatable).")
        var inputs: [String] = []

        @Option(parsing: .upToNextOption, help: "Images (files or directories, sorted by name) fed through the model's image signature.")
        var images: [String] = []

        @Option(name: .customLong("expected"), help: "Expected outputs: FILE.npy or NAME=FILE.npy (repeatable).")
        var expected: [String] = []

        @Option(help: "Absolute tolerance.")
        var atol: Float = 1e-5

        @Option(help: "Relative tolerance.")
        var rtol: Float = 1e-4

        @Option(name: .customLong("top-k"), help: "k for the top-k agreement of classifier outputs.")
        var topK: Int = 1

        @Option(help: "Also require this top-k agreement (0…1) on classifier outputs.")
        var minTopK: Float?

        @Option(help: "Write a JUnit XML report here.")
        var junit: String?

        @Option(help: "Write a Markdown report here (for a pull-request comment).")
        var markdown: String?

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if expected.isEmpty { throw ValidationError("give the expected outputs with --expected") }
            if inputs.isEmpty == images.isEmpty { throw ValidationError("give the inputs with --input or --images (one of the two)") }
            if topK < 1 { throw ValidationError("--top-k must be at least 1") }
        }

        func run() throws {
            let file = try SkiffFile(path: model)
            let engine = try Model(file: file)
            let data = try ReferenceData(inputs: inputs, expected: expected, images: images, graph: file.manifest.graph, image: file.manifest.images?.first)
            var outputs = try data.compare(engine, atol: atol, rtol: rtol, topK: topK)
            if let minTopK {
                outputs = outputs.map { o in
                    var o = o
                    if let t = o.topKAgreement, t < minTopK { o.passed = false }
                    return o
                }
            }
            let precision = Set(file.tensors.map(\.dtype)).contains(.int8q) ? "int8" : (Set(file.tensors.map(\.dtype)).contains(.float16) ? "fp16" : "fp32")
            let record = VerificationRecord(kind: "reference", passed: outputs.allSatisfy(\.passed), atol: atol, rtol: rtol,
                                            inputs: data.inputDigest, precision: precision, outputs: outputs)
            let report = VerifyReport(model: model, records: [record])
            if let junit { try AtomicFile.write(Array(report.junit.utf8), to: junit) }
            if let markdown { try AtomicFile.write(Array(report.markdown.utf8), to: markdown) }
            if global.json { try CLIOutput.printJSON(report) } else { try report.printText() }
            if !report.passed { throw ExitCode.checkFailed }
        }
    }
}
