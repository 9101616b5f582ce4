import Foundation
import Formats
import Importers
import Testing
import TestSupport

/// What a new user trips over, each as the user meets it: through the `skiff` binary.
@Suite struct NewUserTests {
    static let images = ImageFixtures.directory
    static let savedModels = packageRoot + "/fixtures/savedmodel"

    func convertClassifier(_ extra: [String], labels: String? = images + "/labels.txt") throws -> (SkiffRun, String) {
        let out = try temporaryDirectory() + "/classifier.skiff"
        var args = ["convert", "keras", Self.images + "/classifier.keras", "-o", out]
        if let labels { args += ["--labels", labels] }
        return (try SkiffRun(arguments: args + extra), out)
    }

    // MARK: silent wrong answers

    @Test func aSignaturesOwnPreprocessingIsKept() throws {
        let dir = try temporaryDirectory()
        let conflict = try SkiffRun("convert", "savedmodel", Self.savedModels + "/image_signature", "-o", dir + "/a.skiff", "--image", "auto", "--preprocess", "caffe")
        #expect(conflict.status == 2)
        #expect(conflict.stderr.contains("--preprocess caffe conflicts with the model's own image signature, which already normalises with 'tf'"), "\(conflict.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/a.skiff"))
        let agreeing = try SkiffRun("convert", "savedmodel", Self.savedModels + "/image_signature", "-o", dir + "/b.skiff", "--image", "auto", "--preprocess", "tf")
        #expect(agreeing.status == 0, "\(agreeing.stderr)")
        #expect(try SkiffFile(path: dir + "/b.skiff").manifest.images?.first?.normalization.preset == "tf")
    }

