import ArgumentParser
import Foundation
import Formats
import Importers
import Packager
import Serving
import HTTPServer

/// `skiff package lambda --image`: the Lambda container image built and pushed without Docker.
extension Skiff.Package.LambdaContextCommand {
    struct ImageReport: Encodable {
        var layout: String?
        var digest: String
        var architecture: String
        var layers: [[String: String]]
        var push: RegistryClient.Report?
    }

    func buildImage(settings: LambdaContext.Settings, deployable: DeployableModel?, source: S3ModelSource?) throws {
        let architecture = settings.architecture == "arm64" ? "arm64" : "amd64"
        let fm = FileManager.default
        let scratch = fm.temporaryDirectory.appendingPathComponent("skiff-image-\(ProcessInfo.processInfo.processIdentifier)")
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: scratch) }
        let ref = try push.map { try RegistryClient.Reference($0) }
        let given = try runtime ?? LambdaRuntimeBinary.beside()
        try LambdaImage.checkRuntime(given, architecture: architecture)
        // Ship it stripped: debug symbols are most of the binary and Lambda pulls every byte at a cold start.
        // The full skiff may be the runtime too (it answers as `skiff lambda`), e.g. for the PostgreSQL record sink.
        let full = URL(fileURLWithPath: given).lastPathComponent == "skiff"
        let binary = scratch.appendingPathComponent(full ? "skiff" : LambdaRuntimeBinary.name).path
        try fm.copyItem(atPath: given, toPath: binary)
        LambdaContext.strip(binary)
        // Every library it loads, the C library and the dynamic loader included: the image has nothing else.
        let libraries: [String]
        do { libraries = try SharedLibraries.of(given).map(\.path) } catch let e as ValidationError where runtime != nil {
            throw ValidationError("\(e.message); --runtime must be a binary this machine can inspect, e.g. one built for its architecture")
        }
        let spec = try LambdaImage.spec(architecture: architecture, runtime: binary, full: full, libraries: libraries,
                                        model: source == nil ? deployable?.path : nil, modelSource: source?.uri, topK: settings.topK)
        let image = try OCIImage(spec)
        let tag = ref?.tag ?? "latest"
        var layout: String?
        if output != nil || push == nil {
            let dir = output ?? "\(settings.name)-image"
            try image.writeLayout(to: dir, tag: tag, replace: force)
            layout = dir
        }
        let context = LambdaContext(settings: settings)
        var pushed: RegistryClient.Report?
        if let ref {
            let env = ProcessInfo.processInfo.environment
            var credentials = RegistryClient.Credentials.docker(host: ref.host)
            if let user = registryUser {
                guard let password = env["SKIFF_REGISTRY_PASSWORD"] else { throw ValidationError("--registry-user needs the password in $SKIFF_REGISTRY_PASSWORD") }
                credentials = .init(username: user, password: password)
            }
            // ECR: registry credentials from GetAuthorizationToken, signed with the AWS credential chain.
            let ecrRegion = ECRClient.region(ofRegistry: ref.host)
            if createRepository && ecrRegion == nil { throw ValidationError("--create-repository works with ECR registries (ACCOUNT.dkr.ecr.REGION.amazonaws.com), not \(ref.host)") }
            let ecr = try ecrRegion.map { try ECRClient(region: $0, credentials: AWSCredentials.resolve(environment: env)) }
            let quiet = global.json
            let (create, explicitUser) = (createRepository, registryUser != nil)
            nonisolated(unsafe) var report: RegistryClient.Report?
            nonisolated(unsafe) var creds = credentials
            let outcome = blockingAwait {
                if let ecr {
                    defer { Task { await ecr.shutdown() } }
                    if create, try await ecr.createRepository(ref.repository), !quiet {
                        FileHandle.standardError.write(Data("… created ECR repository \(ref.repository)\n".utf8))
                    }
                    if !explicitUser { creds = try await ecr.authorization() }
                }
                let client = RegistryClient(credentials: creds)
                defer { Task { await client.shutdown() } }
                report = try await client.push(image, to: ref) { line in if !quiet { FileHandle.standardError.write(Data("… \(line)\n".utf8)) } }
            }
            if case .failure(let error) = outcome { throw error }
            pushed = report
        }
        // Beside the layout: a SAM template deploying the pushed image by digest, and the README saying how.
        if let layout {
            let imageUri = pushed.map { LambdaImage.repositoryURI(of: $0.reference) + "@" + $0.digest }
            if let imageUri { try AtomicFile.write(Array(context.template(imageUri: imageUri).utf8), to: layout + "/template.yaml") }
            try AtomicFile.write(Array(LambdaImage.readme(settings: settings, digest: image.manifest.digest, imageUri: imageUri,
                                                         model: deployable?.path, pushedTo: push).utf8), to: layout + "/README.md")
        }
        let layers = image.layers.map { ["name": $0.name, "digest": $0.blob.digest, "size": String($0.blob.size), "diff_id": $0.diffID] }
        if global.json {
            return try CLIOutput.printJSON(ImageReport(layout: layout, digest: image.manifest.digest, architecture: architecture, layers: layers, push: pushed))
        }
        print("image \(image.manifest.digest) (\(architecture)): " + image.layers.map { "\($0.name) \(CLIOutput.bytes($0.blob.size))" }.joined(separator: ", "))
        if let layout { print("  OCI layout: \(layout)/ (tag \(tag))") }
        if let pushed {
            print("  pushed \(pushed.reference)@\(pushed.digest): \(pushed.uploaded.count) blobs uploaded (\(CLIOutput.bytes(pushed.bytesUploaded))), \(pushed.skipped.count) already there")
            print("  deploy: aws lambda create-function --function-name \(settings.name) --package-type Image --code ImageUri=\(LambdaImage.repositoryURI(of: pushed.reference))@\(pushed.digest) --role ROLE_ARN --memory-size \(settings.memory) --timeout \(settings.timeout)\(architecture == "arm64" ? " --architectures arm64" : "")")
        }
    }
}
