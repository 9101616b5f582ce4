import ArgumentParser
import Engine
import Foundation
import Formats
import Importers

extension Skiff {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a .skiff model on .npy tensors and write its outputs as .npy files.",
            discussion: "With one model input, --input X.npy feeds it; otherwise name each: --input image=X.npy.")

        @Argument(help: "The .skiff model.")
        var model: String

        @Option(name: .customLong("input"), help: "An input tensor: FILE.npy or NAME=FILE.npy (repeatable).")
        var inputs: [String] = []

        @Option(help: "Where to write the output (models with one output).")
        var output: String?

        @Option(help: "Directory for one NAME.npy per output.")
        var outputDir: String?

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if inputs.isEmpty { throw ValidationError("give at least one --input") }
            if (output == nil) == (outputDir == nil) { throw ValidationError("give exactly one of --output and --output-dir") }
        }

        func run() throws {
            let file = try SkiffFile(path: model)
            let engine = try Model(file: file)
            let graphInputs = file.manifest.graph.inputs.map(\.name)
            var feeds: [String: TypedTensor] = [:]
            for spec in inputs {
                let (name, path) = try ReferenceData.split(spec, names: graphInputs, what: "input")
                let npy = try NpyArray(path: path)
                // Any numeric .npy feeds a float32 input (converted, as before); other inputs take their own type.
                let expected = file.manifest.graph.inputs.first { $0.name == name }?.dtype ?? .float32
                feeds[name] = expected == .float32 ? TypedTensor(Tensor(npy)) : try TypedTensor(npy)
            }
            let results = try engine.run(typed: feeds)
            let outputs = file.manifest.graph.outputs
            if let output {
                guard outputs.count == 1 else {
                    throw ValidationError("the model has \(outputs.count) outputs; use --output-dir")
                }
                try results[outputs[0].name]!.npy.write(to: output)
            } else if let outputDir {
                try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
                for o in outputs {
                    let safe = o.name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "_" }
                    try results[o.name]!.npy.write(to: "\(outputDir)/\(String(safe)).npy")
                }
            }
            if global.json {
                try CLIOutput.printJSON(Dictionary(uniqueKeysWithValues: outputs.map { ($0.name, results[$0.name]!.shape) }))
            }
        }
    }
}
