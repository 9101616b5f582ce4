import Foundation
import Testing
import Formats
import Importers
import TestSupport

@Suite struct CLITests {
    @Test func versionAndHelp() throws {
        let v = try SkiffRun("--version")
        #expect(v.status == 0)
        #expect(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == SkiffVersion.current)
        let h = try SkiffRun("--help")
        #expect(h.status == 0)
        #expect(h.stdout.contains("inspect"))
        #expect(h.stdout.contains("Exit codes"))
        let libs = try SkiffRun("version", "--json")
        let json = try JSONSerialization.jsonObject(with: Data(libs.stdout.utf8)) as? [String: Any]
        let l = try #require(json?["libraries"] as? [String: String])
        #expect(Set(l.keys) == ["hdf5", "protobuf-c", "zstd", "openblas", "turbojpeg", "kernels"])
    }

    @Test func inspectDescribesAWrittenFile() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/tiny.skiff"
        try SampleModels.tinyClassifier(storage: .float16).write(to: path)
        let r = try SkiffRun("inspect", path)
        #expect(r.status == 0, "\(r.stderr)")
        for fragment in ["serving_default", "in  image: 'image' float32[N, 8, 8, 3]", "(3 labels)", "conv2d ×1",
                         "parameters: 127 in 4 tensors", "conv/kernel", "float16", "from skiff-ir", "name: tiny-classifier"] {
            #expect(r.stdout.contains(fragment), "inspect output lacks \"\(fragment)\":\n\(r.stdout)")
        }
    }

    @Test func inspectJSONIsMachineReadable() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/tiny.skiff"
        let summary = try SampleModels.tinyClassifier().write(to: path)
        let r = try SkiffRun("inspect", path, "--json")
        #expect(r.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["parameters"] as? Int == 127)
        #expect(json["file_bytes"] as? Int == summary.fileLength)
        let names = try SkiffFile(path: path).manifest.labels?["probabilities"]
        #expect((json["labels"] as? [String: [String]])?["probabilities"] == names)
        #expect((json["label_counts"] as? [String: Int])?["probabilities"] == names?.count)
        #expect((json["ops"] as? [String: Int])?["dense"] == 1)
        #expect((json["tensors"] as? [[String: Any]])?.count == 4)
        #expect(json["format_version"] as? String == "1.0")
    }

    /// Keys that are names from the model (ops, outputs, signature keys, metadata, options), not schema keys.
    static let nameKeyedMaps: Set<String> = ["ops", "labels", "label_counts", "metadata", "options", "inputs", "outputs"]

    /// Every object key in `value` that is not snake_case (lowercase letters, digits and '_'), with its path.
    static func nonSnakeKeys(_ value: Any, path: String = "") -> [String] {
        if let array = value as? [Any] { return array.enumerated().flatMap { nonSnakeKeys($0.element, path: path + "[\($0.offset)]") } }
        guard let object = value as? [String: Any] else { return [] }
        var bad: [String] = []
        for (key, child) in object {
            if !key.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) { bad.append(path + "." + key) }
            if nameKeyedMaps.contains(key), let map = child as? [String: Any] {
                // The map's own keys are names; what they hold is schema again.
                for (name, inner) in map { bad += nonSnakeKeys(inner, path: path + "." + key + "[\(name)]") }
            } else {
                bad += nonSnakeKeys(child, path: path + "." + key)
            }
        }
        return bad
    }

    /// `inspect --json` uses snake_case throughout: a file with an image input, labels, metadata, provenance
    /// options and verification records reaches every type the report embeds; so does a SavedModel.
    @Test func inspectJSONKeysAreSnakeCase() throws {
        let dir = try temporaryDirectory()
        let out = dir + "/classifier.skiff"
        let images = ImageFixtures.directory
        let c = try SkiffRun("convert", "keras", images + "/classifier.keras", "-o", out, "--labels", images + "/labels.txt",
                             "--image", "auto", "--preprocess", "tf", "--crop", "central:0.875")
        #expect(c.status == 0, "\(c.stderr)")
        for target in [out, packageRoot + "/fixtures/savedmodel/tfkeras_save"] {
            let r = try SkiffRun("inspect", target, "--json")
            #expect(r.status == 0, "\(r.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
            let bad = Self.nonSnakeKeys(json)
            #expect(bad.isEmpty, "\(target): keys not in snake_case: \(bad.sorted())")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try SkiffRun("inspect", out, "--json").stdout.utf8)) as? [String: Any])
        for key in ["images", "verification", "provenance", "signatures", "tensors"] { #expect(json[key] != nil, "\(key) missing") }
    }

    @Test func inspectLabelsPrintsIndexAndName() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/tiny.skiff"
        try SampleModels.tinyClassifier().write(to: path)
        let names = try #require(try SkiffFile(path: path).manifest.labels?.values.first)
        let text = try SkiffRun("inspect", path, "--labels")
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout == names.enumerated().map { "\($0.offset)\t\($0.element)\n" }.joined())
        let json = try SkiffRun("inspect", path, "--labels", "--json")
        #expect(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String] == names)
        let chosen = try SkiffRun("inspect", path, "--labels", "--output", "probabilities")
        #expect(chosen.stdout == text.stdout)
        let wrong = try SkiffRun("inspect", path, "--labels", "--output", "nope")
        #expect(wrong.status == 2 && wrong.stderr.contains("probabilities"), "\(wrong.stderr)")
        // The summary names them too, not only their count.
        #expect(try SkiffRun("inspect", path).stdout.contains(names.map { "'\($0)'" }.joined(separator: ", ")))
        // A model without labels says how to add them.
        let bare = dir + "/bare.skiff"
        try SampleModels.weights(count: 1, size: 4).write(to: bare)
        let none = try SkiffRun("inspect", bare, "--labels")
        #expect(none.status == 2 && none.stderr.contains("--labels"), "\(none.stderr)")
    }

    /// A file may record a batch dimension under a symbol a shape rule derived from a node name (older
    /// converters did for padding); inspect shows every symbolic batch dimension as N, in text and JSON.
    @Test func symbolicBatchDimensionsShowAsN() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/padded.skiff"
        let symbol: Dim = .symbol("model_1.00/block_13_pad:0")
        let graph = ModelGraph(
            inputs: [ValueInfo("image", .float32, [.batch, 4, 4, 3])],
            outputs: [ValueInfo("pooled", .float32, [symbol, 3])],
            constants: [],
            nodes: [
                Node(name: "model_1.00/block_13_pad", op: .pad, inputs: ["image"], outputs: [ValueInfo("padded", .float32, [symbol, 6, 6, 3])],
                     attributes: ["pads": .ints([0, 0, 1, 1, 1, 1, 0, 0])]),
                Node(name: "pool", op: .globalAvgPool, inputs: ["padded"], outputs: [ValueInfo("pooled", .float32, [symbol, 3])]),
            ])
        let w = SkiffWriter(manifest: SkiffManifest(graph: graph, signatures: [.servingDefault(for: graph)],
                                                    provenance: Provenance(sourceFormat: "skiff-ir", converterVersion: "test")))
        try w.write(to: path)
        let text = try SkiffRun("inspect", path)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("out pooled: 'pooled' float32[N, 3]"), "\(text.stdout)")
        #expect(!text.stdout.contains("block_13_pad:0"), "\(text.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try SkiffRun("inspect", path, "--json").stdout.utf8)) as? [String: Any])
        let signature = try #require((json["signatures"] as? [[String: Any]])?.first)
        let output = try #require((signature["outputs"] as? [String: Any])?["pooled"] as? [String: Any])
        #expect((output["shape"] as? [Any])?.first as? String == "N")

        // SavedModels: an unknown outermost dimension is the batch, N, in text and JSON.
        let saved = packageRoot + "/fixtures/savedmodel/tfkeras_save"
        let savedText = try SkiffRun("inspect", saved)
        #expect(savedText.stdout.contains("[N, "), "\(savedText.stdout)")
        #expect(!savedText.stdout.contains("[-1, "), "\(savedText.stdout)")
        let savedJSON = try #require(try JSONSerialization.jsonObject(with: Data(try SkiffRun("inspect", saved, "--json").stdout.utf8)) as? [String: Any])
        let serving = (savedJSON["signatures"] as? [[String: Any]])?.first { $0["name"] as? String == "serving_default" }
        let input = try #require((serving?["inputs"] as? [[String: Any]])?.first)
        #expect((input["shape"] as? [Any])?.first as? String == "N")
    }

    /// Converted fixtures record the batch as N on every value (padding and flattening keep it).
    @Test(arguments: ["k3_spatial", "k3_sequential", "k3_functional", "tfk_sequential"])
    func convertedModelsKeepTheBatchSymbol(name: String) throws {
        let dir = try temporaryDirectory()
        let out = dir + "/m.skiff"
        let c = try SkiffRun("convert", "h5", KerasFixture.directory + "/\(name).h5", "-o", out)
        #expect(c.status == 0, "\(c.stderr)")
        let graph = try SkiffFile(path: out).manifest.graph
        for v in graph.inputs + graph.outputs + graph.nodes.flatMap(\.outputs) {
            #expect(v.shape.first == .batch, "\(name): \(v)")
        }
    }

    /// The root command's --version and the commands' own --version options (a TF Serving model version, an
    /// S3 version) must not both appear in one help.
    @Test(arguments: [["inspect"], ["convert", "savedmodel"], ["package", "s3"]])
    func helpShowsOneVersionOption(command: [String]) throws {
        let r = try SkiffRun(arguments: command + ["--help"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--version") }
        #expect(lines.count == 1, "\(command.joined(separator: " ")) --help lists --version \(lines.count) times:\n\(r.stdout)")
        #expect(!r.stdout.contains("Show the version."), "\(r.stdout)")
    }

    @Test func versionFlagAndCommandStillWork() throws {
        let flag = try SkiffRun("--version")
        #expect(flag.status == 0 && flag.stdout == SkiffVersion.current + "\n")
        let command = try SkiffRun("version")
        #expect(command.status == 0 && command.stdout.hasPrefix("skiff \(SkiffVersion.current) "))
        let root = try SkiffRun("--help")
        #expect(root.stdout.contains("skiff --version"), "\(root.stdout)")
        // The commands' own --version options still parse.
        let folder = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: packageRoot + "/fixtures/savedmodel/tf_module", toPath: folder + "/3")
        let inspect = try SkiffRun("inspect", folder, "--version", "3")
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let missing = try SkiffRun("inspect", folder, "--version", "4")
        #expect(missing.status == 2 && missing.stderr.contains("no version 4"), "\(missing.stderr)")
    }

    @Test func errorsAreOneLineWithExitCode2() throws {
        let dir = try temporaryDirectory()
        let bad = dir + "/bad.skiff"
        var bytes = try SampleModels.tinyClassifier().serialize().bytes
        bytes.removeLast(10)
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        let r = try SkiffRun("inspect", bad)
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "skiff: error: '\(bad)': file is truncated: header says \(bytes.count + 10) bytes, the file has \(bytes.count)\n")
        let verbose = try SkiffRun("inspect", bad, "--verbose")
        #expect(verbose.stderr.contains("code: truncated"))
        let usage = try SkiffRun("inspect")
        #expect(usage.status == 2)
        #expect(usage.stderr.hasPrefix("skiff: error: Missing expected argument '<file>'"))
    }

    /// `inspect` runs the engine's checks (attribute ranges, shape inference): a file it accepts loads, and
    /// a crafted one the engine would trap on or refuse is refused by both with the same one-line error.
    @Test func inspectAndRunAgreeOnCraftedGraphs() throws {
        let dir = try temporaryDirectory()
        let input = dir + "/x.npy"
        try NpyArray(floats: Array(repeating: 0.5, count: 192), shape: [1, 8, 8, 3]).write(to: input)
        let edits: [(String, (inout SkiffManifest) -> Void)] = [
            ("'pads' is [1]", { $0.graph.nodes[0].attributes["pads"] = .ints([1]) }),
            ("'strides' is [\(1 << 62), 1]", { $0.graph.nodes[0].attributes["strides"] = .ints([1 << 62, 1]) }),
            ("produces shape", { $0.graph.nodes[0].outputs[0].shape[1] = 9 }),
        ]
        for (i, (message, edit)) in edits.enumerated() {
            var s = FileSurgery(try SampleModels.tinyClassifier().serialize().bytes)
            try s.editManifest(edit)
            let bad = dir + "/bad\(i).skiff"
            try Data(s.bytes).write(to: URL(fileURLWithPath: bad))
            let inspect = try SkiffRun("inspect", bad)
            #expect(inspect.status == 2, "\(inspect.stdout)")
            #expect(inspect.stderr.contains(message) && inspect.stderr.split(separator: "\n").count == 1, "\(inspect.stderr)")
            let run = try SkiffRun("run", bad, "--input", input, "--output", dir + "/y.npy")
            #expect(run.status == 2)
            #expect(run.stderr == inspect.stderr)
        }
    }

    @Test func theBundledSampleInspects() throws {
        let r = try SkiffRun("inspect", packageRoot + "/fixtures/tiny_classifier.skiff")
        #expect(r.status == 0)
        #expect(r.stdout.contains("tiny-classifier"))
    }
}

