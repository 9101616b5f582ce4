import ArgumentParser
import Engine
import Foundation
import Formats
import Importers
import Serving
import HTTPServer

extension Skiff {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classify images with a .skiff model that has an image signature (convert --image).",
            discussion: """
            Images may be JPEG or PNG files, folders of them, '-' for standard input (raw, or base64 text), or --b64 \
            text (standard or web-safe base64, or a data: URI). Every image gets its own result or error; the exit \
            code is 0 when all succeeded, 1 when any failed. --json prints the prediction schema that `skiff serve` \
            and the Lambda runtime answer with (docs/API.md).
            """)

        @Argument(help: "The .skiff model.")
        var model: String

        @Argument(help: "JPEG or PNG files, folders of them, or '-' for standard input.")
        var images: [String] = []

        @Option(help: "A base64-encoded image (repeatable).")
        var b64: [String] = []

        @Option(name: .long, help: "How many classes to show per image.")
        var top: Int = 5

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if images.isEmpty && b64.isEmpty { throw ValidationError("give at least one image (a file, a folder, '-', or --b64)") }
            if top < 1 { throw ValidationError("--top must be at least 1") }
        }

        /// Image files in a folder, by name: what `predict` and `verify --images` read from one.
        static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

        func inputs() throws -> [Classifier.NamedImage] {
            var inputs: [Classifier.NamedImage] = []
            let fm = FileManager.default
            for path in images {
                if path == "-" {
                    inputs.append(.init(name: "<stdin>", bytes: Array(FileHandle.standardInput.readDataToEndOfFile())))
                    continue
                }
                var isDirectory: ObjCBool = false
                guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { throw FormatsError(.io, "no such file or folder", file: path) }
                if isDirectory.boolValue {
                    let names = try fm.contentsOfDirectory(atPath: path).filter { Self.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                    guard !names.isEmpty else { throw FormatsError(.io, "the folder has no .jpg, .jpeg or .png files", file: path) }
                    for n in names {
                        let p = (path as NSString).appendingPathComponent(n)
                        guard let d = fm.contents(atPath: p) else { throw FormatsError(.io, "cannot read the image", file: p) }
                        inputs.append(.init(name: p, bytes: Array(d)))
                    }
                } else {
                    guard let d = fm.contents(atPath: path) else { throw FormatsError(.io, "cannot read the image", file: path) }
                    inputs.append(.init(name: path, bytes: Array(d)))
                }
            }
            for (i, text) in b64.enumerated() { inputs.append(.init(name: "--b64 #\(i + 1)", bytes: Array(text.utf8))) }
            return inputs
        }

        func run() throws {
            let classifier: Classifier
            do { classifier = try Classifier(path: model) } catch let e as FormatsError where e.code == .manifestInvalid && e.message.contains("no image signature") {
                throw ValidationError("'\(model)' has no image signature; convert it with --image auto --preprocess PRESET (or use 'skiff run' with tensors)")
            }
            let all = try inputs()
            // One batch per Classifier.maxBatch images (a folder may hold more).
            var report: PredictionReport?
            for start in stride(from: 0, to: all.count, by: Classifier.maxBatch) {
                let part = try classifier.predict(Array(all[start..<min(all.count, start + Classifier.maxBatch)]), top: top, keepGoing: true)
                if var r = report {
                    r.predictions += part.predictions
                    r.timing_ms.decode += part.timing_ms.decode
                    r.timing_ms.inference += part.timing_ms.inference
                    r.timing_ms.total += part.timing_ms.total
                    report = r
                } else {
                    report = part
                }
            }
            guard let report else { return }
            if global.json {
                print(report.json(pretty: true))
            } else {
                for p in report.predictions {
                    print(p.image)
                    if let e = p.error {
                        print("  error: \(e)")
                        continue
                    }
                    for s in p.top_k ?? [] {
                        let name = s.label ?? "class \(s.index)"
                        let bar = String(repeating: "█", count: max(0, min(30, Int((s.score * 30).rounded()))))
                        print("  " + name.padding(toLength: max(12, name.count), withPad: " ", startingAt: 0) + String(format: " %.4f ", s.score) + bar)
                    }
                }
            }
            if report.failed > 0 {
                CLIOutput.error("\(report.failed) of \(report.predictions.count) images could not be classified")
                throw ExitCode.checkFailed
            }
        }
    }
}
