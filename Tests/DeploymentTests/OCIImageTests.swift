import Foundation
import Serving
import HTTPServer
import Packager
import Testing
import TestSupport

/// A Docker registry (Debian's `docker-registry`) on 127.0.0.1 with a temporary config, optionally behind
/// htpasswd authentication.
final class RegistryProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let root: String

    init(user: String? = nil, password: String? = nil) throws {
        root = try temporaryDirectory("skiff-registry")
        port = MotoServer.freePort()
        var config = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(root)/data
        http:
          addr: 127.0.0.1:\(port)

        """
        if let user, let password {
            let htpasswd = Process()
            htpasswd.executableURL = URL(fileURLWithPath: "/usr/bin/htpasswd")
            htpasswd.arguments = ["-Bbc", root + "/htpasswd", user, password]
            htpasswd.standardOutput = FileHandle.nullDevice
            htpasswd.standardError = FileHandle.nullDevice
            try htpasswd.run()
            htpasswd.waitUntilExit()
            config += "auth:\n  htpasswd:\n    realm: skiff-test\n    path: \(root)/htpasswd\n"
        }
        try Data(config.utf8).write(to: URL(fileURLWithPath: root + "/config.yml"))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", root + "/config.yml"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !MotoServer.listening(port) {
            guard Date() < deadline, process.isRunning else { throw ServingError(.internal, "docker-registry did not start (apt-get install docker-registry)") }
            usleep(50_000)
        }
    }

    var host: String { "127.0.0.1:\(port)" }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Runs a tool from PATH (skopeo, umoci) and collects its exit status and output.
func tool(_ name: String, _ args: [String]) throws -> SkiffRun {
    try SkiffRun(arguments: [name] + args, executable: "/usr/bin/env")
}

/// `skiff package lambda --image`: images built without Docker, checked by the tools people use — a
/// registry receives them, skopeo reads them back, umoci unpacks them (checking every diff_id), and the
/// unpacked root filesystem answers a Lambda event under bwrap.
@Suite(.serialized) struct OCIImageTests {
    static func json(_ r: SkiffRun) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]
    }

    /// Pulls `ref` as people would and unpacks it into `dir`/bundle (umoci checks every diff_id); returns the
    /// image's entrypoint.
    static func pullAndUnpack(_ ref: String, into dir: String) throws -> [String] {
        let copy = try tool("skopeo", ["copy", "--src-tls-verify=false", "docker://" + ref, "oci:\(dir)/pulled:1"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let unpack = try tool("umoci", ["unpack", "--rootless", "--image", "\(dir)/pulled:1", dir + "/bundle"])
        #expect(unpack.status == 0, "\(unpack.stderr)")
        let runtimeConfig = try #require((try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/bundle/config.json")))) as? [String: Any])
        return try #require((runtimeConfig["process"] as? [String: Any])?["args"] as? [String])
    }

    /// Runs an unpacked image's entrypoint under bwrap (its root filesystem as /, /proc mounted, a clean
    /// environment plus `environment`) against the Runtime API `api`.
    static func sandbox(_ dir: String, _ args: [String], api: RuntimeAPIServer, environment: [String: String] = [:]) throws -> Process {
        let bwrap = Process()
        bwrap.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        bwrap.arguments = ["bwrap", "--die-with-parent", "--unshare-pid", "--bind", dir + "/bundle/rootfs", "/", "--proc", "/proc", "--dev", "/dev", "--chdir", "/var/task",
                           "--clearenv", "--setenv", "AWS_LAMBDA_RUNTIME_API", api.address, "--setenv", "PATH", "/var/runtime"]
            + environment.sorted { $0.key < $1.key }.flatMap { ["--setenv", $0.key, $0.value] } + ["--"] + args
        bwrap.standardOutput = FileHandle.nullDevice
        bwrap.standardError = FileHandle.standardError
        try bwrap.run()
        return bwrap
    }

    @Test func theSameInputsGiveTheSameImage() throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let a = try SkiffRun("package", "lambda", "--model", model, "--image", "-o", dir + "/a", "--json")
        let b = try SkiffRun("package", "lambda", "--model", model, "--image", "-o", dir + "/b", "--json")
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
        let digest = try #require(Self.json(a)?["digest"] as? String)
        #expect(digest.hasPrefix("sha256:") && Self.json(b)?["digest"] as? String == digest)
        #expect(FileManager.default.contents(atPath: dir + "/a/index.json") == FileManager.default.contents(atPath: dir + "/b/index.json"))
        // A valid OCI layout: umoci unpacks it, verifying every layer against its diff_id.
        let unpack = try tool("umoci", ["unpack", "--rootless", "--image", dir + "/a:latest", dir + "/bundle"])
        #expect(unpack.status == 0, "\(unpack.stderr)")
        let fm = FileManager.default
        for path in ["var/runtime/skiff-runtime", "var/task/model.skiff", "tmp", "etc/ssl/certs/ca-certificates.crt"] {
            #expect(fm.fileExists(atPath: dir + "/bundle/rootfs/" + path), "\(path)")
        }
        // The lean runtime: no whole toolchain, and none of the libraries only the converters or skiff serve use, nor
        // the ones linked statically.
        #expect(!fm.fileExists(atPath: dir + "/bundle/rootfs/var/runtime/skiff"))
        let shipped = (fm.enumerator(atPath: dir + "/bundle/rootfs")?.allObjects as? [String] ?? []).map { ($0 as NSString).lastPathComponent }
        for lib in ["libhdf5", "libprotobuf-c", "libopenblas", "libzstd", "libturbojpeg", "libpng16", "libz.so", "libicu", "libFoundation", "libswiftCore"] {
            #expect(!shipped.contains { $0.hasPrefix(lib) }, "\(lib) is not shipped: \(shipped.filter { $0.hasPrefix("lib") })")
        }
        // The README beside the layout says how to deploy; with no push there is no digest to put in a template yet.
        let readme = try String(contentsOfFile: dir + "/a/README.md", encoding: .utf8)
        #expect(readme.contains("--image --push") && readme.contains("aws cloudformation deploy") && readme.contains(digest), "\(readme)")
        #expect(!fm.fileExists(atPath: dir + "/a/template.yaml"))
        #expect(fm.contents(atPath: dir + "/bundle/rootfs/var/task/model.skiff") == fm.contents(atPath: model))
        // Nothing half-written is left beside the layout.
        #expect(try fm.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") }.isEmpty)
        // An existing layout is kept unless --force.
        let again = try SkiffRun("package", "lambda", "--model", model, "--image", "-o", dir + "/a")
        #expect(again.status == 2 && again.stderr.contains("already exists"))
    }

    @Test func aPushedImageRunsAsALambdaFunction() async throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let registry = try RegistryProcess()
        let ref = "\(registry.host)/classifier:1"
        let push = try SkiffRun("package", "lambda", "--model", model, "--image", "--push", ref, "-o", dir + "/pushed", "--json")
        #expect(push.status == 0, "\(push.stderr)")
        let report = try #require(Self.json(push))
        let digest = try #require(report["digest"] as? String)
        let pushed = report["push"] as? [String: Any]
        #expect((pushed?["uploaded"] as? [String])?.count == 3, "config, runtime and model blobs: \(String(describing: pushed))")
        // Beside the layout: a SAM template deploying exactly the pushed image, and the README's three commands.
        let template = try String(contentsOfFile: dir + "/pushed/template.yaml", encoding: .utf8)
        #expect(template.contains("Default: '\(registry.host)/classifier@\(digest)'"), "\(template)")
        #expect(template.contains("PackageType: Image") && template.contains("ImageUri: !Ref ImageUri"))
        let readme = try String(contentsOfFile: dir + "/pushed/README.md", encoding: .utf8)
        #expect(readme.contains("--product skiff-runtime") && readme.contains("--push \(ref)") && readme.contains("aws cloudformation deploy --template-file"), "\(readme)")

        // skopeo reads it back: one architecture, two layers, the digest Skiff computed.
        let inspect = try tool("skopeo", ["inspect", "--tls-verify=false", "docker://" + ref])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let info = (try? JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8))) as? [String: Any]
        #expect(info?["Digest"] as? String == digest)
        #expect(info?["Architecture"] as? String == "amd64" && info?["Os"] as? String == "linux")
        #expect((info?["Layers"] as? [String])?.count == 2)
        let raw = try tool("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://" + ref])
        #expect(raw.stdout.contains("application/vnd.oci.image.manifest.v1+json") && !raw.stdout.contains("image.index"), "a manifest, never an index")

        // Pull it as people would, unpack it (umoci checks diff_ids), and run its entrypoint under bwrap
        // against a Lambda Runtime API on 127.0.0.1.
        let args = try Self.pullAndUnpack(ref, into: dir)
        #expect(args.first == "/var/runtime/skiff-runtime" && !args.contains("lambda"), "\(args)")
        let api = try await RuntimeAPIServer.start()
        let bwrap = try Self.sandbox(dir, args, api: api)
        let file = LambdaRuntimeTests.usable[1]
        let id = await api.invoke(LambdaRuntimeTests.json(["httpMethod": "POST", "headers": ["Content-Type": "image/jpeg"], "requestContext": ["stage": "prod"],
                                                           "body": LambdaRuntimeTests.b64(file), "isBase64Encoded": true]))
        let answer = await api.result(id)
        #expect(answer?.statusCode == 200, "\(answer.map { String(decoding: $0.body, as: UTF8.self) } ?? "no answer")")
        #expect(((answer?.bodyJSON?["predictions"] as? [[String: Any]])?.first?["label"] as? String) == LambdaRuntimeTests.expectedTop1(file))
        // The sandbox dies with bwrap (--die-with-parent), and its runtime with it.
        kill(bwrap.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while bwrap.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        await api.stop()

        // A new model version re-pushes only its own layer (and the small config).
        let other = dir + "/v2.skiff"
        let c = try SkiffRun("convert", "keras", ImageFixtures.directory + "/classifier.keras", "-o", other, "--image", "auto", "--preprocess", "unit")
        #expect(c.status == 0, "\(c.stderr)")
        let second = try SkiffRun("package", "lambda", "--model", other, "--name", "classifier", "--image", "--push", "\(registry.host)/classifier:2", "--json")
        #expect(second.status == 0, "\(second.stderr)")
        let r2 = Self.json(second)?["push"] as? [String: Any]
        let layers = Self.json(second)?["layers"] as? [[String: String]] ?? []
        let runtimeLayer = layers.first { $0["name"] == "runtime" }?["digest"]
        #expect((r2?["skipped"] as? [String]) == [runtimeLayer].compactMap { $0 }, "\(String(describing: r2))")
        #expect((r2?["uploaded"] as? [String])?.count == 2)
    }

    /// The deployment path from a source model to a running function in one command: the squeezenet recipe
    /// converted from its .h5, built into an image and pushed; pulled back, unpacked and run under bwrap, its
    /// answers are Keras's (the recipe fixtures' golden top-5).
    @Test func aRecipeGoesFromH5ToARunningImage() async throws {
        let dir = try temporaryDirectory()
        let registry = try RegistryProcess()
        let ref = "\(registry.host)/squeezenet:1"
        let push = try SkiffRun("package", "lambda", "--model", "squeezenet", "--from", PackageLambdaTests.recipeFixtures + "/squeezenet_mini.h5",
                                "--image", "--push", ref, "--json")
        #expect(push.status == 0, "\(push.stderr)")
        let digest = try #require(Self.json(push)?["digest"] as? String)
        let inspect = try tool("skopeo", ["inspect", "--tls-verify=false", "docker://" + ref])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(((try? JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8))) as? [String: Any])?["Digest"] as? String == digest)
        let args = try Self.pullAndUnpack(ref, into: dir)
        let api = try await RuntimeAPIServer.start()
        // Lambda names the function (the template's, i.e. the recipe's name); answers carry it.
        let bwrap = try Self.sandbox(dir, args, api: api, environment: ["AWS_LAMBDA_FUNCTION_NAME": "squeezenet"])
        let labels = try String(contentsOfFile: packageRoot + "/recipes/labels/imagenet1000.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        let golden = try #require(PackageLambdaTests.golden["squeezenet_mini.h5"])
        #expect(!golden.isEmpty)
        for (image, expected) in golden.sorted(by: { $0.key < $1.key }) {
            let id = await api.invoke(LambdaRuntimeTests.json(["httpMethod": "POST", "headers": ["Content-Type": "image/jpeg"], "requestContext": ["stage": "prod"],
                                                               "body": LambdaRuntimeTests.b64(image), "isBase64Encoded": true]))
            let answer = await api.result(id)
            #expect(answer?.statusCode == 200, "\(answer.map { String(decoding: $0.body, as: UTF8.self) } ?? "no answer")")
            let top = ((answer?.bodyJSON?["predictions"] as? [[String: Any]])?.first?["top_k"] as? [[String: Any]]) ?? []
            #expect(top.compactMap { $0["index"] as? Int } == expected.indices, "\(image)")
            #expect(top.first?["label"] as? String == labels[expected.indices[0]])
            #expect(answer?.bodyJSON?["model"] as? String == "squeezenet")
        }
        kill(bwrap.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while bwrap.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        await api.stop()
    }

    @Test func anAuthenticatedRegistryNeedsCredentials() throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let registry = try RegistryProcess(user: "deployer", password: "s3cret;\"quoted")
        let ref = "\(registry.host)/private/classifier:1"
        let anonymous = try SkiffRun("package", "lambda", "--model", model, "--image", "--push", ref)
        #expect(anonymous.status == 2)
        #expect(anonymous.stderr.contains("needs credentials"), "\(anonymous.stderr)")
        let wrong = try SkiffRun(arguments: ["package", "lambda", "--model", model, "--image", "--push", ref, "--registry-user", "deployer"],
                                 environment: ["SKIFF_REGISTRY_PASSWORD": "nope"])
        #expect(wrong.status == 2)
        #expect(!wrong.stderr.contains("nope"), "a password is never printed")
        let ok = try SkiffRun(arguments: ["package", "lambda", "--model", model, "--image", "--push", ref, "--registry-user", "deployer"],
                              environment: ["SKIFF_REGISTRY_PASSWORD": "s3cret;\"quoted"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(!ok.stdout.contains("s3cret") && !ok.stderr.contains("s3cret"))
        // Credentials from a Docker config file work too.
        let docker = dir + "/docker"
        try FileManager.default.createDirectory(atPath: docker, withIntermediateDirectories: true)
        let auth = Data("deployer:s3cret;\"quoted".utf8).base64EncodedString()
        try Data(#"{"auths": {"\#(registry.host)": {"auth": "\#(auth)"}}}"#.utf8).write(to: URL(fileURLWithPath: docker + "/config.json"))
        let viaConfig = try SkiffRun(arguments: ["package", "lambda", "--model", model, "--image", "--push", "\(registry.host)/private/classifier:2"],
                                     environment: ["DOCKER_CONFIG": docker])
        #expect(viaConfig.status == 0, "\(viaConfig.stderr)")
        let inspect = try tool("skopeo", ["inspect", "--tls-verify=false", "--creds", "deployer:s3cret;\"quoted", "docker://\(registry.host)/private/classifier:2"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
    }

    @Test func theRuntimeMustMatchTheArchitecture() throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let arm = try SkiffRun("package", "lambda", "--model", model, "--image", "--arch", "arm64", "-o", dir + "/arm")
        #expect(arm.status == 2)
        #expect(arm.stderr.contains("is an amd64 executable, but the image is for arm64"), "\(arm.stderr)")
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: dir + "/script"))
        let script = try SkiffRun("package", "lambda", "--model", model, "--image", "--runtime", dir + "/script", "-o", dir + "/s")
        #expect(script.status == 2)
        #expect(script.stderr.contains("is not a 64-bit little-endian ELF executable"), "\(script.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/arm") && !FileManager.default.fileExists(atPath: dir + "/s"))
        let bad = try SkiffRun("package", "lambda", "--model", model, "--image", "--push", "no-registry-here")
        #expect(bad.status == 2 && bad.stderr.contains("is not an image reference"), "\(bad.stderr)")
    }
}

/// The ECR calls of `--push` to ECR, against moto_server with authentication on (signatures checked).
@Suite struct ECRTests {
    @Test func registryHostsNameTheirRegion() {
        #expect(ECRClient.region(ofRegistry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com") == "eu-west-1")
        #expect(ECRClient.region(ofRegistry: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") == "cn-north-1")
        #expect(ECRClient.region(ofRegistry: "127.0.0.1:5000") == nil)
        #expect(ECRClient.region(ofRegistry: "ghcr.io") == nil)
    }

    @Test func tokensAndRepositoriesThroughSignedCalls() async throws {
        let moto = try MotoServer()
        let env = ["AWS_ENDPOINT_URL_ECR": moto.endpoint, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"]
        let ecr = try ECRClient(region: "us-east-1", credentials: moto.credentials, environment: env)
        #expect(ecr.endpoint.absoluteString == moto.endpoint, "the ECR-specific variable wins")
        do {
            let creds = try await ecr.authorization()
            #expect(creds.username == "AWS" && !creds.password.isEmpty)
            #expect(try await ecr.createRepository("classifier") == true)
            #expect(try await ecr.createRepository("classifier") == false, "an existing repository is fine")
        } catch {
            Issue.record("\(error)")
        }
        await ecr.shutdown()

        let forged = try ECRClient(region: "us-east-1", credentials: AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: "wrong"), environment: env)
        await #expect(throws: (any Error).self) { _ = try await forged.authorization() }
        await forged.shutdown()
    }
}
