import Foundation
import Formats
import Importers
import Testing
import TestSupport

/// `skiff predict` against the TensorFlow pipeline decode_jpeg → resize → x/127.5 − 1 → model, computed
/// by fixtures/make_image_fixtures.py: same top-5, scores within 1e-4.
@Suite struct PredictTests {
    static let dir = ImageFixtures.directory

    func convert(_ extra: String...) throws -> (SkiffRun, String) {
        let out = try temporaryDirectory() + "/classifier.skiff"
        let r = try SkiffRun(arguments: ["convert", "keras", Self.dir + "/classifier.keras", "-o", out, "--labels", Self.dir + "/labels.txt"] + extra)
        return (r, out)
    }

    @Test func predictionsMatchTheTensorFlowPipeline() throws {
        let (c, model) = try convert("--image", "auto", "--preprocess", "tf")
        #expect(c.status == 0, "\(c.stderr)")
        let images = ImageFixtures.index.images
        #expect(images.count >= 8)
        let r = try SkiffRun(arguments: ["predict", model, "--json", "--top", "5"] + images.map(\.path))
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let predictions = try #require(json["predictions"] as? [[String: Any]])
        #expect(predictions.count == images.count)
        for (image, p) in zip(images, predictions) {
            let top = try #require(p["top_k"] as? [[String: Any]])
            #expect(top.compactMap { $0["label"] as? String } == image.top5, "\(image)")
            let probs = try image.npy("probs").floats
            for t in top {
                let i = try #require(t["index"] as? Int), score = try #require((t["score"] as? NSNumber)?.floatValue)
                #expect(abs(score - probs[i]) <= 1e-4, "\(image) class \(i): \(score) vs \(probs[i])")
            }
        }
    }

    @Test func base64AndStandardInput() throws {
        let (_, model) = try convert("--image", "auto", "--preprocess", "tf")
        let image = try #require(ImageFixtures.index.images.first { $0.file == "astronaut_q90_420.jpg" })
        let b64 = Data(image.bytes).base64EncodedString()
        let viaText = try SkiffRun("predict", model, "--b64", "data:image/jpeg;base64," + b64, "--json", "--top", "1")
        let viaFile = try SkiffRun("predict", model, image.path, "--json", "--top", "1")
        #expect(viaText.status == 0 && viaFile.status == 0, "\(viaText.stderr)")
        func top(_ r: SkiffRun) throws -> String? {
            let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            return ((j?["predictions"] as? [[String: Any]])?.first?["top_k"] as? [[String: Any]])?.first?["label"] as? String
        }
        #expect(try top(viaText) == image.top5.first && top(viaFile) == image.top5.first)
        let stdin = try SkiffRun(arguments: ["predict", model, "-", "--json", "--top", "1"], stdin: Data(b64.utf8))
        #expect(stdin.status == 0, "\(stdin.stderr)")
        #expect(try top(stdin) == image.top5.first)
        let text = try SkiffRun("predict", model, image.path, "--top", "2")
        #expect(text.stdout.hasPrefix(image.path + "\n  " + image.top5[0]))
    }

    @Test func signatureIsRecordedAndShown() throws {
        let (c, model) = try convert("--image", "auto", "--preprocess", "caffe", "--crop", "central:0.875", "--resize", "area", "--idct", "accurate")
        #expect(c.status == 0, "\(c.stderr)")
        let spec = try #require(try SkiffFile(path: model).manifest.images?.first)
        #expect(spec.height == 40 && spec.width == 48 && spec.channels == 3)
        #expect(spec.normalization.preset == "caffe" && spec.normalization.bgr)
        #expect(spec.crop?.centralFraction == 0.875 && spec.resize == "area" && spec.idct == "accurate")
        let i = try SkiffRun("inspect", model)
        #expect(i.stdout.contains("image input: input_layer ← JPEG → 48×40×3, central crop 0.875, area resize, normalise 'caffe', accurate IDCT"))
    }

    @Test func badChoicesAreRefusedBeforeWriting() throws {
        let (wrongSize, out) = try convert("--image", "64x64")
        #expect(wrongSize.status == 2)
        #expect(wrongSize.stderr.contains("--image 64x64 does not fit the model, whose input 'input_layer' is 48x40"))
        #expect(!FileManager.default.fileExists(atPath: out))
        let (badPreset, _) = try convert("--image", "auto", "--preprocess", "imagenet")
        #expect(badPreset.stderr.contains("--preprocess 'imagenet' is not one of tf, caffe, torch, unit, none, custom"))
        let (badCrop, _) = try convert("--image", "auto", "--crop", "middle")
        #expect(badCrop.stderr.contains("--crop must be central:FRACTION or shorter:SIDE"))
        let (custom, model) = try convert("--image", "48x40", "--preprocess", "custom", "--scale", "0.5", "--offset", "1,2,3")
        #expect(custom.status == 0, "\(custom.stderr)")
        #expect(try SkiffFile(path: model).manifest.images?.first?.normalization.offset == [1, 2, 3])
    }

    @Test func predictErrors() throws {
        let (_, model) = try convert("--image", "auto", "--preprocess", "tf")
        let bad = try SkiffRun("predict", model, "--b64", "bm90IGEganBlZw==")
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("--b64 #1\n  error: not a JPEG or PNG image, nor base64 of one (it decodes to bytes starting 6e 6f 74 20)"), "\(bad.stdout)")
        let (_, plain) = try convert()
        let none = try SkiffRun("predict", plain, ImageFixtures.index.images[0].path)
        #expect(none.status == 2)
        #expect(none.stderr.contains("has no image signature; convert it with --image auto"))
    }
}
