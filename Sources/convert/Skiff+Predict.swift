import ArgumentParser
import Engine
import Foundation
import Formats

extension Skiff {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classify images with a .skiff model that has an image signature (convert --image).",
            discussion: "Images may be JPEG files, '-' for standard input (raw JPEG or base64), or --b64 text (standard or web-safe base64, or a data: URI). All images run as one batch.")

        @Argument(help: "The .skiff model.")
        var model: String

        @Argument(help: "JPEG files, or '-' for standard input.")
        var images: [String] = []

        @Option(help: "A base64-encoded image (repeatable).")
        var b64: [String] = []

        @Option(name: .long, help: "How many classes to show per image.")
        var top: Int = 5

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if images.isEmpty && b64.isEmpty { throw ValidationError("give at least one image (a file, '-', or --b64)") }
            if top < 1 { throw ValidationError("--top must be at least 1") }
        }

        struct Score: Encodable {
            var label: String?
            var index: Int
            var score: Float
        }
        struct Answer: Encodable {
            var image: String
            var top: [Score]
        }
        struct Report: Encodable {
            var model: String
            var predictions: [Answer]
            var milliseconds: Double
        }

        func run() throws {
            let file = try SkiffFile(path: model)
            guard let spec = file.manifest.images?.first else {
                throw ValidationError("'\(model)' has no image signature; convert it with --image auto --preprocess PRESET (or use 'skiff run' with tensors)")
            }
            let engine = try Model(file: file)
            var inputs: [(String, [UInt8])] = []
            for path in images {
                if path == "-" {
                    inputs.append(("<stdin>", Array(FileHandle.standardInput.readDataToEndOfFile())))
                } else {
                    guard let d = FileManager.default.contents(atPath: path) else { throw FormatsError(.io, "cannot read the image", file: path) }
                    inputs.append((path, Array(d)))
                }
            }
            for (i, text) in b64.enumerated() { inputs.append(("--b64 #\(i + 1)", Array(text.utf8))) }

            let start = Date()
            let pipeline = ImagePipeline(spec)
            var tensors: [Tensor] = []
            for (name, bytes) in inputs {
                do { tensors.append(try pipeline.tensor(bytes)) } catch let e as EngineError { throw EngineError("image '\(name)': \(e.message)") }
            }
            let batch = Tensor(shape: [tensors.count, spec.height, spec.width, spec.channels], values: tensors.flatMap(\.values))
            let graph = file.manifest.graph
            let output = graph.outputs.first { file.manifest.labels?[$0.name] != nil } ?? graph.outputs[0]
            let result = try engine.run([spec.input: batch])[output.name]!
            let classes = result.count / max(tensors.count, 1)
            let labels = file.manifest.labels?[output.name]
            let answers = inputs.enumerated().map { i, input in
                let row = Array(result.values[(i * classes)..<((i + 1) * classes)])
                let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                return Answer(image: input.0, top: order.prefix(top).map { Score(label: labels?[$0], index: $0, score: row[$0]) })
            }
            let report = Report(model: model, predictions: answers, milliseconds: (Date().timeIntervalSince(start) * 1e5).rounded() / 100)
            if global.json { return try CLIOutput.printJSON(report) }
            for a in answers {
                print(a.image)
                for s in a.top {
                    let name = s.label ?? "class \(s.index)"
                    let bar = String(repeating: "█", count: max(0, min(30, Int((s.score * 30).rounded()))))
                    print("  " + name.padding(toLength: max(12, name.count), withPad: " ", startingAt: 0) + String(format: " %.4f ", s.score) + bar)
                }
            }
        }
    }
}
