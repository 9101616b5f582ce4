/// A named entry point of a model: which graph inputs/outputs clients see, under which keys.
public struct Signature: Hashable, Sendable, Codable {
    public struct Binding: Hashable, Sendable, Codable {
        /// The name clients use.
        public var key: String
        /// The graph input (for inputs) or graph output (for outputs) it binds to.
        public var value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    public var name: String
    public var inputs: [Binding]
    public var outputs: [Binding]

    public init(name: String, inputs: [Binding], outputs: [Binding]) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
    }

    /// The usual single signature: every graph input and output under its own name.
    public static func servingDefault(for graph: ModelGraph) -> Signature {
        Signature(name: "serving_default",
                  inputs: graph.inputs.map { Binding(key: $0.name, value: $0.name) },
                  outputs: graph.outputs.map { Binding(key: $0.name, value: $0.name) })
    }
}

/// Where a model came from and how it was converted (docs/FORMAT.md §4.3).
public struct Provenance: Hashable, Sendable, Codable {
    public var sourceFile: String?
    public var sourceSHA256: String?
    public var sourceFormat: String
    public var framework: String?
    public var frameworkVersion: String?
    public var converter: String
    public var converterVersion: String
    public var options: [String: String]?
    public var created: String?

    enum CodingKeys: String, CodingKey {
        case sourceFile = "source_file", sourceSHA256 = "source_sha256", sourceFormat = "source_format"
        case framework, frameworkVersion = "framework_version", converter, converterVersion = "converter_version"
        case options, created
    }

    public init(sourceFile: String? = nil, sourceSHA256: String? = nil, sourceFormat: String, framework: String? = nil,
                frameworkVersion: String? = nil, converter: String = "skiff", converterVersion: String = SkiffVersion.current,
                options: [String: String]? = nil, created: String? = nil) {
        self.sourceFile = sourceFile
        self.sourceSHA256 = sourceSHA256
        self.sourceFormat = sourceFormat
        self.framework = framework
        self.frameworkVersion = frameworkVersion
        self.converter = converter
        self.converterVersion = converterVersion
        self.options = options
        self.created = created
    }
}

/// The JSON manifest of a `.skiff` file (docs/FORMAT.md §4).
public struct SkiffManifest: Hashable, Sendable, Codable {
    public var graph: ModelGraph
    public var signatures: [Signature]
    /// Graph output name → class names (index = class id).
    public var labels: [String: [String]]?
    public var metadata: [String: String]?
    public var provenance: Provenance
    /// Graph inputs that accept encoded images, and how they are decoded and preprocessed.
    public var images: [ImageInput]?
    /// Numeric checks made when the file was written (self-check, and against reference outputs).
    public var verification: [VerificationRecord]?

    public init(graph: ModelGraph, signatures: [Signature], labels: [String: [String]]? = nil,
                metadata: [String: String]? = nil, provenance: Provenance, images: [ImageInput]? = nil) {
        self.graph = graph
        self.signatures = signatures
        self.labels = labels
        self.metadata = metadata
        self.provenance = provenance
        self.images = images
    }

    /// Graph rules plus the cross-references the manifest adds (signatures and labels name real values).
    public func validate() throws {
        try graph.validate()
        try graph.checkShapes()
        var problems: [String] = []
        let inputs = Set(graph.inputs.map(\.name)), outputs = Set(graph.outputs.map(\.name))
        var names: Set<String> = []
        for s in signatures {
            if !names.insert(s.name).inserted { problems.append("signature '\(s.name)' is defined twice") }
            for b in s.inputs where !inputs.contains(b.value) {
                problems.append("signature '\(s.name)' input '\(b.key)' binds '\(b.value)', which is not a graph input")
            }
            for b in s.outputs where !outputs.contains(b.value) {
                problems.append("signature '\(s.name)' output '\(b.key)' binds '\(b.value)', which is not a graph output")
            }
        }
        for key in (labels ?? [:]).keys.sorted() where !outputs.contains(key) {
            problems.append("labels are given for '\(key)', which is not a graph output")
        }
        guard problems.isEmpty else {
            throw FormatsError(.manifestInvalid, "invalid manifest: " + problems.joined(separator: "; "))
        }
        for image in images ?? [] { try image.validate(against: graph) }
        if let images, Set(images.map(\.input)).count != images.count {
            throw FormatsError(.manifestInvalid, "invalid manifest: an input has two image descriptions")
        }
    }
}

/// Skiff's own version, recorded in every file it writes.
public enum SkiffVersion {
    public static let current = "0.1.0"
}