    @Test func preprocessWithoutImageImpliesAnImageSignature() throws {
        let (r, out) = try convertClassifier(["--preprocess", "tf"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("--preprocess tf implies --image auto"), "\(r.stderr)")
        let spec = try #require(try SkiffFile(path: out).manifest.images?.first)
        #expect(spec.normalization.preset == "tf" && spec.height == 40 && spec.width == 48)
        let p = try SkiffRun("predict", out, ImageFixtures.index.images[0].path, "--json")
        #expect(p.status == 0, "\(p.stderr)")
    }

    @Test func labelCountErrorsNameTheFileAndBothCounts() throws {
        let path = try temporaryDirectory() + "/labels.csv"
        try Data("0,\"Terrier, type 0\"\n1,b\n2,c\n".utf8).write(to: URL(fileURLWithPath: path))
        let (r, out) = try convertClassifier([], labels: path)
        #expect(r.status == 2)
        #expect(r.stderr.contains(path) && r.stderr.contains("has 3 labels") && r.stderr.contains("has 10 classes"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // The same file shape with the right count keeps the quoted comma.
        let names = (0..<10).map { "\"Terrier, type \($0)\"" }
        try Data(names.enumerated().map { "\($0),\($1)" }.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let (ok, model) = try convertClassifier([], labels: path)
        #expect(ok.status == 0, "\(ok.stderr)")
        let m = try SkiffFile(path: model).manifest
        #expect(m.labels?[m.graph.outputs[0].name]?.first == "Terrier, type 0")
    }

    // MARK: errors a user can act on

    @Test func caffeOnAOneChannelModelSaysWhy() throws {
        let out = try temporaryDirectory() + "/gray.skiff"
        let r = try SkiffRun("convert", "h5", PNGFixtures.directory + "/gray_classifier.h5", "-o", out, "--image", "auto", "--preprocess", "caffe")
        #expect(r.status == 2)
        #expect(r.stderr.contains("--preprocess caffe needs a 3-channel (RGB) input, but input"), "\(r.stderr)")
        #expect(r.stderr.contains("use tf, unit, none or custom"))
    }

    @Test func theWrongConvertSubcommandNamesTheRightOne() throws {
        let dir = try temporaryDirectory()
        let h5 = try SkiffRun("convert", "keras", KerasFixture.directory + "/k3_sequential.h5", "-o", dir + "/a.skiff")
        #expect(h5.status == 2)
        #expect(h5.stderr.contains("this is an HDF5 (.h5) file, not a Keras 3 .keras (zip) archive: use `skiff convert h5"), "\(h5.stderr)")
        let keras = try SkiffRun("convert", "h5", KerasFixture.directory + "/k3_sequential.keras", "-o", dir + "/b.skiff")
        #expect(keras.status == 2)
        #expect(keras.stderr.contains("use `skiff convert keras"), "\(keras.stderr)")
        let folder = try SkiffRun("convert", "keras", Self.savedModels + "/keras3_export", "-o", dir + "/c.skiff")
        #expect(folder.stderr.contains("use `skiff convert savedmodel"), "\(folder.stderr)")
    }

    // MARK: batches and formats

    @Test func eachImageGetsItsOwnResultOrError() throws {
        let (c, model) = try convertClassifier(["--image", "auto", "--preprocess", "tf"])
        #expect(c.status == 0, "\(c.stderr)")
        let dir = try temporaryDirectory()
        try Data("just some notes\n".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        let good = ImageFixtures.index.images[0]
        let r = try SkiffRun("predict", model, good.path, dir + "/notes.txt", "--json", "--top", "1")
        #expect(r.status == 1, "one image failed: exit 1")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let p = try #require(json["predictions"] as? [[String: Any]])
        #expect(p.count == 2)
        #expect(p[0]["label"] as? String == good.top5[0] && p[0]["error"] == nil)
        #expect((p[1]["error"] as? String)?.contains("not a JPEG or PNG image, nor base64 of one (it is text starting \"just some notes") == true, "\(p[1])")
        #expect(r.stderr.contains("1 of 2 images could not be classified"))
        let text = try SkiffRun("predict", model, dir + "/notes.txt", good.path)
        #expect(text.status == 1)
        #expect(text.stdout.contains(dir + "/notes.txt\n  error: not a JPEG or PNG image"), "\(text.stdout)")
        #expect(text.stdout.contains(good.path + "\n  " + good.top5[0]))
        let allGood = try SkiffRun("predict", model, good.path)
        #expect(allGood.status == 0)
    }

    @Test func foldersAndPNGsArePredicted() throws {
        let (c, model) = try convertClassifier(["--image", "auto", "--preprocess", "tf"])
        #expect(c.status == 0, "\(c.stderr)")
        let r = try SkiffRun("predict", model, PNGFixtures.directory, "--json", "--top", "10")
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let predictions = try #require(json["predictions"] as? [[String: Any]])
        let pngs = PNGFixtures.index.images.sorted { $0.file < $1.file }
        #expect(predictions.count == pngs.count)
        for (png, p) in zip(pngs, predictions) {
            #expect((p["image"] as? String)?.hasSuffix(png.file) == true)
            #expect(p["label"] as? String == png.top5[0], "\(png)")
            let probs = try png.probs()
            for t in p["top_k"] as? [[String: Any]] ?? [] {
                let i = try #require(t["index"] as? Int), score = try #require((t["score"] as? NSNumber)?.floatValue)
                #expect(abs(score - probs[i]) <= 1e-4, "\(png) class \(i): \(score) vs TensorFlow's \(probs[i])")
            }
        }
    }

    @Test func aGrayscaleModelReadsPNGsLikeTensorFlow() throws {
        let out = try temporaryDirectory() + "/gray.skiff"
        let c = try SkiffRun("convert", "h5", PNGFixtures.directory + "/gray_classifier.h5", "-o", out, "--preprocess", "unit")
        #expect(c.status == 0, "\(c.stderr)")
        for png in PNGFixtures.index.images {
            let r = try SkiffRun("predict", out, png.path, "--json", "--top", "7")
            #expect(r.status == 0, "\(png): \(r.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            let top = ((json?["predictions"] as? [[String: Any]])?.first?["top_k"] as? [[String: Any]]) ?? []
            #expect(top.count == 7)
            let probs = try png.grayProbs()
            for t in top {
                let i = try #require(t["index"] as? Int), score = try #require((t["score"] as? NSNumber)?.floatValue)
                #expect(abs(score - probs[i]) <= 1e-4, "\(png) class \(i): \(score) vs TensorFlow's \(probs[i])")
                #expect(t["label"] is NSNull, "an unlabelled model's label is null")
            }
        }
    }

    // MARK: long work shows progress

    @Test func conversionPrintsTimedPhasesWhenNotOnATerminal() throws {
        let (r, _) = try convertClassifier(["--image", "auto", "--preprocess", "tf", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        for phase in ["read", "optimise", "self-check", "write"] {
            #expect(r.stderr.range(of: "(?m)^\(phase) +[0-9]+\\.[0-9]{2} s", options: .regularExpression) != nil, "\(phase) in:\n\(r.stderr)")
        }
        #expect(r.stderr.contains("4 inputs against the reference kernels"))
        #expect((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) != nil, "stdout stays JSON")
        let (two, _) = try convertClassifier(["--self-check", "2", "--json"])
        #expect(two.status == 0)
        #expect(two.stderr.contains("2 inputs against the reference kernels"), "\(two.stderr)")
        let (none, skipped) = try convertClassifier(["--self-check", "0"])
        #expect(none.status == 0)
        #expect(none.stderr.contains("skipped (--self-check 0)"))
        #expect(try SkiffFile(path: skipped).manifest.verification == nil)
    }
}
