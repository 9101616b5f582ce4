import ArgumentParser
import Engine
import Foundation
import Formats
import Packager
import Serving

extension Skiff {
    struct Package: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Package a model for deployment.",
            subcommands: [LambdaContextCommand.self, S3.self])
    }
}

/// The model a packaging command deploys: a recipe (converted from `--from`) or a ready `.skiff` file.
struct DeployableModel {
    var recipe: Recipe?
    /// The .skiff to ship (a converted temporary file when a recipe converted it).
    var path: String
    var classifier: Classifier
    var conversion: Converter.Summary?

    /// Resolves `--model` and `--from`, converts with the recipe's settings and checks the result can serve.
    /// - Parameter requireImage: Lambda needs an image signature; an S3 model folder takes tensor-input models too.
    static func prepare(model: String, from: String?, labels: String?, scratch: URL, requireImage: Bool = true) throws -> DeployableModel {
        var recipe: Recipe?
        var path = model
        var summary: Converter.Summary?
        if model.hasSuffix(".skiff") {
            if from != nil { throw ValidationError("--from converts a recipe's source; --model \(model) is already a .skiff file") }
            if labels != nil { throw ValidationError("--labels applies when converting; convert the model again with --labels instead") }
        } else {
            let r = try RecipeBook.find(model)
            recipe = r
            guard let from else {
                throw ValidationError("recipe '\(r.name)' converts a source model Skiff does not ship; pass it with --from (\(r.source.description ?? "a .\(r.source.format) file"))")
            }
            let lower = from.lowercased()
            let format = lower.hasSuffix(".skiff") ? "skiff" : lower.hasSuffix(".keras") ? "keras" : (lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5")) ? "h5" : r.source.format
            if format == "skiff" {
                path = from
            } else {
                guard FileManager.default.fileExists(atPath: from) else { throw FormatsError(.io, "does not exist (the --from source for recipe '\(r.name)')", file: from) }
                path = scratch.appendingPathComponent("model.skiff").path
                var args = r.convertArguments
                if let labels, let i = args.firstIndex(of: "--labels") { args.removeSubrange(i...(i + 1)) }
                if let labels { args += ["--labels", labels] }
                let options = try ConvertOptions.parse(args + ["-o", path])
                summary = try Converter(options: options, source: from, read: {
                    format == "keras" ? try KerasReader.readArchive(path: from) : try KerasReader.readH5(path: from)
                }, quiet: true).run()
            }
        }
        let classifier = try Classifier(path: path, name: recipe?.name, requireImage: requireImage)
        // Serve-readiness: one batch of zeros through the engine (a blank image, or zero tensors), outputs finite.
        var probe: [String: Tensor] = [:]
        if let spec = classifier.image {
            probe[spec.input] = Tensor(shape: [1, spec.height, spec.width, spec.channels], values: [Float](repeating: 0, count: spec.height * spec.width * spec.channels))
        } else {
            for input in classifier.model.graph.inputs {
                let shape = input.shape.map { $0.fixedValue ?? 1 }
                probe[input.name] = Tensor(shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *)))
            }
        }
        let out = try classifier.model.run(probe)
        if let bad = out.first(where: { $0.value.values.contains { !$0.isFinite } }) {
            throw FormatsError(.manifestInvalid, "output '\(bad.key)' is not finite on a blank input; the model cannot be deployed", file: path)
        }
        if let failed = classifier.file.manifest.verification?.first(where: { !$0.passed }) {
            throw FormatsError(.manifestInvalid, "carries a failed '\(failed.kind)' verification record; fix the conversion before deploying", file: path)
        }
        return DeployableModel(recipe: recipe, path: path, classifier: classifier, conversion: summary)
    }

    var summary: String {
        guard let s = classifier.image else {
            let inputs = classifier.model.graph.inputs.map { "\($0.name) \($0.shape.map { $0.fixedValue.map(String.init) ?? "?" }.joined(separator: "×"))" }
            return (recipe?.description ?? "model '\(classifier.name)'") + "; tensor input " + inputs.joined(separator: ", ")
        }
        let classes = classifier.model.graph.outputs.first { $0.name == classifier.output }?.shape.last?.fixedValue
        var parts = ["\(s.width)×\(s.height)×\(s.channels) JPEG input (\(s.normalization.preset) preprocessing)"]
        if let classes { parts.append("\(classes) classes") }
        if classifier.labels != nil { parts.append("labelled") }
        return (recipe?.description ?? "image classifier '\(classifier.name)'") + "; " + parts.joined(separator: ", ")
    }
}

