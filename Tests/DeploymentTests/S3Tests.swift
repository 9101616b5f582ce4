import AsyncHTTPClient
import Formats
import Importers
import Foundation
import Packager
import Serving
import HTTPServer
import Testing
import TestSupport

/// A real S3-compatible server on 127.0.0.1: moto_server (PyPI) with authentication on, so signatures are checked
/// and only the IAM user created at start-up may write.
final class MotoServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    let accessKey: String
    let secretKey: String

    init() throws {
        port = Self.freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["moto_server", "-H", "127.0.0.1", "-p", String(port)]
        var env = ProcessInfo.processInfo.environment
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  // the three IAM calls below; everything after is authenticated
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !Self.listening(port) {
            guard Date() < deadline, process.isRunning else { throw ServingError(.internal, "moto_server did not start (pip install 'moto[server]')") }
            usleep(50_000)
        }
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        setup.arguments = ["python3", "-c", """
            import boto3, json
            iam = boto3.client("iam", endpoint_url="http://127.0.0.1:\(port)", region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
            iam.create_user(UserName="skiff")
            iam.put_user_policy(UserName="skiff", PolicyName="s3", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "ecr:*"], "Resource": "*"}]}))
            k = iam.create_access_key(UserName="skiff")["AccessKey"]
            print(k["AccessKeyId"], k["SecretAccessKey"])
            """]
        let out = Pipe()
        setup.standardOutput = out
        try setup.run()
        let keys = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        setup.waitUntilExit()
        guard keys.count == 2 else { throw ServingError(.internal, "could not create moto credentials") }
        accessKey = keys[0]
        secretKey = keys[1]
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }
    var environment: [String: String] { ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "AWS_REGION": "us-east-1", "AWS_PROFILE": ""] }
    var credentials: AWSCredentials { AWSCredentials(accessKeyID: accessKey, secretAccessKey: secretKey) }
    func client() throws -> S3Client { try S3Client(endpoint: endpoint, region: "us-east-1", credentials: credentials) }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func listening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// SIGKILL: moto_server outlives SIGTERM (seen: servers left running after the tests).
    deinit { kill(process.processIdentifier, SIGKILL) }
}

@Suite(.serialized) struct S3Tests {
    static func publish(_ moto: MotoServer, _ model: String, _ extra: String...) throws -> SkiffRun {
        try SkiffRun(arguments: ["package", "s3", "--model", model, "--bucket", "models", "--prefix", "prod/vision", "--endpoint", moto.endpoint, "--json"] + extra,
                     environment: moto.environment)
    }

