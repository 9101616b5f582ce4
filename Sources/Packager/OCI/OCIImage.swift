import Foundation
import Formats

/// A single-architecture OCI image built without Docker: gzip layers of reproducible tars, an image config and
/// a manifest (never an index: Lambda refuses an index under the tag). The same inputs give the same bytes and
/// so the same digests.
public struct OCIImage: Sendable {
    public static let manifestMediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let configMediaType = "application/vnd.oci.image.config.v1+json"
    public static let layerMediaType = "application/vnd.oci.image.layer.v1.tar+gzip"

    public struct Blob: Sendable {
        public var mediaType: String
        public var bytes: [UInt8]
        public var digest: String
        public var size: Int { bytes.count }
        init(_ mediaType: String, _ bytes: [UInt8]) {
            self.mediaType = mediaType
            self.bytes = bytes
            digest = "sha256:" + Digest.sha256Hex(bytes)
        }
    }

    public struct Layer: Sendable {
        /// What the layer holds, for the history and reports ("runtime", "model").
        public var name: String
        public var blob: Blob
        /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids`).
        public var diffID: String
    }

    public var layers: [Layer]
    public var config: Blob
    public var manifest: Blob
    /// Every blob a registry needs before the manifest: config and layers.
    public var blobs: [Blob] { [config] + layers.map(\.blob) }

    /// What goes into the image.
    public struct Spec: Sendable {
        /// OCI architecture name: amd64 or arm64.
        public var architecture: String
        public var entrypoint: [String]
        public var env: [String]
        public var workingDir: String
        /// Layers in order.
        public var layers: [LayerSpec]
        public var createdBy: String

        public init(architecture: String, entrypoint: [String], env: [String], workingDir: String, layers: [LayerSpec], createdBy: String) {
            self.architecture = architecture
            self.entrypoint = entrypoint
            self.env = env
            self.workingDir = workingDir
            self.layers = layers
            self.createdBy = createdBy
        }
    }

    /// One layer's content: files (path in the image, bytes, mode), symlinks and extra directories.
    public struct LayerSpec: Sendable {
        public var name: String
        public var files: [(path: String, bytes: [UInt8], mode: Int)] = []
        public var symlinks: [(path: String, target: String)] = []
        public var directories: [(path: String, mode: Int)] = []
        public init(name: String) { self.name = name }
    }

    struct Descriptor: Codable { var mediaType: String; var digest: String; var size: Int; var annotations: [String: String]? }
    struct ImageConfig: Codable {
        struct Config: Codable { var Entrypoint: [String]; var Env: [String]; var WorkingDir: String }
        struct RootFS: Codable { var type: String; var diff_ids: [String] }
        struct History: Codable { var created: String; var created_by: String; var comment: String }
        var architecture: String
        var os: String
        var created: String
        var config: Config
        var rootfs: RootFS
        var history: [History]
    }
    struct Manifest: Codable { var schemaVersion: Int; var mediaType: String; var config: Descriptor; var layers: [Descriptor] }
    struct Index: Codable { var schemaVersion: Int; var manifests: [Descriptor] }

    /// Fixed so that digests do not depend on when the image was built.
    static let created = "1970-01-01T00:00:00Z"

    static func json<T: Encodable>(_ value: T) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(value))
    }

    public init(_ spec: Spec) throws {
        guard ["amd64", "arm64"].contains(spec.architecture) else {
            throw FormatsError(.io, "image architecture '\(spec.architecture)' must be amd64 or arm64")
        }
        layers = try spec.layers.map { layer in
            var tar = TarArchive()
            for f in layer.files { try tar.add(file: f.path, bytes: f.bytes, mode: f.mode) }
            for s in layer.symlinks { try tar.add(symlink: s.path, to: s.target) }
            for d in layer.directories { try tar.add(directory: d.path, mode: d.mode) }
            let raw = try tar.bytes()
            return Layer(name: layer.name, blob: Blob(Self.layerMediaType, try Gzip.compress(raw)), diffID: "sha256:" + Digest.sha256Hex(raw))
        }
        let imageConfig = ImageConfig(
            architecture: spec.architecture, os: "linux", created: Self.created,
            config: .init(Entrypoint: spec.entrypoint, Env: spec.env, WorkingDir: spec.workingDir),
            rootfs: .init(type: "layers", diff_ids: layers.map(\.diffID)),
            history: layers.map { .init(created: Self.created, created_by: spec.createdBy, comment: $0.name) })
        config = Blob(Self.configMediaType, try Self.json(imageConfig))
        manifest = Blob(Self.manifestMediaType, try Self.json(Manifest(
            schemaVersion: 2, mediaType: Self.manifestMediaType,
            config: .init(mediaType: config.mediaType, digest: config.digest, size: config.size, annotations: nil),
            layers: layers.map { .init(mediaType: $0.blob.mediaType, digest: $0.blob.digest, size: $0.blob.size, annotations: nil) })))
    }

    /// Writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) with the manifest under `tag`.
    /// The folder appears complete or not at all (staging folder + rename); an existing one needs `replace`.
    public func writeLayout(to directory: String, tag: String, replace: Bool = false) throws {
        try StagedDirectory.write(to: directory, replace: replace) { staging in
            let blobs = staging.appendingPathComponent("blobs/sha256")
            try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
            for blob in self.blobs + [manifest] {
                try Data(blob.bytes).write(to: blobs.appendingPathComponent(String(blob.digest.dropFirst(7))))
            }
            try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: staging.appendingPathComponent("oci-layout"))
            let index = Index(schemaVersion: 2, manifests: [.init(mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size,
                                                                  annotations: ["org.opencontainers.image.ref.name": tag])])
            try Data(try Self.json(index)).write(to: staging.appendingPathComponent("index.json"))
        }
    }
}

/// The Lambda container image of a model: Skiff's runtime (the binary, the shared libraries it loads, CA
/// certificates) in one layer and the model in another, so a new model version re-pushes only its layer.
public enum LambdaImage {
    /// Where things live in the image (the layout AWS's own base images use).
    public static let runtimePath = "/var/runtime/skiff-runtime"
    /// Where the full `skiff` goes when it is the runtime (`--runtime path/to/skiff`: e.g. for the PostgreSQL sink).
    public static let fullRuntimePath = "/var/runtime/skiff"
    public static let modelPath = "/var/task/model.skiff"

    /// Refuses a runtime that is not a Linux executable for `architecture` (amd64 or arm64), from its ELF header.
    public static func checkRuntime(_ path: String, architecture: String) throws {
        guard let h = FileHandle(forReadingAtPath: path) else { throw FormatsError(.io, "cannot read the runtime executable", file: path) }
        defer { try? h.close() }
        try ELF.check([UInt8]((try? h.read(upToCount: 64)) ?? Data()), architecture: architecture, path: path)
    }

    /// - Parameters:
    ///   - runtime: the runtime executable to ship (checked to be an ELF for `architecture`).
    ///   - libraries: absolute paths of the shared libraries it loads (stored at the same paths in the image).
    ///   - model: the `.skiff` file, or nil for an image that loads its model from S3 (`modelSource`).
    ///   - full: the runtime is the whole `skiff` (entrypoint `skiff lambda …`), not `skiff-runtime`.
    public static func spec(architecture: String, runtime: String, full: Bool = false, libraries: [String], model: String?, modelSource: String?,
                            topK: Int, caCertificates: String? = "/etc/ssl/certs/ca-certificates.crt") throws -> OCIImage.Spec {
        let fm = FileManager.default
        func read(_ path: String) throws -> [UInt8] {
            guard let d = fm.contents(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path) else {
                throw FormatsError(.io, "cannot read it for the image", file: path)
            }
            return Array(d)
        }
        let binary = try read(runtime)
        try ELF.check(binary, architecture: architecture, path: runtime)
        var runtimeLayer = OCIImage.LayerSpec(name: "runtime")
        let path = full ? fullRuntimePath : runtimePath
        runtimeLayer.files = [(path, binary, 0o755)]
        for lib in libraries.sorted() { runtimeLayer.files.append((lib, try read(lib), 0o755)) }
        if let ca = caCertificates, fm.fileExists(atPath: ca) { runtimeLayer.files.append(("/etc/ssl/certs/ca-certificates.crt", try read(ca), 0o644)) }
        runtimeLayer.directories = [("/tmp", 0o1777), ("/var/task", 0o755)]
        var layers = [runtimeLayer]
        var command = [path] + (full ? ["lambda"] : []) + ["--top", String(topK)]
        var env = ["PATH=/var/runtime:/usr/bin:/bin", "LANG=C.UTF-8", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "TMPDIR=/tmp"]
        if let model {
            var modelLayer = OCIImage.LayerSpec(name: "model")
            modelLayer.files = [(modelPath, try read(model), 0o644)]
            layers.append(modelLayer)
            command.append(modelPath)
        } else if let modelSource {
            env.append("SKIFF_MODEL_SOURCE=" + modelSource)
        }
        return OCIImage.Spec(
            architecture: architecture, entrypoint: command, env: env,
            workingDir: "/var/task", layers: layers, createdBy: "skiff package lambda --image (skiff \(SkiffVersion.current))")
    }
}

extension LambdaImage {
    /// `REGISTRY/REPOSITORY` of `REGISTRY/REPOSITORY:TAG` (a registry port's colon is kept).
    public static func repositoryURI(of reference: String) -> String {
        guard let colon = reference.lastIndex(of: ":"), !reference[colon...].contains("/") else { return reference }
        return String(reference[..<colon])
    }

    /// The README written beside an image layout: what the folder holds and the three commands from nothing to a
    /// deployed function (build Skiff, build and push the image, deploy the template).
    public static func readme(settings s: LambdaContext.Settings, digest: String, imageUri: String?, model: String?, pushedTo: String?) -> String {
        let modelArgument = model.map { "--model \(URL(fileURLWithPath: $0).lastPathComponent)" } ?? s.modelSource.map { "--model-source \($0)" } ?? "--model MODEL.skiff"
        let reference = pushedTo ?? "ACCOUNT.dkr.ecr.REGION.amazonaws.com/\(s.name):1"
        let arch = s.architecture == "arm64" ? " --arch arm64 --runtime path/to/arm64/skiff-runtime" : ""
        let pushed = imageUri.map { "It was pushed as `\($0)`; `template.yaml` deploys exactly that image." }
            ?? "It has not been pushed: run the second command below with `--push` to push it and get `template.yaml`."
        return """
            # \(s.name): a Lambda container image built by Skiff

            \(s.modelSummary), served by `skiff-runtime` (Skiff's Lambda runtime, linked statically apart from
            glibc) — \(s.architecture), \(s.memory) MB, \(s.timeout) s timeout, top \(s.topK) classes per image.

            This folder is the image as an OCI image layout (`oci-layout`, `index.json`, `blobs/`; manifest
            `\(digest)`), built without Docker. \(pushed)

            ## From nothing to a deployed function

            ```sh
            # 1. Build Skiff and its Lambda runtime (a Linux machine with Swift 6; bash scripts/setup.sh installs the C libraries)
            swift build -c release --product skiff && swift build -c release --product skiff-runtime

