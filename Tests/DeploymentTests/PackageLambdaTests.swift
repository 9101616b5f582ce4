import Foundation
import Formats
import Importers
import Packager
import Testing
import TestSupport
import Yams

/// `skiff recipes`, `skiff package lambda` and the build context it writes.
@Suite struct PackageLambdaTests {
    static let recipeFixtures = packageRoot + "/fixtures/recipes"

    struct Golden: Decodable {
        var indices: [Int]
        var scores: [Float]
    }
    static let golden: [String: [String: Golden]] = {
        let data = FileManager.default.contents(atPath: recipeFixtures + "/index.json") ?? Data("{}".utf8)
        return (try? JSONDecoder().decode([String: [String: Golden]].self, from: data)) ?? [:]
    }()

    @Test func shippedRecipesLoadAndDescribeTheirModels() throws {
        let all = try RecipeBook.all(environment: [:])  // the built-in recipes
        #expect(Set(all.map(\.name)).isSuperset(of: ["squeezenet", "mobilenet_v2", "breed-classifier"]))
        let squeeze = try #require(all.first { $0.name == "squeezenet" })
        #expect(squeeze.convert.image == "227x227")
        #expect(squeeze.convert.preprocess == "caffe")
        #expect(squeeze.isBuiltin)
        let labels = try #require(try squeeze.labelsText()).split(separator: "\n")
        #expect(labels.count == 1000)
        #expect(labels.first == "tench" && labels.last == "toilet_tissue")
        let breed = try #require(all.first { $0.name == "breed-classifier" })
        #expect(breed.convert.labels?.hasSuffix(".csv") == true)
        let written = try #require(try breed.writeLabels(into: URL(fileURLWithPath: try temporaryDirectory())))
        let breedLabels = try #require(try breed.labelsText())
        #expect(written.hasSuffix("/breeds.csv") && FileManager.default.contents(atPath: written) == Data(breedLabels.utf8))

        let r = try SkiffRun("recipes")
        #expect(r.status == 0)
        #expect(r.stdout.contains("squeezenet") && r.stdout.contains("mobilenet_v2") && r.stdout.contains("breed-classifier"))
        let one = try SkiffRun("recipes", "squeezenet", "--json")
        let json = try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [String: Any]
        #expect((json?["deploy"] as? [String: Any])?["memory"] as? Int == 1024)
    }

