import Foundation
import Testing
import Formats
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
        #expect(json["fileBytes"] as? Int == summary.fileLength)
        #expect((json["labels"] as? [String: Int])?["probabilities"] == 3)
        #expect((json["ops"] as? [String: Int])?["dense"] == 1)
        #expect((json["tensors"] as? [[String: Any]])?.count == 4)
        #expect(json["formatVersion"] as? String == "1.0")
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
        for op in ["Cumsum ×2", "TopKV2 ×2"] { #expect(r.stderr.contains(op), "\(r.stderr)") }
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/u.skiff"))
        let sig = try SkiffRun("convert", "savedmodel", Self.directory + "/tf_module", "--signature", "nope", "-o", dir + "/n.skiff")
        #expect(sig.status == 2)
        #expect(sig.stderr.contains("serving_default"))
    }
}
