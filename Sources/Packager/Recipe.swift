import Foundation
import Formats
import Importers
import Yams

/// A named deployable model (`recipes/NAME.yaml`): where its source comes from, how to convert it and how to
/// deploy it. Weights are never shipped; the user passes the source with `--from`.
public struct Recipe: Codable, Sendable, Equatable {
    public struct Source: Codable, Sendable, Equatable {
        /// `h5`, `keras` or `skiff` (an already converted file).
        public var format: String
        /// What to pass with `--from`, in words (shown by `skiff recipes`).
        public var description: String?
        public init(format: String, description: String? = nil) {
            self.format = format
            self.description = description
        }
    }

    public struct Conversion: Codable, Sendable, Equatable {
        /// `auto` or `WxH`.
        public var image: String = "auto"
        public var preprocess: String = "tf"
        public var resize: String?
        public var crop: String?
        /// A labels file (text, CSV or JSON), relative to the recipe file.
        public var labels: String?
        public var precision: String = "fp32"

        enum CodingKeys: String, CodingKey { case image, preprocess, resize, crop, labels, precision }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            image = try c.decodeIfPresent(String.self, forKey: .image) ?? "auto"
            preprocess = try c.decodeIfPresent(String.self, forKey: .preprocess) ?? "tf"
            resize = try c.decodeIfPresent(String.self, forKey: .resize)
            crop = try c.decodeIfPresent(String.self, forKey: .crop)
            labels = try c.decodeIfPresent(String.self, forKey: .labels)
            precision = try c.decodeIfPresent(String.self, forKey: .precision) ?? "fp32"
        }
    }

    public struct Deployment: Codable, Sendable, Equatable {
        /// Lambda memory in MB (128 … 10240); CPU share grows with it.
        public var memory: Int = 1024
        /// Lambda timeout in seconds (1 … 900).
        public var timeout: Int = 30
        /// `x86_64` or `arm64`.
        public var architecture: String = "x86_64"
        /// Classes returned per image.
        public var topK: Int = 5

        enum CodingKeys: String, CodingKey { case memory, timeout, architecture, topK = "top_k" }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            memory = try c.decodeIfPresent(Int.self, forKey: .memory) ?? 1024
            timeout = try c.decodeIfPresent(Int.self, forKey: .timeout) ?? 30
            architecture = try c.decodeIfPresent(String.self, forKey: .architecture) ?? "x86_64"
            topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? 5
        }
    }

    /// Where a deployment keeps what it predicted (defaults for the Lambda template's sink parameters).
    public struct Sinks: Codable, Sendable, Equatable {
        /// `s3://BUCKET/PREFIX` for the input images.
        public var storeImages: String?
        /// `postgres://USER@HOST:PORT/DB?sslmode=…` (never a password: the template takes a secret).
        public var record: String?
        /// `required` or `best-effort`, for both sinks unless `images_mode` / `record_mode` say otherwise.
        public var mode: String = "required"
        public var imagesMode: String?
        public var recordMode: String?

        enum CodingKeys: String, CodingKey { case storeImages = "store_images", record, mode, imagesMode = "images_mode", recordMode = "record_mode" }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            storeImages = try c.decodeIfPresent(String.self, forKey: .storeImages)
            record = try c.decodeIfPresent(String.self, forKey: .record)
            mode = try c.decodeIfPresent(String.self, forKey: .mode) ?? "required"
            imagesMode = try c.decodeIfPresent(String.self, forKey: .imagesMode)
            recordMode = try c.decodeIfPresent(String.self, forKey: .recordMode)
        }

        var bucketAndPrefix: (String, String) {
            guard let uri = storeImages, uri.hasPrefix("s3://") else { return ("", "inputs") }
            let parts = uri.dropFirst(5).split(separator: "/", maxSplits: 1).map(String.init)
            return (parts.first ?? "", parts.count > 1 ? parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "/")) : "inputs")
        }
        public var imageBucket: String { bucketAndPrefix.0 }
        public var imagePrefix: String { bucketAndPrefix.1 }
    }

    public var name: String
    public var description: String
    public var source: Source
    public var convert: Conversion
    public var deploy: Deployment
    public var sinks: Sinks
    /// The file the recipe was read from (not part of the YAML); nil for a built-in recipe.
    public var path: String?
    /// A recipe compiled into the binary (`BuiltinRecipes`, from the repository's `recipes/` folder).
    public var isBuiltin = false

    enum CodingKeys: String, CodingKey { case name, description, source, convert, deploy, sinks }

    public init(name: String, description: String, source: Source, convert: Conversion = .init(), deploy: Deployment = .init()) {
        self.name = name
        self.description = description
        self.source = source
        self.convert = convert
        self.deploy = deploy
        self.sinks = .init()
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        source = try c.decode(Source.self, forKey: .source)
        convert = try c.decodeIfPresent(Conversion.self, forKey: .convert) ?? .init()
        deploy = try c.decodeIfPresent(Deployment.self, forKey: .deploy) ?? .init()
        sinks = try c.decodeIfPresent(Sinks.self, forKey: .sinks) ?? .init()
    }

    static let allowedKeys: [String: Set<String>] = [
        "": ["name", "description", "source", "convert", "deploy", "sinks"],
        "sinks": ["store_images", "record", "mode", "images_mode", "record_mode"],
        "source": ["format", "description"],
        "convert": ["image", "preprocess", "resize", "crop", "labels", "precision"],
        "deploy": ["memory", "timeout", "architecture", "top_k"],
    ]
    public static let formats = ["h5", "keras", "skiff"]
    public static let architectures = ["x86_64", "arm64"]

    /// Largest recipe file read (real ones are under 2 KB).
    public static let maxBytes = 1 << 20

    /// Reads and checks a recipe file: unknown keys, wrong types and out-of-range values are errors naming the field.
    public static func load(path: String) throws -> Recipe {
        guard let data = try BoundedRead.contents(of: path, limit: maxBytes, what: "recipe") else { throw FormatsError(.io, "cannot read the recipe", file: path) }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    /// A recipe compiled into the binary, by file name (`squeezenet.yaml`).
    public static func builtin(file: String) throws -> Recipe {
        guard let text = BuiltinRecipes.recipes[file] else { throw FormatsError(.io, "no built-in recipe file '\(file)'") }
        return try parse(text, path: "built-in " + file, builtin: true)
    }

    /// Yams' `load` traps on a mapping key that is not plain text (`? {a: 1}: x`), and aliases can expand a small
    /// file into a huge tree, so the composed document is checked first: scalar keys, at most 64 levels, at most
    /// 100,000 nodes counting every alias expansion.
    static func checkTree(_ root: Yams.Node, path: String) throws {
        var budget = 100_000
        func walk(_ node: Yams.Node, _ depth: Int) throws {
            budget -= 1
            guard budget >= 0 else { throw FormatsError(.manifestInvalid, "expands to more than 100000 YAML values (through aliases?); a recipe is a small mapping", file: path) }
            guard depth <= 64 else { throw FormatsError(.manifestInvalid, "nests deeper than 64 levels; a recipe is a small mapping", file: path) }
            switch node {
            case .scalar, .alias: return
            case .sequence(let items): for item in items { try walk(item, depth + 1) }
            case .mapping(let pairs):
                for (key, value) in pairs {
                    guard case .scalar = key else { throw FormatsError(.manifestInvalid, "a mapping key must be plain text (found a \(key.sequence != nil ? "list" : "mapping") used as a key)", file: path) }
                    try walk(value, depth + 1)
                }
            }
        }
        try walk(root, 0)
    }

    /// Parses and checks recipe text; `path` names it in errors (and anchors relative label files unless `builtin`).
    static func parse(_ text: String, path: String, builtin: Bool = false) throws -> Recipe {
        // Parsed once: the node is checked, then both read as plain values (key checks) and decoded.
        let node: Yams.Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw FormatsError(.manifestInvalid, "is not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")", file: path)
        }
        if let node { try checkTree(node, path: path) }
        guard let node, let top = node.any as? [String: Any] else { throw FormatsError(.manifestInvalid, "a recipe must be a YAML mapping (name:, source:, convert:, deploy:)", file: path) }
        for (section, allowed) in allowedKeys {
            let table = section.isEmpty ? top : top[section] as? [String: Any]
            if !section.isEmpty, let v = top[section], !(v is [String: Any]) {
                throw FormatsError(.manifestInvalid, "'\(section)' must be a mapping", file: path)
            }
            for key in (table ?? [:]).keys.sorted() where !allowed.contains(key) {
                let field = section.isEmpty ? key : "\(section).\(key)"
                throw FormatsError(.manifestInvalid, "unknown field '\(field)' (expected one of: \(allowed.sorted().joined(separator: ", ")))", file: path)
            }
        }
        var recipe: Recipe
        do { recipe = try YAMLDecoder().decode(Recipe.self, from: node) } catch let DecodingError.keyNotFound(key, ctx) {
            throw FormatsError(.manifestInvalid, "missing field '\((ctx.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))'", file: path)
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw FormatsError(.manifestInvalid, "field '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' must be \(type == Int.self ? "an integer" : "text")", file: path)
        } catch {
            throw FormatsError(.manifestInvalid, "cannot read the recipe: \(error)", file: path)
        }
        recipe.path = builtin ? nil : path
        recipe.isBuiltin = builtin
        try recipe.validate()
        return recipe
    }

    /// Range and vocabulary checks shared by files and command-line overrides.
    public func validate() throws {
        func bad(_ field: String, _ expected: String) -> FormatsError {
            FormatsError(.manifestInvalid, "field '\(field)' \(expected)", file: path ?? (isBuiltin ? "built-in recipe '\(name)'" : "recipe '\(name)'"))
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw bad("name", "must be letters, digits, '-' or '_' (it names the function and the image)")
        }
        guard Self.formats.contains(source.format) else { throw bad("source.format", "must be one of \(Self.formats.joined(separator: ", ")), not '\(source.format)'") }
        guard ImageInput.Normalization.presets.contains(convert.preprocess) else {
            throw bad("convert.preprocess", "must be one of \(ImageInput.Normalization.presets.joined(separator: ", ")), not '\(convert.preprocess)'")
        }
        guard ["fp32", "fp16", "int8"].contains(convert.precision) else { throw bad("convert.precision", "must be fp32, fp16 or int8, not '\(convert.precision)'") }
        if convert.image != "auto" {
            let parts = convert.image.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (1...8192).contains($0) }) else { throw bad("convert.image", "must be 'auto' or WxH (e.g. 227x227), not '\(convert.image)'") }
        }
        guard (128...10240).contains(deploy.memory) else { throw bad("deploy.memory", "must be 128 … 10240 MB (Lambda's range), not \(deploy.memory)") }
        guard (1...900).contains(deploy.timeout) else { throw bad("deploy.timeout", "must be 1 … 900 seconds (Lambda's range), not \(deploy.timeout)") }
        guard Self.architectures.contains(deploy.architecture) else { throw bad("deploy.architecture", "must be x86_64 or arm64, not '\(deploy.architecture)'") }
        guard (1...1000).contains(deploy.topK) else { throw bad("deploy.top_k", "must be 1 … 1000, not \(deploy.topK)") }
        if isBuiltin, let labels = convert.labels, builtinLabelsKey.flatMap({ BuiltinRecipes.labels[$0] }) == nil {
            throw bad("convert.labels", "names '\(labels)', which is not among the built-in label files (\(BuiltinRecipes.labels.keys.sorted().joined(separator: ", ")))")
        }
        for (field, mode) in [("sinks.mode", sinks.mode), ("sinks.images_mode", sinks.imagesMode), ("sinks.record_mode", sinks.recordMode)] {
            if let mode, !["required", "best-effort"].contains(mode) { throw bad(field, "must be required or best-effort, not '\(mode)'") }
        }
        if let uri = sinks.storeImages, !uri.hasPrefix("s3://") || sinks.imageBucket.isEmpty {
            throw bad("sinks.store_images", "must be s3://BUCKET/PREFIX, not '\(uri)'")
        }
        if let uri = sinks.record {
            guard let url = URLComponents(string: uri), url.scheme == "postgres" || url.scheme == "postgresql", url.host != nil else {
                throw bad("sinks.record", "must be postgres://USER@HOST:PORT/DB?sslmode=…")
            }
            if url.password != nil { throw bad("sinks.record", "must not contain a password: deploy with a database secret (DatabaseSecretArn) instead") }
        }
        if let labels = labelsPath, !FileManager.default.fileExists(atPath: labels) {
            throw bad("convert.labels", "names '\(convert.labels!)', which does not exist (looked at \(labels))")
        }
    }

    /// The labels file, resolved against the recipe file's folder; nil for a built-in recipe (its labels are
    /// compiled in: `labelsText`, `writeLabels(into:)`).
    public var labelsPath: String? {
        guard let labels = convert.labels, !isBuiltin else { return nil }
        if labels.hasPrefix("/") { return labels }
        let base = path.map { URL(fileURLWithPath: $0).deletingLastPathComponent() } ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return base.appendingPathComponent(labels).standardizedFileURL.path
    }

    /// A built-in recipe's label file as a key of `BuiltinRecipes.labels` (`labels/imagenet1000.txt`).
    var builtinLabelsKey: String? {
        guard isBuiltin, let labels = convert.labels else { return nil }
        let key = URL(fileURLWithPath: "/recipes/" + labels).standardizedFileURL.path
        return key.hasPrefix("/recipes/") ? String(key.dropFirst("/recipes/".count)) : nil
    }

    /// The labels file's text: compiled in for a built-in recipe, else read from `labelsPath`.
    public func labelsText() throws -> String? {
        if isBuiltin { return builtinLabelsKey.flatMap { BuiltinRecipes.labels[$0] } }
        guard let path = labelsPath else { return nil }
        guard let data = try BoundedRead.contents(of: path, limit: LabelsFile.maxBytes, what: "labels file of recipe '\(name)'") else {
            throw FormatsError(.io, "cannot read the labels file of recipe '\(name)'", file: path)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A labels file `skiff convert --labels` can read: `labelsPath`, or for a built-in recipe its compiled-in
    /// labels written into `folder` under their own file name (the extension tells the format).
    public func writeLabels(into folder: URL) throws -> String? {
        guard isBuiltin else { return labelsPath }
        guard let key = builtinLabelsKey, let text = BuiltinRecipes.labels[key] else { return nil }
        let url = folder.appendingPathComponent(builtinLabelsFileName ?? "labels.txt")
        do { try Data(text.utf8).write(to: url) } catch { throw FormatsError(.io, "cannot write the recipe's labels", file: url.path) }
        return url.path
    }

    /// The `skiff convert` options this recipe stands for, except `--labels` (see `writeLabels(into:)`).
    public var convertArgumentsWithoutLabels: [String] {
        var args = ["--image", convert.image, "--preprocess", convert.preprocess, "--precision", convert.precision]
        if let r = convert.resize { args += ["--resize", r] }
        if let c = convert.crop { args += ["--crop", c] }
        return args
    }

    /// The `skiff convert` options this recipe stands for (a built-in recipe's labels by their file name, as
    /// `skiff recipes NAME --labels > FILE` writes them).
    public var convertArguments: [String] {
        var args = convertArgumentsWithoutLabels
        if let l = labelsPath ?? builtinLabelsFileName { args += ["--labels", l] }
        return args
    }

    /// A built-in recipe's labels file name (`imagenet1000.txt`).
    public var builtinLabelsFileName: String? { builtinLabelsKey.map { URL(fileURLWithPath: $0).lastPathComponent } }
}

/// Where recipes are found, first match per name winning: an explicit recipe file (`--recipe FILE`, or any
/// name ending in .yaml/.yml), then the folders in `$SKIFF_RECIPES` (separated by ':'), then the recipes built
/// into the binary (`BuiltinRecipes`). Nothing depends on the current directory or on where the binary is.
public enum RecipeBook {
    /// The folders named by `$SKIFF_RECIPES`, in order (missing ones are reported by `all`).
    public static func directories(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        (environment["SKIFF_RECIPES"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    /// The search path in words, for messages and `skiff recipes`.
    public static func searchPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let dirs = directories(environment: environment)
        return (dirs.isEmpty ? "" : "$SKIFF_RECIPES (\(dirs.joined(separator: ", "))), then ") + "the \(BuiltinRecipes.recipes.count) built-in recipes"
    }

    /// Every recipe in the search path (first wins per name), sorted by name. A `$SKIFF_RECIPES` entry that is
    /// not a readable folder is an error naming it.
    public static func all(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [Recipe] {
        var found: [String: Recipe] = [:]
        for dir in directories(environment: environment) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw FormatsError(.io, "is not a folder (named in $SKIFF_RECIPES, the recipe search path)", file: dir)
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: dir)
            for f in files.sorted() where f.hasSuffix(".yaml") || f.hasSuffix(".yml") {
                let r = try Recipe.load(path: dir + "/" + f)
                if found[r.name] == nil { found[r.name] = r }
            }
        }
        for file in BuiltinRecipes.recipes.keys.sorted() {
            let r = try Recipe.builtin(file: file)
            if found[r.name] == nil { found[r.name] = r }
        }
        return found.values.sorted { $0.name < $1.name }
    }

    /// A recipe by name, or a recipe file by path (anything ending in .yaml/.yml).
    public static func find(_ nameOrPath: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Recipe {
        if nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") { return try Recipe.load(path: nameOrPath) }
        let all = try all(environment: environment)
        if let r = all.first(where: { $0.name == nameOrPath }) { return r }
        throw FormatsError(.io, "no recipe named '\(nameOrPath)' (known: \(all.map(\.name).joined(separator: ", ")); or pass a recipe file with --recipe FILE, or a .skiff model)")
    }
}

/// The Skiff checkout a source-build Lambda context ships: `$SKIFF_SOURCE`, else the checkout the running
/// binary was built in (found by walking up from the executable to a folder holding `Package.swift` and
/// `Sources/Engine`), else none — a binary copied elsewhere has no source (`skiff package lambda` then
/// writes a prebuilt context).
public enum SourceTree {
    public static func isRoot(_ path: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: path + "/Package.swift") && fm.fileExists(atPath: path + "/Sources/Engine")
    }

    /// The running binary's real path (`/proc/self/exe` on Linux: argv[0] may be a bare name found on PATH,
    /// which would otherwise resolve against the current directory).
    public static var currentExecutable: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    /// `$SKIFF_SOURCE` when set (nil when it is not a checkout: `checkEnvironment` says why), else the build checkout.
    public static func root(executable: String = currentExecutable, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let env = environment["SKIFF_SOURCE"], !env.isEmpty { return isRoot(env) ? env : nil }
        var url = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<8 {
            if isRoot(url.path) { return url.path }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        return nil
    }

    /// Throws when `$SKIFF_SOURCE` is set but is not a Skiff checkout (a typo must not silently change the build).
    public static func checkEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if let env = environment["SKIFF_SOURCE"], !env.isEmpty, !isRoot(env) {
            throw FormatsError(.io, "is not a Skiff checkout (no Package.swift and Sources/Engine); fix or unset SKIFF_SOURCE", file: env)
        }
    }
}