            # 2. Build the image and push it to ECR (credentials from the usual AWS chain; no Docker, no AWS CLI)
            .build/release/skiff package lambda \(modelArgument)\(arch) --image --push \(reference) --create-repository -o \(s.name)-image

            # 3. Deploy the template written beside the image (an API Gateway endpoint and the function)
            aws cloudformation deploy --template-file \(s.name)-image/template.yaml --stack-name \(s.name) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
            ```

            Then call it (the stack output `PredictUrl`):

            ```sh
            URL=$(aws cloudformation describe-stacks --stack-name \(s.name) --query "Stacks[0].Outputs[?OutputKey=='PredictUrl'].OutputValue" --output text)
            curl -X POST -H 'Content-Type: image/jpeg' --data-binary @photo.jpg "$URL"
            ```

            `sam deploy --template-file \(s.name)-image/template.yaml --stack-name \(s.name) --capabilities CAPABILITY_IAM` works
            too. The template's parameters (a public Function URL, the sinks, a VPC) are described in Skiff's docs/DEPLOY.md.
            A new model version: run step 2 again with a new tag (only the model layer is uploaded), then step 3.

            """
    }
}

/// Just enough of an ELF header to say which machine a binary is for.
enum ELF {
    static func machine(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 20, bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]), bytes[4] == 2, bytes[5] == 1 else { return nil }
        switch UInt16(bytes[18]) | UInt16(bytes[19]) << 8 {
        case 62: return "amd64"
        case 183: return "arm64"
        default: return "other"
        }
    }

    static func check(_ bytes: [UInt8], architecture: String, path: String) throws {
        guard let m = machine(bytes) else { throw FormatsError(.badMagic, "is not a 64-bit little-endian ELF executable; the runtime must be a Linux build of skiff-runtime", file: path) }
        guard m == architecture else {
            throw FormatsError(.io, "is an \(m) executable, but the image is for \(architecture); build skiff-runtime for \(architecture) (or pass --arch \(m == "amd64" ? "x86_64" : m))", file: path)
        }
    }
}
