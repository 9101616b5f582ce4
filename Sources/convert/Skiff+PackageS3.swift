import ArgumentParser
import Foundation
import Formats
import Importers
import Packager
import Serving
import HTTPServer

extension Skiff.Package {
    struct S3: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "s3",
            abstract: "Publish a model as a versioned S3 folder: PREFIX/NAME/VERSION/{model.skiff, labels.txt, manifest.json} and PREFIX/NAME/LATEST.",
            discussion: """
            Talks to S3's REST API itself (Signature V4; credentials from the environment or ~/.aws like the AWS CLI). \
            Objects whose sha256 already matches are skipped; large files go up in parallel multipart; every object \
            carries a checksum the server verifies; manifest.json and LATEST are written last. --layout-only -o DIR \
            writes the same tree locally. Exit 0 published, 2 on any error (nothing half-published is left behind).
            """)

        @Option(help: "A recipe name or file, or a .skiff model.")
        var model: String?

        @Option(name: .customLong("recipe"), help: "Your own recipe file (YAML), instead of --model NAME.")
        var recipeFile: String?

        @Option(help: "The source model a recipe converts (.h5 or .keras).")
        var from: String?

        @Option(help: "Labels file replacing the recipe's.")
        var labels: String?

        @Option(help: "The model's name in the layout (default: the recipe's name or the file name).")
        var name: String?

        @Option(help: "Bucket to publish to.")
        var bucket: String?

        @Option(help: "Key prefix (folders) above NAME.")
        var prefix = ""

        @Option(help: "A positive integer, or auto (the latest version if it already holds this model, else the next).")
        var version = "auto"

        @Option(help: "An S3-compatible endpoint URL (MinIO, LocalStack, …); path-style addressing is used with it.")
        var endpoint: String?

        @Option(help: "Bucket addressing: path (bucket in the path; the default with --endpoint) or virtual (bucket in the host name; the default on AWS).")
        var addressing: String?

        @Option(help: "Region (default: $AWS_REGION, the profile's, else us-east-1).")
        var region: String?

        @Option(help: "A profile in ~/.aws/credentials / ~/.aws/config.")
        var profile: String?

        @Flag(name: .customLong("create-bucket"), help: "Create the bucket if it does not exist.")
        var createBucket = false

        @Flag(name: .customLong("dry-run"), help: "Say what would be uploaded; change nothing.")
        var dryRun = false

        @Flag(name: .customLong("layout-only"), help: "Write the layout under -o DIR instead of uploading.")
        var layoutOnly = false

        @Option(name: .shortAndLong, help: "Folder for --layout-only.")
        var output: String?

        @Option(name: .customLong("part-size-mb"), help: "Multipart part size in MiB (at least 5).")
        var partSizeMB = 8

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if model == nil && recipeFile == nil { throw ValidationError("give --model (a recipe name or a .skiff file) or --recipe FILE") }
            if model != nil && recipeFile != nil { throw ValidationError("give --model or --recipe FILE, not both") }
            if layoutOnly && output == nil { throw ValidationError("--layout-only needs -o DIR") }
            if !layoutOnly && bucket == nil { throw ValidationError("give --bucket (or --layout-only -o DIR)") }
            if partSizeMB < 5 { throw ValidationError("--part-size-mb must be at least 5 (S3's minimum part size)") }
            if let a = addressing, a != "path" && a != "virtual" { throw ValidationError("--addressing must be path or virtual, not '\(a)'") }
        }

        func run() throws {
            let fm = FileManager.default
            let scratch = fm.temporaryDirectory.appendingPathComponent("skiff-s3-\(ProcessInfo.processInfo.processIdentifier)")
            try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? fm.removeItem(at: scratch) }
            let deployable = try DeployableModel.prepare(model: try DeployableModel.choose(model: model, recipe: recipeFile)!, recipeFile: recipeFile != nil, from: from, labels: labels, scratch: scratch, requireImage: false)
            let modelName = name ?? deployable.recipe?.name ?? deployable.classifier.name
            let sha = try Digest.sha256Hex(file: deployable.path)

            if layoutOnly {
                let base = output! + "/" + ModelFolder.base(prefix: prefix, name: modelName)
                var v = Int(version) ?? 0
                if version == "auto" {
                    let latest = (try? String(contentsOfFile: base + "/LATEST", encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                    let same = latest.flatMap { try? Digest.sha256Hex(file: "\(base)/\($0)/model.skiff") } == sha
                    v = latest.map { same ? $0 : $0 + 1 } ?? 1
                }
                let folder = try ModelFolder(model: deployable.path, name: modelName, version: v, recipe: deployable.recipe?.name)
                try folder.write(to: output!, prefix: prefix)
                if global.json { return try CLIOutput.printJSON(["layout": base, "version": String(v)]) }
                print("wrote \(base)/\(v)/ (\(folder.objects.map(\.name).joined(separator: ", ")), manifest.json) and \(base)/LATEST")
                return
            }

            let env = ProcessInfo.processInfo.environment
            let credentials: AWSCredentials
            do { credentials = try AWSCredentials.resolve(profile: profile, environment: env) } catch let e as ServingError { throw ValidationError(e.message) }
            let client = try S3Client(endpoint: endpoint ?? SinkConfiguration.s3Endpoint(environment: env), region: region ?? AWSCredentials.region(profile: profile, environment: env), credentials: credentials,
                                  pathStyle: addressing.map { $0 == "path" })
            let bucket = self.bucket!, prefix = self.prefix, version = self.version, recipe = deployable.recipe?.name, path = deployable.path
            let createBucket = self.createBucket, dryRun = self.dryRun, partSize = partSizeMB << 20
            let bar = UploadProgress(enabled: !global.json && isatty(2) != 0, total: (try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
            nonisolated(unsafe) var report: S3Publisher.Report?
            let outcome = blockingAwait {
                defer { Task { await client.shutdown() } }
                var publisher = S3Publisher(client: client, bucket: bucket, prefix: prefix)
                publisher.partSize = partSize
                let v = try await publisher.resolveVersion(version, name: modelName, modelSHA256: sha)
                let folder = try ModelFolder(model: path, name: modelName, version: v, recipe: recipe)
                report = try await publisher.publish(folder, createBucket: createBucket, dryRun: dryRun) { _, n in bar.advance(n) }
            }
            bar.finish()
            if case .failure(let error) = outcome {
                if let e = error as? ServingError { throw ValidationError(e.message) }
                throw error
            }
            guard let report else { return }
            if global.json { return try CLIOutput.printJSON(report) }
            let verb = dryRun ? "would publish" : "published"
            print("\(verb) s3://\(bucket)/\(report.base)/\(report.version)/ (LATEST = \(report.latest)): \(report.uploaded.count) uploaded (\(CLIOutput.bytes(report.bytesUploaded))), \(report.skipped.count) already there")
            for k in report.uploaded { print("  + \(k)") }
            for k in report.skipped { print("  = \(k)") }
        }
    }
}

/// A one-line progress bar on stderr for uploads (only on a terminal).
final class UploadProgress: @unchecked Sendable {
    let enabled: Bool
    let total: Int
    private var done = 0
    private let lock = NSLock()
    init(enabled: Bool, total: Int) { self.enabled = enabled; self.total = max(total, 1) }
    func advance(_ n: Int) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        done += n
        let f = min(1, Double(done) / Double(total))
        let bar = String(repeating: "█", count: Int(f * 30)) + String(repeating: "·", count: 30 - Int(f * 30))
        FileHandle.standardError.write(Data("\r\u{1B}[K uploading \(bar) \(Int(f * 100))% \(CLIOutput.bytes(done))".utf8))
    }
    func finish() { if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}
