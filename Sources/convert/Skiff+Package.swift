import ArgumentParser
import Engine
import Foundation
import Formats
import Importers
import Packager
import Serving
import HTTPServer

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

    /// `--model NAME|FILE.skiff|FILE.yaml` or `--recipe FILE` as one string for `prepare` (nil when neither is given).
    static func choose(model: String?, recipe: String?) throws -> String? {
        if let recipe {
            if model != nil { throw ValidationError("give --model or --recipe FILE, not both") }
            guard !recipe.hasSuffix(".skiff") else { throw ValidationError("--recipe takes a recipe file (.yaml); pass a .skiff model with --model") }
            return recipe
        }
        return model
    }

    /// A recipe by name (`RecipeBook`) or, for `--recipe FILE`, the file whatever its extension.
    static func recipe(_ nameOrFile: String, isFile: Bool) throws -> Recipe {
        isFile ? try Recipe.load(path: nameOrFile) : try RecipeBook.find(nameOrFile)
    }

    /// Resolves `--model` (or `--recipe FILE`) and `--from`, converts with the recipe's settings and checks the result can serve.
    /// - Parameter requireImage: Lambda needs an image signature; an S3 model folder takes tensor-input models too.
    static func prepare(model: String, recipeFile: Bool = false, from: String?, labels: String?, scratch: URL, requireImage: Bool = true) throws -> DeployableModel {
        var recipe: Recipe?
        var path = model
        var summary: Converter.Summary?
        if model.hasSuffix(".skiff") && !recipeFile {
            if from != nil { throw ValidationError("--from converts a recipe's source; --model \(model) is already a .skiff file") }
            if labels != nil { throw ValidationError("--labels applies when converting; convert the model again with --labels instead") }
        } else {
            let r = try Self.recipe(model, isFile: recipeFile)
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
                var args = r.convertArgumentsWithoutLabels
                if let labelsFile = try labels ?? r.writeLabels(into: scratch) { args += ["--labels", labelsFile] }
                let options = try ConvertOptions.parse(args + ["-o", path])
                summary = try Converter(options: options, source: from, read: {
                    format == "keras" ? try IsolatedH5.read(model: nil, weights: nil, config: nil, keras: from)
                        : try IsolatedH5.read(model: from, weights: nil, config: nil)
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
            --model is a recipe name (see 'skiff recipes'), a recipe file, or a .skiff model with an image signature; \
            --recipe FILE takes your own recipe file. A recipe's source model is converted from --from and checked before \
            anything is written. The context holds a Dockerfile, the entrypoint, the model, a SAM template, push.sh, a \
            README and manifest.json with every file's sha256. The Dockerfile builds the runtime from Skiff's source \
            ($SKIFF_SOURCE, else the checkout this binary was built in); without a source tree (a skiff binary copied \
            elsewhere) or with --prebuilt it ships this machine's binary instead, which needs a Linux host of the target \
            architecture.
            """)

        @Option(help: "A recipe name or file, or a .skiff model.")
        var model: String?

        @Option(name: .customLong("recipe"), help: "Your own recipe file (YAML), instead of --model NAME.")
        var recipeFile: String?

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

        @Flag(help: "Copy this machine's skiff binary and its shared libraries instead of building from source (host must match --arch; the default when no Skiff source tree is found).")
        var prebuilt = false

        @Flag(help: "Replace the output folder if it exists.")
        var force = false

        @Flag(help: "Build the Lambda container image itself, without Docker: an OCI image layout in -o DIR, and/or pushed with --push.")
        var image = false

        @Option(help: ArgumentHelp("With --image: push to REGISTRY/REPOSITORY:TAG (OCI distribution API; credentials from the Docker config, or --registry-user and $SKIFF_REGISTRY_PASSWORD).", valueName: "ref"))
        var push: String?

        @Option(name: .customLong("registry-user"), help: "With --push: the registry user name (the password comes from $SKIFF_REGISTRY_PASSWORD, never the command line).")
        var registryUser: String?

        @Flag(name: .customLong("create-repository"), help: "With --push to ECR: create the repository if it does not exist.")
        var createRepository = false

        @Option(help: "With --image: the runtime executable to ship (default: the skiff-runtime beside this skiff), checked against --arch by its ELF header.")
        var runtime: String?

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
            if model == nil && recipeFile == nil && modelSource == nil { throw ValidationError("give --model (a recipe or a .skiff file), --recipe FILE or --model-source s3://…") }
            if model != nil && recipeFile != nil { throw ValidationError("give --model or --recipe FILE, not both") }
            if !image && (push != nil || runtime != nil || registryUser != nil) { throw ValidationError("--push, --runtime and --registry-user go with --image") }
            if createRepository && push == nil { throw ValidationError("--create-repository goes with --push to an ECR registry") }
            if image && prebuilt { throw ValidationError("--image already ships a prebuilt runtime; drop --prebuilt") }
        }

        func run() throws {
            let fm = FileManager.default
            let scratch = fm.temporaryDirectory.appendingPathComponent("skiff-package-\(ProcessInfo.processInfo.processIdentifier)")
            try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? fm.removeItem(at: scratch) }
            var source: S3ModelSource?
            if let modelSource { do { source = try S3ModelSource(modelSource) } catch let e as ServingError { throw ValidationError(e.message) } }
            // With --model-source the model is not baked in; --model (if given) only supplies a recipe's deploy settings.
            let chosen = try DeployableModel.choose(model: model, recipe: recipeFile), isFile = recipeFile != nil
            let deployable: DeployableModel? = source != nil && (chosen == nil || from == nil) ? nil
                : try DeployableModel.prepare(model: chosen!, recipeFile: isFile, from: from, labels: labels, scratch: scratch)
            let recipe = try deployable?.recipe ?? chosen.flatMap { $0.hasSuffix(".skiff") && !isFile ? nil : try DeployableModel.recipe($0, isFile: isFile) }
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
            // Source build from $SKIFF_SOURCE or the build checkout; without one, this machine's binary (said on stderr).
            var sourceRoot: String?
            if !prebuilt {
                try SourceTree.checkEnvironment()
                sourceRoot = SourceTree.root()
            }
            let implicitPrebuilt = !prebuilt && sourceRoot == nil
            var settings = LambdaContext.Settings(
                name: functionName, memory: check.deploy.memory, timeout: check.deploy.timeout, architecture: check.deploy.architecture,
                topK: check.deploy.topK, mode: sourceRoot == nil ? .prebuilt : .source,
                modelSummary: deployable?.summary ?? "the model published at \(source!.uri) (downloaded and checked against its manifest during init)",
                modelSource: source?.uri)
            settings.sinks = check.sinks
            if image { return try buildImage(settings: settings, deployable: deployable, source: source) }
            var runtimeFiles: [String: String] = [:]
            if settings.mode == .prebuilt { runtimeFiles = try Self.prebuiltRuntime(for: settings.architecture, implicit: implicitPrebuilt) }
            if implicitPrebuilt {
                CLIOutput.note("no Skiff source tree found (this skiff is not inside a checkout and SKIFF_SOURCE is unset), so the context ships this machine's skiff binary (--prebuilt); set SKIFF_SOURCE to a Skiff checkout to build the runtime from source instead")
            }
            let dir = output ?? "\(functionName)-lambda"
            let manifest = try LambdaContext(settings: settings).write(
                to: dir, model: source == nil ? deployable?.path : nil, recipe: recipe?.name, sourceRoot: sourceRoot, runtimeFiles: runtimeFiles, replace: force)
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

        /// The `skiff-runtime` beside this binary and the shared libraries it links (except the C library, which every image has).
        /// `implicit`: chosen because no source tree was found (the errors then say how to get one).
        static func prebuiltRuntime(for arch: String, implicit: Bool = false) throws -> [String: String] {
            #if arch(x86_64)
            let host = "x86_64"
            #elseif arch(arm64)
            let host = "arm64"
            #else
            let host = "unknown"
            #endif
            let noSource = "no Skiff source tree to build the runtime from (this skiff is not inside a checkout and SKIFF_SOURCE is unset)"
            #if !os(Linux)
            if implicit { throw ValidationError("\(noSource), and this machine's binary cannot run on Lambda (not Linux); set SKIFF_SOURCE to a Skiff checkout (see docs/DEPLOY.md)") }
            throw ValidationError("--prebuilt needs a Linux host; build from source instead (drop --prebuilt)")
            #endif
            if implicit && host != arch {
                throw ValidationError("\(noSource), and this machine's \(host) binary cannot serve --arch \(arch); set SKIFF_SOURCE to a Skiff checkout (see docs/DEPLOY.md), or target \(host)")
            }
            guard host == arch else { throw ValidationError("--prebuilt copies this machine's \(host) binary, but the target is \(arch); drop --prebuilt to build from source") }
            let exe = try LambdaRuntimeBinary.beside()
            var files = ["skiff-runtime": exe]
            let system = ["libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "ld-linux", "linux-vdso", "libresolv.so"]
            for lib in try SharedLibraries.of(exe) where lib.name != nil && !system.contains(where: { lib.name!.hasPrefix($0) }) {
                files["lib/" + lib.name!] = lib.path
            }
            return files
        }
    }
}

/// The shared libraries a binary loads, as `ldd` lists them: the name it asks for (nil for the dynamic loader,
/// which `ldd` lists by path only) and the file it resolves to.
enum SharedLibraries {
    static func of(_ path: String) throws -> [(name: String?, path: String)] {
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [path]
        let pipe = Pipe()
        ldd.standardOutput = pipe
        ldd.standardError = FileHandle.nullDevice
        try ldd.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldd.waitUntilExit()
        guard ldd.terminationStatus == 0 else { throw ValidationError("ldd could not list the libraries of \(path)") }
        var libraries: [(name: String?, path: String)] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespaces) }
            if let arrow = parts.firstIndex(of: "=>"), arrow + 1 < parts.count, parts[arrow + 1].hasPrefix("/") {
                libraries.append((parts[0], parts[arrow + 1]))
            } else if let first = parts.first, first.hasPrefix("/") {
                libraries.append((nil, first))
            }
        }
        return libraries
    }
}

/// Where `skiff package lambda` finds the lean runtime it ships: `skiff-runtime` in the folder of the running `skiff`
/// (`swift build` puts both products there).
enum LambdaRuntimeBinary {
    static let name = "skiff-runtime"

    static func beside() throws -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let path = exe.deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("no \(name) beside \(exe.path) (looked for \(path)); build it with 'swift build -c release --product \(name)' in the Skiff checkout, or pass --runtime PATH")
        }
        return path
    }
}