    static func report(_ r: SkiffRun) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:] }

    @Test func publishSkipRepublishAndVersions() async throws {
        let moto = try MotoServer()
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)

        let first = try Self.publish(moto, model, "--create-bucket")
        #expect(first.status == 0, "\(first.stderr)")
        #expect((Self.report(first)["uploaded"] as? [String])?.count == 4)
        #expect(Self.report(first)["version"] as? Int == 1)

        let s3 = try moto.client()
        defer { Task { await s3.shutdown() } }
        let base = "prod/vision/classifier"
        let latest = try await s3.get(bucket: "models", key: base + "/LATEST")
        #expect(latest.map { String(decoding: $0, as: UTF8.self) } == "1\n")
        let manifestBytes = try #require(try await s3.get(bucket: "models", key: base + "/1/manifest.json"))
        let manifest = try JSONDecoder().decode(ModelFolder.Manifest.self, from: Data(manifestBytes))
        let stored = try #require(try await s3.get(bucket: "models", key: base + "/1/model.skiff"))
        #expect(manifest.entry("model.skiff")?.sha256 == Digest.sha256Hex(stored))
        #expect(stored == Array(try Data(contentsOf: URL(fileURLWithPath: model))))
        #expect(manifest.image?.width == 48 && manifest.signatures.count == 1 && manifest.verification?.isEmpty == false)
        let labels = try #require(try await s3.get(bucket: "models", key: base + "/1/labels.txt"))
        #expect(String(decoding: labels, as: UTF8.self).split(separator: "\n").first == "apple")

        // The same model again: nothing uploaded.
        let again = try Self.publish(moto, model)
        #expect(again.status == 0)
        #expect((Self.report(again)["uploaded"] as? [String])?.isEmpty == true)
        #expect((Self.report(again)["skipped"] as? [String])?.count == 3)

        // A different model: auto picks version 2 and moves LATEST; version 1 cannot be overwritten.
        let other = dir + "/other.skiff"
        #expect(try SkiffRun("convert", "keras", ImageFixtures.directory + "/classifier.keras", "-o", other, "--image", "auto", "--preprocess", "unit",
                             "--labels", ImageFixtures.directory + "/labels.txt").status == 0)
        let second = try Self.publish(moto, other, "--name", "classifier")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(Self.report(second)["version"] as? Int == 2)
        #expect(try await s3.get(bucket: "models", key: base + "/LATEST").map { String(decoding: $0, as: UTF8.self) } == "2\n")
        let overwrite = try Self.publish(moto, other, "--name", "classifier", "--version", "1")
        #expect(overwrite.status == 2)
        #expect(overwrite.stderr.contains("immutable"))
        #expect(try await s3.get(bucket: "models", key: base + "/1/model.skiff") == stored)

        // Dry run changes nothing.
        let dry = try Self.publish(moto, other, "--name", "classifier", "--version", "3", "--dry-run")
        #expect(dry.status == 0)
        #expect(try await s3.get(bucket: "models", key: base + "/3/manifest.json") == nil)
    }

    @Test func publishesTensorModelsToTheEndpointFromTheEnvironment() async throws {
        let moto = try MotoServer()
        let dir = try temporaryDirectory()
        // A tensor-input model (no image signature), published without --endpoint: AWS_ENDPOINT_URL_S3 wins over
        // AWS_ENDPOINT_URL (which points nowhere), as in the AWS SDKs.
        let tensorModel = dir + "/functional.skiff"
        #expect(try SkiffRun("convert", "keras", KerasFixture.directory + "/k3_functional.keras", "-o", tensorModel).status == 0)
        var env = moto.environment
        env["AWS_ENDPOINT_URL_S3"] = moto.endpoint
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
        let r = try SkiffRun(arguments: ["package", "s3", "--model", tensorModel, "--bucket", "models", "--create-bucket", "--json"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let s3 = try moto.client()
        defer { Task { await s3.shutdown() } }
        #expect(try await s3.get(bucket: "models", key: "functional/1/model.skiff") == Array(try Data(contentsOf: URL(fileURLWithPath: tensorModel))))
        let manifest = try #require(try await s3.get(bucket: "models", key: "functional/1/manifest.json"))
        #expect(try JSONDecoder().decode(ModelFolder.Manifest.self, from: Data(manifest)).image == nil)

        // Only AWS_ENDPOINT_URL: used when the S3-specific variable is absent.
        env["AWS_ENDPOINT_URL_S3"] = nil
        env["AWS_ENDPOINT_URL"] = moto.endpoint
        let again = try SkiffRun(arguments: ["package", "s3", "--model", tensorModel, "--bucket", "models", "--json"], environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect((Self.report(again)["skipped"] as? [String])?.isEmpty == false)
    }

    @Test func failuresAreOneClearLineAndPublishNothing() async throws {
        let moto = try MotoServer()
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let missing = try Self.publish(moto, model)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("does not exist") && missing.stderr.contains("--create-bucket"))
        #expect(missing.stderr.split(separator: "\n").count == 1)

        var env = moto.environment
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        let wrongSecret = try SkiffRun(arguments: ["package", "s3", "--model", model, "--bucket", "models", "--endpoint", moto.endpoint, "--create-bucket"], environment: env)
        #expect(wrongSecret.status == 2)
        #expect(wrongSecret.stderr.contains("SignatureDoesNotMatch"))
        #expect(!wrongSecret.stderr.contains("not-the-secret"))
        env["AWS_ACCESS_KEY_ID"] = "AKIAUNKNOWN"
        let unknownKey = try SkiffRun(arguments: ["package", "s3", "--model", model, "--bucket", "models", "--endpoint", moto.endpoint, "--create-bucket"], environment: env)
        #expect(unknownKey.status == 2)
        #expect(unknownKey.stderr.contains("InvalidAccessKeyId"))
        #expect(unknownKey.stderr.split(separator: "\n").count == 1)
    }

    @Test func multipartUploadsInPartsAndRejectsACorruptedPart() async throws {
        let moto = try MotoServer()
        let s3 = try moto.client()
        defer { Task { await s3.shutdown() } }
        try await s3.createBucket("big")
        let seed = UInt64.random(in: 1...UInt64.max)
        let body = (0..<(11 << 20)).map { i in UInt8(truncatingIfNeeded: (UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ seed) >> 29) }
        nonisolated(unsafe) var sent = 0
        let lock = NSLock()
        try await s3.putMultipart(bucket: "big", key: "m/1/model.skiff", body: body, partSize: 5 << 20, parallel: 3,
                                  progress: { n in lock.lock(); sent += n; lock.unlock() })
        #expect(sent == body.count)
        #expect(try await s3.get(bucket: "big", key: "m/1/model.skiff") == body)
        #expect(try await s3.storedSHA256(bucket: "big", key: "m/1/model.skiff") == Digest.sha256Hex(body))

        do {
            try await s3.putMultipart(bucket: "big", key: "m/2/model.skiff", body: body, partSize: 5 << 20, corruptPart: 2)
            Issue.record("a part with a wrong checksum was accepted")
        } catch let e as ServingError {
            #expect(e.message.contains("BadDigest") || e.message.contains("InvalidDigest"), "\(e.message)")
        }
        #expect(try await s3.get(bucket: "big", key: "m/2/model.skiff") == nil)
    }

    @Test func lambdaRuntimeColdStartsFromS3() async throws {
        let moto = try MotoServer()
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        #expect(try Self.publish(moto, model, "--create-bucket").status == 0)

        // The context for an S3-sourced function: no model inside, read access to exactly that folder.
        let ctx = dir + "/ctx"
        let r = try SkiffRun("package", "lambda", "--model-source", "s3://models/prod/vision/classifier", "--name", "classifier", "-o", ctx)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/model.skiff"))
        let dockerfile = try String(contentsOfFile: ctx + "/Dockerfile", encoding: .utf8)
        #expect(dockerfile.contains("ENV SKIFF_MODEL_SOURCE=s3://models/prod/vision/classifier") && !dockerfile.contains("COPY model.skiff"))
        let template = try String(contentsOfFile: ctx + "/template.yaml", encoding: .utf8)
        #expect(template.contains("Resource: arn:aws:s3:::models/prod/vision/classifier/*"))
        #expect(template.contains("Action: s3:GetObject"))

        let server = try await RuntimeAPIServer.start()
        var env = moto.environment
        env["SKIFF_MODEL_SOURCE"] = "s3://models/prod/vision/classifier"
        env["SKIFF_S3_ENDPOINT"] = moto.endpoint
        env["TMPDIR"] = dir
        let (process, out) = try LambdaRuntimeTests.launch(["lambda"], server: server, cwd: dir, environment: env)
        defer { kill(process.processIdentifier, SIGKILL) }
        let file = LambdaRuntimeTests.usable[0]
        let posted = await server.result(await server.invoke(LambdaRuntimeTests.json(["b64": LambdaRuntimeTests.b64(file)])))
        #expect(posted?.statusCode == 200)
        #expect((posted?.bodyJSON?["predictions"] as? [[String: Any]])?.first?["label"] as? String == LambdaRuntimeTests.expectedTop1(file))
        #expect(try Digest.sha256Hex(file: dir + "/skiff-models/classifier/1/model.skiff") == Digest.sha256Hex(file: model))
        await LambdaRuntimeTests.stop(process)
        await server.stop()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("\"source\":\"s3://models/prod/vision/classifier\""))

        // A source with nothing published fails init with a clear error.
        let server2 = try await RuntimeAPIServer.start()
        env["SKIFF_MODEL_SOURCE"] = "s3://models/prod/vision/nothing"
        let (p2, _) = try LambdaRuntimeTests.launch(["lambda"], server: server2, cwd: dir, environment: env)
        let initError = await server2.result("init")
        #expect(initError?.kind == .initError)
        #expect((initError?.json?["errorMessage"] as? String)?.contains("nothing/LATEST") == true)
        while p2.isRunning { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(p2.terminationStatus == 1)
        await server2.stop()

        // An object that no longer matches its manifest (tampered or corrupted) is refused, not loaded.
        let s3 = try moto.client()
        try await s3.put(bucket: "models", key: "prod/vision/classifier/1/model.skiff", body: Array(try Data(contentsOf: URL(fileURLWithPath: model)).dropLast(7)))
        await s3.shutdown()
        let server3 = try await RuntimeAPIServer.start()
        env["SKIFF_MODEL_SOURCE"] = "s3://models/prod/vision/classifier/1"
        env["TMPDIR"] = try temporaryDirectory()
        let (p3, _) = try LambdaRuntimeTests.launch(["lambda"], server: server3, cwd: dir, environment: env)
        let tampered = await server3.result("init")
        #expect((tampered?.json?["errorMessage"] as? String)?.contains("does not match its manifest") == true, "\(tampered?.json ?? [:])")
        while p3.isRunning { try await Task.sleep(nanoseconds: 10_000_000) }
        await server3.stop()
    }

    @Test func serveLoadsPublishedModelsFromS3() async throws {
        let moto = try MotoServer()
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        #expect(try Self.publish(moto, model, "--create-bucket").status == 0)
        #expect(try Self.publish(moto, model, "--version", "4").status == 0)
        try """
        model_config_list { config { name: "cats" base_path: "s3://models/prod/vision/classifier" model_version_policy { specific { versions: 1 versions: 4 } } } }
        """.write(toFile: dir + "/models.config", atomically: true, encoding: .utf8)
        let server = try ServeProcess(["s3://models/prod/vision/classifier", "--model-config", dir + "/models.config",
                                       "--s3-endpoint", moto.endpoint, "--cache", dir + "/cache"], environment: moto.environment)
        let status = try await server.request("/v1/models/classifier").json?["model_version_status"] as? [[String: Any]]
        #expect(status?.compactMap { $0["version"] as? String } == ["4"])
        let cats = try await server.request("/v1/models/cats").json?["model_version_status"] as? [[String: Any]]
        #expect(Set(cats?.compactMap { $0["version"] as? String } ?? []) == ["1", "4"])
        let file = LambdaRuntimeTests.usable[2]
        let r = try await server.request("/v1/models/cats/versions/1:labels", method: .POST, body: LambdaRuntimeTests.jpeg(file), contentType: "image/jpeg")
        #expect((r.json?["predictions"] as? [[String: Any]])?.first?["label"] as? String == LambdaRuntimeTests.expectedTop1(file))
        #expect(await server.stop() == 0)
    }

    @Test func layoutOnlyWritesTheSameTreeLocally() throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let r = try SkiffRun("package", "s3", "--model", model, "--prefix", "p", "--layout-only", "-o", dir + "/tree")
        #expect(r.status == 0, "\(r.stderr)")
        for f in ["p/classifier/LATEST", "p/classifier/1/model.skiff", "p/classifier/1/labels.txt", "p/classifier/1/manifest.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/tree/" + f), "\(f)")
        }
        let again = try SkiffRun("package", "s3", "--model", model, "--prefix", "p", "--layout-only", "-o", dir + "/tree")
        #expect(again.status == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/tree/p/classifier/2"))
        #expect(try String(contentsOfFile: dir + "/tree/p/classifier/LATEST", encoding: .utf8) == "1\n")
    }

    @Test func sourcesAndCredentialsParse() throws {
        let s = try S3ModelSource("s3://b/a/b/name/7")
        #expect(s.bucket == "b" && s.prefix == "a/b" && s.name == "name" && s.version == 7)
        let t = try S3ModelSource("s3://b/name")
        #expect(t.prefix == "" && t.name == "name" && t.version == nil)
        #expect(throws: ServingError.self) { try S3ModelSource("http://b/name") }
        let dir = try temporaryDirectory()
        try "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n[work]\naws_access_key_id=AKIAWORK\naws_secret_access_key=s2\naws_session_token=tok\n"
            .write(toFile: dir + "/credentials", atomically: true, encoding: .utf8)
        try "[profile work]\nregion = eu-west-2\n".write(toFile: dir + "/config", atomically: true, encoding: .utf8)
        let env = ["AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials", "AWS_CONFIG_FILE": dir + "/config", "HOME": dir]
        let work = try AWSCredentials.resolve(profile: "work", environment: env)
        #expect(work.accessKeyID == "AKIAWORK" && work.sessionToken == "tok")
        #expect(!work.description.contains("s2"))
        #expect(try AWSCredentials.resolve(environment: env).accessKeyID == "AKIADEFAULT")
        #expect(AWSCredentials.region(profile: "work", environment: env) == "eu-west-2")
        #expect(try AWSCredentials.resolve(environment: env.merging(["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "x"]) { $1 }).accessKeyID == "AKIAENV")
        #expect(throws: ServingError.self) { try AWSCredentials.resolve(profile: "missing", environment: env) }
    }
}

@Suite struct SigV4Tests {
    /// The GET Object example of AWS's Signature Version 4 documentation (its published keys, request and signature).
    @Test func matchesAWSsPublishedExample() {
        let signer = SigV4(credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1")
        var headers = [("Range", "bytes=0-9")]
        signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [], headers: &headers,
                    payloadSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", date: Date(timeIntervalSince1970: 1_369_353_600))
        let auth = headers.first { $0.0 == "Authorization" }?.1 ?? ""
        #expect(auth == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(SigV4.encode("a b/c~d") == "a%20b%2Fc~d")
        #expect(SigV4.encode("a b/c", keepSlash: true) == "a%20b/c")
    }
}
