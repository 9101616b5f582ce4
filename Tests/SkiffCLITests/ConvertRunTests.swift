import Foundation
import Formats
import Importers
import Testing
import TestSupport

@Suite struct ConvertRunTests {
    func fixture(_ name: String, _ kind: String = "h5") throws -> KerasFixture {
        try #require(KerasFixture.models.first { $0.name == name && $0.kind == kind })
    }

    /// What `convert` leaves in its output directory and in `$TMPDIR` that it should not.
    static func leftovers(_ dir: String, _ tmp: String) -> [String] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(".tmp-") }
            + ((try? fm.contentsOfDirectory(atPath: tmp)) ?? []).map { "$TMPDIR/" + $0 }
    }

    /// SIGTERM while `convert keras` holds temporary files (extracted weights in `$TMPDIR`, the output's
    /// `.tmp-PID-RAND`): the process removes them, then dies of the signal.
    @Test func aConvertKilledMidWayLeavesNoTemporaryFiles() throws {
        let source = try fixture("k3_spatial", "keras").path()
        var interrupted = 0, log: [String] = []
        for _ in 0..<20 where interrupted < 2 {
            let dir = try temporaryDirectory(), tmp = dir + "/tmp"
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: SkiffRun.binary)
            p.arguments = ["convert", "keras", source, "-o", dir + "/m.skiff"]
            p.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { _, new in new }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            // The child inherits this thread's signal mask: unblock SIGTERM as in a shell, so that without the
            // handler the signal would kill it on the spot.
            var unblock = sigset_t(), old = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGTERM)
            pthread_sigmask(SIG_UNBLOCK, &unblock, &old)
            defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
            try p.run()
            // Signal as soon as a temporary file exists.
            let deadline = Date().addingTimeInterval(60)
            var seen: [String] = []
            while p.isRunning && Date() < deadline {
                seen = Self.leftovers(dir, tmp)
                if !seen.isEmpty { kill(p.processIdentifier, SIGTERM); break }
            }
            p.waitUntilExit()
            log.append("saw \(seen), exit \(p.terminationReason == .uncaughtSignal ? "signal" : "status") \(p.terminationStatus)")
            if p.terminationReason == .uncaughtSignal {
                interrupted += 1
                #expect(p.terminationStatus == SIGTERM)
            }
            #expect(Self.leftovers(dir, tmp).isEmpty, "left behind: \(Self.leftovers(dir, tmp))")
        }
        #expect(interrupted > 0, "convert was never caught holding a temporary file: \(log)")
    }

    /// An error after the weights were extracted and while writing the output removes both temporary files.
    @Test func aFailedWriteLeavesNoTemporaryFiles() throws {
        let dir = try temporaryDirectory(), tmp = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/m.skiff/occupied", withIntermediateDirectories: true)  // rename fails
        let r = try SkiffRun(arguments: ["convert", "keras", try fixture("k3_spatial", "keras").path(), "-o", dir + "/m.skiff"], environment: ["TMPDIR": tmp])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("m.skiff"), "\(r.stderr)")
        #expect(Self.leftovers(dir, tmp).isEmpty, "left behind: \(Self.leftovers(dir, tmp))")
    }

    /// libhdf5 1.10 crashes (SIGSEGV in H5HG_read) on a global heap collection whose size is smaller than its
    /// objects; `convert h5` reads HDF5 in a child process, so that is one error line, not a crash.
    @Test func aCrashingHDF5FileIsAnErrorLine() throws {
        let dir = try temporaryDirectory()
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try fixture("k3_functional").path())))
        let gcol = try #require((0..<(bytes.count - 16)).first { bytes[$0..<($0 + 4)].elementsEqual("GCOL".utf8) })
        for i in 0..<8 { bytes[gcol + 8 + i] = i == 0 ? 16 : 0 }  // collection size 16
        let bad = dir + "/bad.h5"
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        let r = try SkiffRun("convert", "h5", bad, "-o", dir + "/m.skiff")
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("skiff: error: '\(bad)': cannot read the file: the HDF5 library failed on it (the reader died of "), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/m.skiff"))
        // A reader that does not finish in time is stopped (here: an absurdly short limit on a good file).
        let slow = try SkiffRun(arguments: ["convert", "h5", try fixture("k3_functional").path(), "-o", dir + "/m.skiff"], environment: ["SKIFF_H5_TIMEOUT": "0.001"])
        #expect(slow.status == 2)
        #expect(slow.stderr.contains("the HDF5 library did not finish within 0.001 s"), "\(slow.stderr)")
        // Errors the reader reports pass through unchanged.
        let notKeras = dir + "/empty.h5"
        try Data(bytes.prefix(0)).write(to: URL(fileURLWithPath: notKeras))
        let e = try SkiffRun("convert", "h5", notKeras, "-o", dir + "/m.skiff")
        #expect(e.status == 2 && e.stderr.hasPrefix("skiff: error: '\(notKeras)': "), "\(e.stderr)")
        #expect(!e.stderr.contains("HDF5 library failed"), "\(e.stderr)")
    }

    @Test func convertThenRunReproducesKeras() throws {
        let dir = try temporaryDirectory()
        let f = try fixture("k3_sequential")
        let c = try SkiffRun("convert", "h5", f.path(), "-o", dir + "/m.skiff")
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.stdout.hasPrefix("wrote \(dir)/m.skiff: 10 layers → "))
        let r = try SkiffRun("run", dir + "/m.skiff", "--input", "\(KerasFixture.directory)/k3_sequential.in0.npy", "--output", dir + "/y.npy")
        #expect(r.status == 0, "\(r.stderr)")
        let y = try NpyArray(path: dir + "/y.npy"), expected = try NpyArray(path: "\(KerasFixture.directory)/k3_sequential.out0.npy")
        #expect(y.shape == expected.shape)
        expectClose(y.floats, expected.floats, atol: 1e-5, rtol: 1e-4)
    }

    @Test func defaultOutputSitsBesideTheInputAndJSONSummary() throws {
        let dir = try temporaryDirectory()
        let f = try fixture("k3_functional", "keras")
        try FileManager.default.copyItem(atPath: f.path(), toPath: dir + "/model.keras")
        let c = try SkiffRun("convert", "keras", dir + "/model.keras", "--json", "--precision", "fp16")
        #expect(c.status == 0, "\(c.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as? [String: Any])
        #expect(json["output"] as? String == dir + "/model.skiff")
        #expect(json["sourceFormat"] as? String == "keras-v3")
        #expect((json["parameters"] as? Int ?? 0) > 1000)
        #expect((json["optimizations"] as? [String: Int])?["foldedScaleShift"] == 4)
        let file = try SkiffFile(path: dir + "/model.skiff")
        #expect(file.tensors.allSatisfy { $0.dtype == ($0.shape.count >= 2 ? .float16 : .float32) })
        #expect(file.manifest.provenance.options?["precision"] == "fp16")
    }

    @Test func multipleInputsAreNamedAndOutputsGoToADirectory() throws {
        let dir = try temporaryDirectory()
        let f = try fixture("k3_multi_io")
        #expect(try SkiffRun("convert", "h5", f.path(), "-o", dir + "/m.skiff").status == 0)
        let unnamed = try SkiffRun("run", dir + "/m.skiff", "--input", "\(KerasFixture.directory)/k3_multi_io.in0.npy", "--output-dir", dir + "/out")
        #expect(unnamed.status == 2)
        #expect(unnamed.stderr.contains("the model has 2 inputs (a, b); name each"))
        let r = try SkiffRun("run", dir + "/m.skiff", "--input", "a=\(KerasFixture.directory)/k3_multi_io.in0.npy",
                             "--input", "b=\(KerasFixture.directory)/k3_multi_io.in1.npy", "--output-dir", dir + "/out")
        #expect(r.status == 0, "\(r.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/out").sorted()
        #expect(names == ["probs.npy", "score.npy"])
        let score = try NpyArray(path: dir + "/out/score.npy"), expected = try NpyArray(path: "\(KerasFixture.directory)/k3_multi_io.out1.npy")
        expectClose(score.floats, expected.floats, atol: 1e-5, rtol: 1e-4)
    }

    @Test(arguments: [
        ("labels.txt", "cat\ndog\nfish\nbird\n"),
        ("labels.csv", "id,breed\n0,cat\n1,dog\n2,fish\n3,bird\n"),
        ("labels.json", #"["cat", "dog", "fish", "bird"]"#),
        ("map.json", #"{"0": "cat", "1": "dog", "2": "fish", "3": "bird"}"#),
    ])
    func labelsAreStoredForTheOutput(file: String, text: String) throws {
        let dir = try temporaryDirectory()
        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(dir)/\(file)"))
        let f = try fixture("tfk_sequential")
        let c = try SkiffRun("convert", "h5", f.path(), "-o", dir + "/m.skiff", "--labels", "\(dir)/\(file)")
        #expect(c.status == 0, "\(c.stderr)")
        let m = try SkiffFile(path: dir + "/m.skiff").manifest
        #expect(m.labels?[m.graph.outputs[0].name] == ["cat", "dog", "fish", "bird"])
    }

    @Test func wrongLabelCountWritesNothing() throws {
        let dir = try temporaryDirectory()
        try Data("a\nb\n".utf8).write(to: URL(fileURLWithPath: dir + "/l.txt"))
        let c = try SkiffRun("convert", "h5", try fixture("tfk_sequential").path(), "-o", dir + "/m.skiff", "--labels", dir + "/l.txt")
        #expect(c.status == 2)
        #expect(c.stderr.contains("has 2 labels (read as text, one name per line), but the model's output"))
        #expect(c.stderr.contains("has 4 classes"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["l.txt"])
    }

    @Test func refusedModelsWriteNothingAndExit2() throws {
        let dir = try temporaryDirectory()
        let f = try #require(KerasFixture.errors.first { $0.name == "tfk_lambda" })
        let c = try SkiffRun("convert", "h5", f.path(), "-o", dir + "/m.skiff")
        #expect(c.status == 2)
        #expect(c.stderr.hasPrefix("skiff: error: "))
        #expect(c.stderr.contains("'Lambda' (double_it)"))
        #expect(c.stderr.split(separator: "\n").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func weightsAndConfigFlags() throws {
        let dir = try temporaryDirectory()
        let f = try fixture("tfk_weights_legacy", "weights+config")
        let c = try SkiffRun("convert", "h5", "--weights", f.path(0), "--config", f.path(1), "-o", dir + "/m.skiff")
        #expect(c.status == 0, "\(c.stderr)")
        let bad = try SkiffRun("convert", "h5", "--weights", f.path(0))
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("give a model file, or both --weights and --config"))
    }
}
