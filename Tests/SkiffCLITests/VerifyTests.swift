import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Formats
import Importers
import Testing
import TestSupport

@Suite struct VerifyTests {
    static let f = KerasFixture.directory

    func converted(_ name: String = "k3_functional", _ extra: String...) throws -> String {
        let out = try temporaryDirectory() + "/m.skiff"
        let r = try SkiffRun(arguments: ["convert", "keras", "\(Self.f)/\(name).keras", "-o", out] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    /// The golden output with one element moved by `delta`.
    func perturbed(_ name: String = "k3_functional", index: Int = 7, delta: Float = 0.01) throws -> String {
        var a = try NpyArray(path: "\(Self.f)/\(name).out0.npy")
        var v = a.floats
        v[index] += delta
        a = NpyArray(floats: v, shape: a.shape)
        let path = try temporaryDirectory() + "/expected.npy"
        try a.write(to: path)
        return path
    }

    @Test func passesOnTrueGoldens() throws {
        let model = try converted()
        let r = try SkiffRun("verify", model, "--input", "\(Self.f)/k3_functional.in0.npy", "--expected", "\(Self.f)/k3_functional.out0.npy")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("passed"))
        #expect(r.stdout.contains("PASS  'softmax' [2, 10]"))
        #expect(r.stdout.contains("top-1 agreement 100.0%"))
    }

    @Test func failsOnPerturbedGoldensNamingTheWorstElement() throws {
        let model = try converted()
        let expected = try perturbed()
        let golden = try NpyArray(path: "\(Self.f)/k3_functional.out0.npy").floats
        let r = try SkiffRun("verify", model, "--input", "\(Self.f)/k3_functional.in0.npy", "--expected", expected, "--json")
        #expect(r.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let out = try #require(((json["records"] as? [[String: Any]])?.first?["outputs"] as? [[String: Any]])?.first)
        #expect(out["passed"] as? Bool == false)
        #expect(out["mismatches"] as? Int == 1)
        let worst = try #require(out["worst"] as? [String: Any])
        #expect(worst["index"] as? [Int] == [0, 7])
        #expect(abs(((worst["actual"] as? NSNumber)?.floatValue ?? 0) - golden[7]) < 1e-5)
        let text = try SkiffRun("verify", model, "--input", "\(Self.f)/k3_functional.in0.npy", "--expected", expected)
        #expect(text.stdout.contains("FAIL  'softmax'"))
        #expect(text.stdout.contains("1 element(s) outside tolerance; worst at [0, 7]: expected \(golden[7] + 0.01)"))
        // A looser tolerance passes the same comparison.
        #expect(try SkiffRun("verify", model, "--input", "\(Self.f)/k3_functional.in0.npy", "--expected", expected, "--atol", "0.02").status == 0)
    }

    @Test func junitIsValidXMLAndMarkdownIsWritten() throws {
        let model = try converted()
        let dir = try temporaryDirectory()
        let r = try SkiffRun("verify", model, "--input", "\(Self.f)/k3_functional.in0.npy", "--expected", try perturbed(),
                             "--junit", dir + "/report.xml", "--markdown", dir + "/report.md")
        #expect(r.status == 1)
        let doc = try XMLDocument(contentsOf: URL(fileURLWithPath: dir + "/report.xml"))
        let suites = try #require(doc.rootElement())
        #expect(suites.name == "testsuites")
        #expect(suites.attribute(forName: "tests")?.stringValue == "1")
        #expect(suites.attribute(forName: "failures")?.stringValue == "1")
        let failures = try doc.nodes(forXPath: "//testcase/failure")
        #expect(failures.count == 1)
        #expect(failures.first?.stringValue?.contains("worst at [0, 7]") == true)
        let md = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        #expect(md.contains("❌ failed") && md.contains("| ❌ | `softmax` |"))
    }

    @Test func malformedOrMismatchedExpectedFiles() throws {
        let model = try converted()
        let dir = try temporaryDirectory()
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/bad.npy"))
        let bad = try SkiffRun("verify", model, "--input", "\(Self.f)/k3_functional.in0.npy", "--expected", dir + "/bad.npy")
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("bad.npy': not a .npy file"))
        try NpyArray(floats: [1, 2, 3], shape: [3]).write(to: dir + "/short.npy")
        let shape = try SkiffRun("verify", model, "--input", "\(Self.f)/k3_functional.in0.npy", "--expected", dir + "/short.npy")
        #expect(shape.status == 1)
        #expect(shape.stdout.contains("shape differs: expected [3]"))
        let missing = try SkiffRun("verify", model, "--expected", dir + "/short.npy")
        #expect(missing.status == 2 && missing.stderr.contains("--input or --images"))
    }

    @Test func imagesAreFedThroughTheSignatureInSortedOrder() throws {
        let out = try temporaryDirectory() + "/c.skiff"
        #expect(try SkiffRun("convert", "keras", ImageFixtures.directory + "/classifier.keras", "-o", out, "--image", "auto", "--preprocess", "tf").status == 0)
        let images = ImageFixtures.index.images.sorted { $0.file < $1.file }
        let probs = try images.flatMap { try $0.npy("probs").floats }
        let expected = try temporaryDirectory() + "/probs.npy"
        try NpyArray(floats: probs, shape: [images.count, 10]).write(to: expected)
        let r = try SkiffRun("verify", out, "--images", ImageFixtures.directory, "--expected", expected, "--atol", "1e-4", "--rtol", "0")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[\(images.count), 10]"))
    }

    @Test func convertTimeVerificationGatesWriting() throws {
        let dir = try temporaryDirectory()
        let input = "\(Self.f)/k3_functional.in0.npy"
        let fail = try SkiffRun("convert", "keras", "\(Self.f)/k3_functional.keras", "-o", dir + "/m.skiff", "--verify-with", input, try perturbed())
        #expect(fail.status == 1)
        #expect(fail.stderr.contains("verification failed: nothing written"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/m.skiff"))
        let forced = try SkiffRun("convert", "keras", "\(Self.f)/k3_functional.keras", "-o", dir + "/m.skiff", "--verify-with", input, try perturbed(), "--force")
        #expect(forced.status == 0)
        let records = try #require(try SkiffFile(path: dir + "/m.skiff").manifest.verification)
        #expect(records.map(\.kind) == ["self-check", "reference"])
        #expect(records[1].passed == false && records[0].passed)
        #expect(records[1].inputs.hasPrefix("sha256:"))
        let ok = try SkiffRun("convert", "keras", "\(Self.f)/k3_functional.keras", "-o", dir + "/ok.skiff", "--verify-with", input, "\(Self.f)/k3_functional.out0.npy")
        #expect(ok.status == 0)
        let inspect = try SkiffRun("inspect", dir + "/ok.skiff")
        #expect(inspect.stdout.contains("verification (reference"))
        #expect(inspect.stdout.contains("passed with atol 1e-05, rtol 0.0001, fp32 weights; sha256:"))
    }
}