@Suite struct InspectSavedModelTests {
    @Test func inspectListsSignaturesOpsAndVariablesOfASavedModel() throws {
        let dir = packageRoot + "/fixtures/savedmodel/tfkeras_save"
        let text = try SkiffRun("inspect", dir)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("signature 'serving_default'") && text.stdout.contains("Conv2D") && text.stdout.contains("checksums ok"))
        let json = try SkiffRun("inspect", dir, "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["variables"] as? [Any])?.count == 8)
        #expect(((object?["ops"] as? [String: Int])?["Conv2D"] ?? 0) >= 1)
        let missing = try SkiffRun("inspect", packageRoot + "/fixtures")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("not a SavedModel"))
    }
}

/// `skiff convert savedmodel` on SavedModels from three TensorFlow writers, checked against TensorFlow's outputs.
@Suite struct SavedModelConversionTests {
    static let directory = packageRoot + "/fixtures/savedmodel"

    @Test(arguments: ["keras3_export", "tfkeras_save", "tf_module", "ops_coverage"])
    func convertedSavedModelsMatchTensorFlow(name: String) throws {
        let dir = try temporaryDirectory()
        let out = dir + "/\(name).skiff"
        let c = try SkiffRun("convert", "savedmodel", Self.directory + "/" + name, "-o", out)
        #expect(c.status == 0, "\(c.stderr)")
        let r = try SkiffRun("run", out, "--input", Self.directory + "/\(name).in0.npy", "--output", dir + "/y.npy")
        #expect(r.status == 0, "\(r.stderr)")
        let got = try NpyArray(path: dir + "/y.npy").floats
        let want = try NpyArray(path: Self.directory + "/\(name).out0.npy").floats
        #expect(got.count == want.count)
        #expect(zip(got, want).allSatisfy { abs($0 - $1) <= 1e-5 + 1e-4 * abs($1) }, "max error \(zip(got, want).map { abs($0 - $1) }.max() ?? 0)")
        // A TF Serving model folder: the highest numbered version is converted.
        let folder = dir + "/served"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.directory + "/" + name, toPath: folder + "/7")
        #expect(try SkiffRun("convert", "savedmodel", folder, "-o", dir + "/v.skiff").status == 0)
    }

    /// String-input signatures (JPEG bytes, and web-safe base64 text) become the image input; the converted
    /// model's outputs on real JPEGs must equal TensorFlow's through that signature.
    @Test(arguments: ["serving_default", "serving_b64"])
    func jpegSignatureBecomesTheImageInput(signature: String) throws {
        let dir = try temporaryDirectory()
        let fixture = Self.directory + "/image_signature"
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.directory + "/index.json"))) as! [String: Any]
        let images = ((index["image_signature"] as! [String: Any])["images"] as! [String]).map { packageRoot + "/fixtures/images/" + $0 }
        let out = dir + "/m.skiff"
        let c = try SkiffRun(arguments: ["convert", "savedmodel", fixture, "--signature", signature, "-o", out, "--verify-images"] + images + [Self.directory + "/image_signature.out0.npy"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.stdout.contains("reference: ok"), "\(c.stdout)")
        let inspect = try SkiffRun("inspect", out)
        #expect(inspect.stdout.contains("← JPEG → 24×20×3, bilinear resize, normalise 'tf'"), "\(inspect.stdout)")
        let predict = try SkiffRun(arguments: ["predict", out, "--json"] + images)
        #expect(predict.status == 0, "\(predict.stderr)")
    }

    @Test func unrecognisedImagePipelineNamesTheNodeAndWritesNothing() throws {
        let dir = try temporaryDirectory()
        let r = try SkiffRun("convert", "savedmodel", Self.directory + "/image_signature", "--signature", "serving_cropped", "-o", dir + "/c.skiff")
        #expect(r.status == 2)
        #expect(r.stderr.contains("'map/while/central_crop/"), "\(r.stderr)")
        #expect(r.stderr.contains("after TensorListFromTensor → TensorListGetItem → DecodeJpeg"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.skiff"))
        let tag = try SkiffRun("convert", "savedmodel", Self.directory + "/image_signature", "--tag", "serve,gpu", "-o", dir + "/t.skiff")
        #expect(tag.status == 2)
        #expect(tag.stderr.contains("no MetaGraph tagged {gpu,serve} (it has: {serve})"), "\(tag.stderr)")
        #expect(try SkiffRun("convert", "savedmodel", Self.directory + "/tf_module", "--tag", "serve", "-o", dir + "/s.skiff").status == 0)
    }

    @Test func stringCheckpointEntriesAreSkippedWithAReason() throws {
        let r = try SkiffRun("inspect", Self.directory + "/ops_coverage")
        #expect(r.status == 0, "\(r.stderr)")
        let vocab = r.stdout.split(separator: "\n").first { $0.contains("vocab/") } ?? ""
        #expect(vocab.contains("string[2]") && vocab.contains("skipped by convert"), "\(r.stdout)")
        let step = r.stdout.split(separator: "\n").first { $0.contains("step/") } ?? ""
        #expect(step.contains("int64[]") && !step.contains("skipped"), "\(r.stdout)")
    }

    @Test func unsupportedOpsAreListedAtOnceAndNothingIsWritten() throws {
        let dir = try temporaryDirectory()
        let r = try SkiffRun("convert", "savedmodel", Self.directory + "/unsupported_ops", "-o", dir + "/u.skiff")
        #expect(r.status == 2)
        for op in ["Cumprod ×2", "Lgamma ×2"] { #expect(r.stderr.contains(op), "\(r.stderr)") }
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/u.skiff"))
        let sig = try SkiffRun("convert", "savedmodel", Self.directory + "/tf_module", "--signature", "nope", "-o", dir + "/n.skiff")
        #expect(sig.status == 2)
        #expect(sig.stderr.contains("serving_default"))
    }
}
