import ArgumentParser
import Foundation
import Formats
import Packager
import Serving

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
        let given = runtime ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        try LambdaImage.checkRuntime(given, architecture: architecture)
        // Ship it stripped: debug symbols are most of the binary and Lambda pulls every byte at a cold start.
        let binary = scratch.appendingPathComponent("skiff").path
        try fm.copyItem(atPath: given, toPath: binary)
        LambdaContext.strip(binary)
        // Every library it loads, the C library and the dynamic loader included: the image has nothing else.
        let libraries: [String]
        do { libraries = try SharedLibraries.of(given).map(\.path) } catch let e as ValidationError where runtime != nil {
            throw ValidationError("\(e.message); --runtime must be a binary this machine can inspect, e.g. one built for its architecture")
        }
        let spec = try LambdaImage.spec(architecture: architecture, runtime: binary, libraries: libraries,
                                        model: source == nil ? deployable?.path : nil, modelSource: source?.uri, topK: settings.topK)
        let image = try OCIImage(spec)
        let tag = ref?.tag ?? "latest"
        var layout: String?
        if output != nil || push == nil {
            let dir = output ?? "\(settings.name)-image"
            try image.writeLayout(to: dir, tag: tag, replace: force)
            layout = dir
        }
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
        let layers = image.layers.map { ["name": $0.name, "digest": $0.blob.digest, "size": String($0.blob.size), "diff_id": $0.diffID] }
        if global.json {
            return try CLIOutput.printJSON(ImageReport(layout: layout, digest: image.manifest.digest, architecture: architecture, layers: layers, push: pushed))
        }
        print("image \(image.manifest.digest) (\(architecture)): " + image.layers.map { "\($0.name) \(CLIOutput.bytes($0.blob.size))" }.joined(separator: ", "))
        if let layout { print("  OCI layout: \(layout)/ (tag \(tag))") }
        if let pushed {
            print("  pushed \(pushed.reference)@\(pushed.digest): \(pushed.uploaded.count) blobs uploaded (\(CLIOutput.bytes(pushed.bytesUploaded))), \(pushed.skipped.count) already there")
            print("  deploy: aws lambda create-function --function-name \(settings.name) --package-type Image --code ImageUri=\(pushed.reference.split(separator: ":").dropLast().joined(separator: ":"))@\(pushed.digest) --role ROLE_ARN --memory-size \(settings.memory) --timeout \(settings.timeout)\(architecture == "arm64" ? " --architectures arm64" : "")")
        }
    }
}