    @Test(arguments: [
        ("name: x\nsource: {format: h5}\ndeploy: {memry: 512}\n", "unknown field 'deploy.memry'"),
        ("name: x\nsource: {format: h5}\ndeploy: {memory: 20000}\n", "deploy.memory"),
        ("name: x\nsource: {format: onnx}\n", "source.format"),
        ("name: x\n", "missing field 'source'"),
        ("name: x\nsource: {format: h5}\nconvert: {labels: nowhere.txt}\n", "convert.labels"),
        ("name: x\nsource: {format: h5}\ndeploy: {timeout: soon}\n", "deploy.timeout"),
        ("name: [x\n", "YAML"),
        ("- a\n- b\n", "mapping"),
        ("name: 'bad name'\nsource: {format: h5}\n", "name"),
        // Found by FuzzRecipe: a mapping used as a key trapped inside Yams' load.
        ("name: x\ndeploy:\n  timeout: 3\n? top_k: 5\n: y\n", "mapping key must be plain text"),
        ("? [a, b]\n: x\n", "mapping key must be plain text"),
        // Aliases expanding a few lines into 10^8 values; nesting past 64 levels.
        ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "more than 100000"),
        ("name: " + String(repeating: "[", count: 80) + String(repeating: "]", count: 80) + "\n", "deeper than 64"),
    ])
    func badRecipesAreRefusedNamingTheField(yaml: String, expected: String) throws {
        let dir = try temporaryDirectory()
        let path = dir + "/r.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        _ = expectFormatsError(.manifestInvalid, expected) { try Recipe.load(path: path) }
    }

    /// Fixed settings so the generated files are comparable with the committed snapshots.
    static func settings(_ mode: LambdaContext.Mode) -> LambdaContext.Settings {
        .init(name: "squeezenet", memory: 1024, timeout: 30, architecture: "x86_64", topK: 5, mode: mode,
              modelSummary: "SqueezeNet 1.1 ImageNet classifier; 227×227×3 JPEG input (caffe preprocessing), 1000 classes, labelled")
    }

    /// Generated files against `Tests/DeploymentTests/Snapshots` (re-record with SKIFF_RECORD=1).
    @Test(arguments: [LambdaContext.Mode.source, .prebuilt])
    func generatedFilesMatchSnapshots(mode: LambdaContext.Mode) throws {
        let context = LambdaContext(settings: Self.settings(mode))
        let files = ["Dockerfile": context.dockerfile, "bootstrap": context.bootstrap, "template.yaml": context.template,
                     "push.sh": context.push, "README.md": context.readme, "dockerignore": context.dockerignore]
        let dir = packageRoot + "/Tests/DeploymentTests/Snapshots/\(mode.rawValue)"
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let path = dir + "/" + name
            if ProcessInfo.processInfo.environment["SKIFF_RECORD"] == "1" {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
            let snapshot = try? String(contentsOfFile: path, encoding: .utf8)
            #expect(snapshot == text, "\(mode.rawValue)/\(name) differs from its snapshot (SKIFF_RECORD=1 swift test --filter generatedFilesMatchSnapshots re-records)")
        }
    }

    /// `--image --push -o DIR` writes the same template with its ImageUri defaulting to the pushed image, by digest.
    @Test func anImageTemplateDefaultsToThePushedDigest() throws {
        let uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/squeezenet@sha256:" + String(repeating: "a", count: 64)
        let node = try #require(try Yams.compose(yaml: LambdaContext(settings: Self.settings(.source)).template(imageUri: uri)))
        #expect(node["Parameters"]?["ImageUri"]?["Default"]?.string == uri)
        #expect(node["Parameters"]?["ImageUri"]?["Type"]?.string == "String")
        #expect(node["Resources"]?["Function"]?["Properties"]?["PackageType"]?.string == "Image")
        #expect(LambdaContext(settings: Self.settings(.source)).template(imageUri: nil) == LambdaContext(settings: Self.settings(.source)).template)
        #expect(LambdaImage.repositoryURI(of: "127.0.0.1:5000/a/b:1") == "127.0.0.1:5000/a/b")
        #expect(LambdaImage.repositoryURI(of: "127.0.0.1:5000/a/b") == "127.0.0.1:5000/a/b")
    }

    @Test func templateIsTheSAMShapeLambdaNeeds() throws {
        let template = LambdaContext(settings: Self.settings(.source)).template
        let node = try #require(try Yams.compose(yaml: template))
        let fn = try #require(node["Resources"]?["Function"]?["Properties"])
        #expect(fn["PackageType"]?.string == "Image")
        #expect(fn["MemorySize"]?.int == 1024)
        #expect(fn["Timeout"]?.int == 30)
        #expect(fn["Architectures"]?[0]?.string == "x86_64")
        #expect(fn["Events"]?["Predict"]?["Properties"]?["Method"]?.string == "post")
        let binary = node["Resources"]?["Api"]?["Properties"]?["BinaryMediaTypes"]?.array().compactMap(\.string) ?? []
        #expect(binary.contains("image~1*"))
        #expect(node["Resources"]?["FunctionUrl"]?["Properties"]?["AuthType"]?.string == "NONE")
    }

    /// The sink parameters a real deployment needs: bucket + its PutObject policy, the database URL and secret,
    /// VPC subnets and security groups; a recipe's `sinks` section sets their defaults.
    @Test func templateCarriesTheSinkParametersAndTheirPolicy() throws {
        let dir = try temporaryDirectory()
        try """
        name: kept
        description: a model whose predictions are kept
        source: {format: skiff}
        sinks:
          store_images: s3://kept-bucket/inputs/v1
          record: postgres://skiff@db.internal:5432/predictions?sslmode=verify-full
          mode: best-effort
          record_mode: required
        """.write(toFile: dir + "/kept.yaml", atomically: true, encoding: .utf8)
        let recipe = try Recipe.load(path: dir + "/kept.yaml")
        var settings = Self.settings(.source)
        settings.sinks = recipe.sinks
        let node = try #require(try Yams.compose(yaml: LambdaContext(settings: settings).template))
        let params = try #require(node["Parameters"])
        #expect(params["ImageBucket"]?["Default"]?.string == "kept-bucket")
        #expect(params["ImagePrefix"]?["Default"]?.string == "inputs/v1")
        #expect(params["RecordUrl"]?["Default"]?.string == "postgres://skiff@db.internal:5432/predictions?sslmode=verify-full")
        #expect(params["SinkMode"]?["Default"]?.string == "best-effort")
        for name in ["DatabaseSecretArn", "DatabasePasswordParameter", "SubnetIds", "SecurityGroupIds", "CreateImageBucket"] {
            #expect(params[name] != nil, "\(name)")
        }
        let fn = try #require(node["Resources"]?["Function"]?["Properties"])
        let env = try #require(fn["Environment"]?["Variables"])
        #expect(env["SKIFF_RECORD_MODE"]?.string == "required")
        #expect(env["SKIFF_STORE_IMAGES"] != nil && env["SKIFF_RECORD_URL"] != nil && env["SKIFF_RECORD_PASSWORD"] != nil)
        #expect(fn["VpcConfig"] != nil)
        let template = LambdaContext(settings: settings).template
        #expect(template.contains("Action: s3:PutObject") && template.contains("arn:aws:s3:::${ImageBucket}/${ImagePrefix}/*"))
        #expect(template.contains("{{resolve:secretsmanager:${DatabaseSecretArn}:SecretString:password}}"))
        #expect(node["Resources"]?["ImageStore"]?["Type"]?.string == "AWS::S3::Bucket")

        // A password in the recipe's URL is refused.
        try """
        name: leaky
        description: x
        source: {format: skiff}
        sinks: {record: "postgres://skiff:hunter2@db:5432/p"}
        """.write(toFile: dir + "/leaky.yaml", atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try Recipe.load(path: dir + "/leaky.yaml") }
    }

    @Test func shellScriptsParse() throws {
        let context = LambdaContext(settings: Self.settings(.source))
        let dir = try temporaryDirectory()
        for (name, text) in [("push.sh", context.push), ("bootstrap", context.bootstrap)] {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-n", dir + "/" + name]
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(name) has a syntax error")
        }
        #expect(context.push.contains("--provenance=false"))
        #expect(context.push.contains("--platform linux/amd64"))
        #expect(!context.push.contains("123456789012"))
    }

    /// The squeezenet recipe end to end: convert from .h5, write a --prebuilt context, then run its entrypoint
    /// the way Lambda does (environment, working directory) and check the answers against Keras's.
    @Test func squeezenetContextServesKerasPredictions() async throws {
        let dir = try temporaryDirectory()
        let ctx = dir + "/squeezenet-lambda"
        let r = try SkiffRun("package", "lambda", "--model", "squeezenet", "--from", Self.recipeFixtures + "/squeezenet_mini.h5",
                             "-o", ctx, "--prebuilt", "--memory", "768", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((report?["settings"] as? [String: Any])?["memory"] as? Int == 768)

        // Every file listed with its real sha256 and size.
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ctx + "/manifest.json"))) as? [String: Any])
        let files = try #require(manifest["files"] as? [[String: Any]])
        for name in ["Dockerfile", "runtime/bootstrap", "model.skiff", "template.yaml", "push.sh", "README.md", ".dockerignore", "runtime/skiff-runtime"] {
            let entry = try #require(files.first { $0["path"] as? String == name }, "\(name) missing from manifest.json")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: ctx + "/" + name))
            #expect(entry["size"] as? Int == bytes.count)
            if name != "runtime/skiff-runtime" { #expect(entry["sha256"] as? String == Digest.sha256Hex(Array(bytes)), "\(name)") }
        }
        #expect(try String(contentsOfFile: ctx + "/template.yaml", encoding: .utf8).contains("MemorySize: 768"))

        let server = try await RuntimeAPIServer.start()
        let (process, _) = try LambdaRuntimeTests.launch([], server: server, executable: ctx + "/runtime/bootstrap", cwd: ctx,
                                                         environment: ["LAMBDA_TASK_ROOT": ctx, "_HANDLER": "model.skiff", "AWS_LAMBDA_FUNCTION_NAME": "squeezenet"])
        defer { kill(process.processIdentifier, SIGKILL) }
        let labels = try String(contentsOfFile: packageRoot + "/recipes/labels/imagenet1000.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        for (image, expected) in try #require(Self.golden["squeezenet_mini.h5"]).sorted(by: { $0.key < $1.key }) {
            let event = LambdaRuntimeTests.json(["httpMethod": "POST", "headers": ["Content-Type": "image/jpeg"],
                                                 "body": LambdaRuntimeTests.b64(image), "isBase64Encoded": true])
            let posted = await server.result(await server.invoke(event))
            #expect(posted?.statusCode == 200)
            let top = ((posted?.bodyJSON?["predictions"] as? [[String: Any]])?.first?["top_k"] as? [[String: Any]]) ?? []
            #expect(top.compactMap { $0["index"] as? Int } == expected.indices, "\(image)")
            #expect(top.first?["label"] as? String == labels[expected.indices[0]])
            let score = (top.first?["score"] as? NSNumber)?.floatValue ?? -1
            #expect(abs(score - expected.scores[0]) <= 1e-4 + 1e-3 * expected.scores[0], "\(image): \(score) vs Keras \(expected.scores[0])")
            #expect(posted?.bodyJSON?["model"] as? String == "squeezenet")
        }
        await LambdaRuntimeTests.stop(process)
        await server.stop()
    }

    @Test func packagingErrorsAreOneClearLine() throws {
        let dir = try temporaryDirectory()
        let noFrom = try SkiffRun("package", "lambda", "--model", "squeezenet", "-o", dir + "/a")
        #expect(noFrom.status == 2)
        #expect(noFrom.stderr.contains("--from"))
        let unknown = try SkiffRun("package", "lambda", "--model", "resnet9000", "--from", "x.h5", "-o", dir + "/b")
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("no recipe named 'resnet9000'"))
        let wrongArch = try SkiffRun("package", "lambda", "--model", "breed-classifier", "--from", Self.recipeFixtures + "/breed_classifier.h5",
                                     "-o", dir + "/c", "--prebuilt", "--arch", "arm64")
        #expect(wrongArch.status == 2)
        #expect(wrongArch.stderr.contains("arm64"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/c"))
        let badMemory = try SkiffRun("package", "lambda", "--model", "breed-classifier", "--from", Self.recipeFixtures + "/breed_classifier.h5",
                                     "-o", dir + "/d", "--memory", "64")
        #expect(badMemory.status == 2)
        #expect(badMemory.stderr.contains("--memory"))
        // A source-build context carries Skiff's own source; an existing folder is not overwritten without --force.
        let ok = try SkiffRun("package", "lambda", "--model", "breed-classifier", "--from", Self.recipeFixtures + "/breed_classifier.h5", "-o", dir + "/e")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/e/skiff-src/Sources/Serving/LambdaRuntime.swift"))
        #expect(FileManager.default.fileExists(atPath: dir + "/e/skiff-src/Package.swift"))
        let again = try SkiffRun("package", "lambda", "--model", "breed-classifier", "--from", Self.recipeFixtures + "/breed_classifier.h5", "-o", dir + "/e")
        #expect(again.status == 2)
        #expect(again.stderr.contains("--force"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
    }
}

