import Engine
import Foundation
import Formats
import Testing
import TestSupport
@testable import convert

/// int8 judged on photos: built-in photos or `--calibrate`, and the kernels that change answers kept at float16.
@Suite struct CalibrationTests {
    /// x[16] → dense 16→16 (benign) → dense 16→2 whose two columns differ by less than an int8 step but by
    /// far more than a float16 rounding: int8 on that kernel flips the top class; on the first it does not.
    static func nearTie() -> LoweredModel {
        var rng = SeededRandom(seed: 21)
        let b = GraphBuilder()
        let x = b.input("x", .float32, [.batch, 16])
        let first = b.constant("first/kernel", shape: [16, 16], values: rng.floats(256, std: 0.3))
        let h = try! b.add(.dense, "first", [x, first])
        let column = rng.floats(16, std: 1)
        let nudge = rng.floats(16, std: 0.02)
        var tie = [Float](repeating: 0, count: 32)
        for i in 0..<16 { (tie[2 * i], tie[2 * i + 1]) = (column[i], column[i] + nudge[i]) }
        let last = b.constant("tie/kernel", shape: [16, 2], values: tie)
        let y = try! b.add(.dense, "tie", [h, last])
        return b.finish(outputs: [y])
    }

    @Test func theKernelThatFlipsAnswersIsKeptAtFloat16() throws {
        let model = Self.nearTie()
        var plan = PrecisionPlan.make(model, .int8, minElements: 1)
        #expect(Set(plan.narrowed(in: model)) == ["first/kernel", "tie/kernel"])
        let check = try #require(try SelfCheck(source: model, images: nil, batch: 32))
        let tolerance = Tolerance(precision: .int8, atol: nil, rtol: nil)
        let before = try check.run(model, plan, tolerance)
        #expect(!before.acceptable, "all-int8 should change some answers: \(before.summary)")
        let after = try check.keepSensitiveKernels(model, &plan, tolerance) { _ in }
        #expect(after.acceptable, "\(after.summary)")
        #expect(plan.kept == ["tie/kernel"])
        #expect(plan.storage["tie/kernel"] == .float16 && plan.storage["first/kernel"] == .int8q)
    }

    /// A directory of many photos is cut to the first `limit` by name, so the check's memory stays bounded.
    @Test func calibrationTakesAtMostTheLimit() throws {
        let dir = try temporaryDirectory()
        let photo = try #require(FileManager.default.contents(atPath: ImageFixtures.directory + "/coffee_q75_444.jpg"))
        for i in 0..<(CalibrationPhotos.limit + 4) { try photo.write(to: URL(fileURLWithPath: dir + "/p\(String(100 + i)).jpg")) }
        let photos = try CalibrationPhotos.load([dir])
        #expect(photos.images.map(\.name) == (0..<CalibrationPhotos.limit).map { "p\(100 + $0).jpg" })
    }

    @Test func builtInPhotosMatchTheFixtures() throws {
        for (name, base64) in BuiltinPhotos.jpegs {
            let fixture = try #require(FileManager.default.contents(atPath: "\(ImageFixtures.directory)/\(name)"))
            #expect(Data(base64Encoded: base64) == fixture,
                    "Sources/convert/BuiltinPhotos.swift is out of date with fixtures/images/\(name): run scripts/gen-builtin-photos.sh")
        }
    }

    /// The CLI: int8 of a model with an image signature is checked on the built-in photos, or on `--calibrate`
    /// photos, and says so in the file's verification record; `--calibrate` without an image signature is refused.
    @Test func convertChecksNarrowedImageModelsOnPhotos() throws {
        let dir = try temporaryDirectory()
        let source = ImageFixtures.directory + "/classifier.keras"
        let builtIn = try SkiffRun("convert", "keras", source, "-o", dir + "/a.skiff", "--preprocess", "tf", "--precision", "int8", "--json")
        #expect(builtIn.status == 0, "\(builtIn.stderr)")
        let a = try SkiffFile(path: dir + "/a.skiff").manifest.verification?.first
        #expect(a?.inputs.contains("\(BuiltinPhotos.jpegs.count) built-in photos and their mirror images") == true, "\(String(describing: a?.inputs))")
        #expect(a?.outputs.first?.shape.first == 2 * BuiltinPhotos.jpegs.count)

        let mine = try SkiffRun("convert", "keras", source, "-o", dir + "/b.skiff", "--preprocess", "tf", "--precision", "int8",
                                "--calibrate", ImageFixtures.directory, "--json")
        #expect(mine.status == 0, "\(mine.stderr)")
        let b = try SkiffFile(path: dir + "/b.skiff").manifest.verification?.first
        let jpegs = try FileManager.default.contentsOfDirectory(atPath: ImageFixtures.directory).filter { $0.hasSuffix(".jpg") }
        #expect(b?.inputs.contains("\(jpegs.count) photos and their mirror images") == true, "\(String(describing: b?.inputs))")
        #expect(b?.inputs.contains("astronaut_progressive.jpg") == true)

        // Float32 keeps the random self-check: nothing is narrowed.
        let plain = try SkiffRun("convert", "keras", source, "-o", dir + "/c.skiff", "--preprocess", "tf", "--json")
        #expect(plain.status == 0)
        #expect(try SkiffFile(path: dir + "/c.skiff").manifest.verification?.first?.inputs.contains("deterministic inputs") == true)

        let refused = try SkiffRun("convert", "keras", source, "-o", dir + "/d.skiff", "--precision", "int8", "--calibrate", ImageFixtures.directory)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("--calibrate needs an image signature"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/d.skiff"))
    }
}