extension Skiff.Package {
    struct LambdaContextCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lambda",
            abstract: "Write a Docker build context for an AWS Lambda container image served by Skiff's runtime.",
            discussion: """
            --model is a recipe name (see 'skiff recipes'), a recipe file, or a .skiff model with an image signature. \
            A recipe's source model is converted from --from and checked before anything is written. The context holds \
            a Dockerfile (multi-stage build of the runtime from source, or --prebuilt: this machine's binary), the \
            entrypoint, the model, a SAM template, push.sh, a README and manifest.json with every file's sha256.
            """)

        @Option(help: "A recipe name or file, or a .skiff model.")
        var model: String?

        @Option(name: .customLong("model-source"), help: "s3://BUCKET/PREFIX/NAME[/VERSION] (see 'skiff package s3'): build an image without the model; the runtime downloads and checks it during init.")
        var modelSource: String?

        @Option(help: "The source model a recipe converts (.h5 or .keras).")
        var from: String?

        @Option(name: .shortAndLong, help: "Output folder (default: NAME-lambda).")
        var output: String?

        @Option(help: "x86_64 or arm64 (default: the recipe's, else x86_64).")
        var arch: String?

        @Option(help: "Lambda memory in MB (default: the recipe's, else 1024).")
        var memory: Int?

        @Option(help: "Lambda timeout in seconds (default: the recipe's, else 30).")
        var timeout: Int?

        @Option(help: "Classes returned per image (default: the recipe's, else 5).")
        var top: Int?

        @Option(help: "Labels file replacing the recipe's (text, CSV or JSON).")
        var labels: String?

        @Option(help: "Function, image and stack name (default: the recipe's name or the model's file name).")
        var name: String?

        @Flag(help: "Copy this machine's skiff binary and its shared libraries instead of building from source (host must match --arch).")
        var prebuilt = false

        @Flag(help: "Replace the output folder if it exists.")
        var force = false

        @OptionGroup var global: GlobalOptions

        struct Report: Encodable {
            var context: String
            var mode: String
            var settings: LambdaContext.Settings
            var files: Int
            var bytes: Int
            var modelSHA256: String?
            var conversion: Converter.Summary?
        }

        func validate() throws {
            if model == nil && modelSource == nil { throw ValidationError("give --model (a recipe or a .skiff file) or --model-source s3://…") }
        }

        func run() throws {
            let fm = FileManager.default
            let scratch = fm.temporaryDirectory.appendingPathComponent("skiff-package-\(ProcessInfo.processInfo.processIdentifier)")
            try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? fm.removeItem(at: scratch) }
            var source: S3ModelSource?
            if let modelSource { do { source = try S3ModelSource(modelSource) } catch let e as ServingError { throw ValidationError(e.message) } }
            // With --model-source the model is not baked in; --model (if given) only supplies a recipe's deploy settings.
            let deployable: DeployableModel? = source != nil && (model == nil || from == nil) ? nil
                : try DeployableModel.prepare(model: model!, from: from, labels: labels, scratch: scratch)
            let recipe = try deployable?.recipe ?? model.flatMap { $0.hasSuffix(".skiff") ? nil : try RecipeBook.find($0) }
            let functionName = name ?? recipe?.name ?? deployable?.classifier.name ?? source!.name
            var check = recipe ?? Recipe(name: functionName.isEmpty ? "model" : functionName, description: "", source: .init(format: "skiff"))
            check.name = functionName
            check.path = nil
            check.convert.labels = nil
            if let arch { check.deploy.architecture = arch }
            if let memory { check.deploy.memory = memory }
            if let timeout { check.deploy.timeout = timeout }
            if let top { check.deploy.topK = top }
            do { try check.validate() } catch let e as FormatsError { throw ValidationError(e.message.replacingOccurrences(of: "field 'deploy.", with: "'--").replacingOccurrences(of: "field 'name'", with: "--name")) }
            var settings = LambdaContext.Settings(
                name: functionName, memory: check.deploy.memory, timeout: check.deploy.timeout, architecture: check.deploy.architecture,
                topK: check.deploy.topK, mode: prebuilt ? .prebuilt : .source,
                modelSummary: deployable?.summary ?? "the model published at \(source!.uri) (downloaded and checked against its manifest during init)",
                modelSource: source?.uri)
            settings.sinks = check.sinks
            var runtimeFiles: [String: String] = [:]
            if prebuilt { runtimeFiles = try Self.prebuiltRuntime(for: settings.architecture) }
            let dir = output ?? "\(functionName)-lambda"
            let manifest = try LambdaContext(settings: settings).write(
                to: dir, model: source == nil ? deployable?.path : nil, recipe: recipe?.name, sourceRoot: SourceTree.root(), runtimeFiles: runtimeFiles, replace: force)
            let bytes = manifest.files.reduce(0) { $0 + $1.size }
            if global.json {
                return try CLIOutput.printJSON(Report(context: dir, mode: settings.mode.rawValue, settings: settings, files: manifest.files.count + 1,
                                                      bytes: bytes, modelSHA256: manifest.model_sha256, conversion: deployable?.conversion))
            }
            if let c = deployable?.conversion {
                print("converted \(from ?? "") with recipe '\(recipe?.name ?? "")': \(c.nodes) nodes, \(CLIOutput.bytes(c.fileBytes))"
                      + (c.verification.first.map { ", self-check \($0.passed ? "ok" : "FAILED")" } ?? ""))
            }
            print("wrote \(dir)/ (\(settings.mode.rawValue) build, \(settings.architecture), \(settings.memory) MB, \(settings.timeout) s): \(manifest.files.count + 1) files, \(CLIOutput.bytes(bytes))")
            print("  model: \(settings.modelSummary)")
            print("  next:  cd \(dir) && ./push.sh      (see \(dir)/README.md)")
        }

        /// This binary and the shared libraries it links (except the C library, which every image has).
        static func prebuiltRuntime(for arch: String) throws -> [String: String] {
            #if arch(x86_64)
            let host = "x86_64"
            #elseif arch(arm64)
            let host = "arm64"
            #else
            let host = "unknown"
            #endif
            #if !os(Linux)
            throw ValidationError("--prebuilt needs a Linux host; build from source instead (drop --prebuilt)")
            #endif
            guard host == arch else { throw ValidationError("--prebuilt copies this machine's \(host) binary, but the target is \(arch); drop --prebuilt to build from source") }
            let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            var files = ["skiff": exe]
            let ldd = Process()
            ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
            ldd.arguments = [exe]
            let pipe = Pipe()
            ldd.standardOutput = pipe
            ldd.standardError = FileHandle.nullDevice
            try ldd.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            ldd.waitUntilExit()
            guard ldd.terminationStatus == 0 else { throw ValidationError("ldd could not list the libraries of \(exe)") }
            let system = ["libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "ld-linux", "linux-vdso", "libresolv.so"]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard let arrow = parts.firstIndex(of: "=>"), arrow + 1 < parts.count, parts[arrow + 1].hasPrefix("/") else { continue }
                let name = String(parts[0].trimmingCharacters(in: .whitespaces))
                if system.contains(where: { name.hasPrefix($0) }) { continue }
                files["lib/" + name] = String(parts[arrow + 1])
            }
            return files
        }
    }
}
