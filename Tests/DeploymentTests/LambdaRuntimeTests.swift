import Foundation
import Testing
import TestSupport

/// The real `skiff lambda` binary against a Runtime API server on 127.0.0.1, with real JPEG events.
@Suite(.serialized) struct LambdaRuntimeTests {
    static let images = ImageFixtures.directory
    static let usable = ["astronaut_q90_420.jpg", "chelsea_q50_422.jpg", "coffee_q75_444.jpg", "camera_gray.jpg"]

    /// classifier.keras with its image signature and labels, converted once per test.
    static func classifier(in dir: String) throws -> String {
        let out = dir + "/classifier.skiff"
        let r = try SkiffRun("convert", "keras", images + "/classifier.keras", "-o", out, "--image", "auto", "--preprocess", "tf", "--labels", images + "/labels.txt")
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    static func expectedTop1(_ file: String) -> String {
        ImageFixtures.index.images.first { $0.file == file }!.top5[0]
    }

    static func jpeg(_ file: String) -> [UInt8] { Array(FileManager.default.contents(atPath: images + "/" + file)!) }
    static func b64(_ file: String) -> String { Data(jpeg(file)).base64EncodedString() }
    static func json(_ object: Any) -> [UInt8] { Array(try! JSONSerialization.data(withJSONObject: object)) }

    /// Starts the runtime process against `server`.
    static func launch(_ arguments: [String], server: RuntimeAPIServer, executable: String = SkiffRun.binary,
                       cwd: String? = nil, environment: [String: String] = [:]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["AWS_LAMBDA_RUNTIME_API"] = server.address
        env.merge(environment) { _, new in new }
        p.environment = env
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        return (p, out)
    }

    /// Ends a runtime the way Lambda does when it retires an environment, and reaps it without blocking a
    /// cooperative thread.
    static func stop(_ process: Process) async {
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try? await Task.sleep(nanoseconds: 10_000_000) }
    }

    func predictions(_ posted: RuntimeAPIServer.Posted?) -> [[String: Any]] {
        (posted?.bodyJSON?["predictions"] as? [[String: Any]]) ?? []
    }

    @Test func answersEveryEventShapeWithTheModelsPrediction() async throws {
        let dir = try temporaryDirectory()
        let model = try Self.classifier(in: dir)
        let server = try await RuntimeAPIServer.start()
        let (process, out) = try Self.launch(["lambda", model], server: server)
        defer { kill(process.processIdentifier, SIGKILL) }

        let a = Self.usable[0], b = Self.usable[1]
        let websafe = Self.b64(a).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let cases: [(String, [UInt8], [String])] = [
            ("API Gateway REST, JPEG body", Self.json(["resource": "/predict", "path": "/predict", "httpMethod": "POST", "headers": ["Content-Type": "image/jpeg"],
                                                        "requestContext": ["stage": "prod"], "body": Self.b64(a), "isBase64Encoded": true]), [a]),
            ("HTTP API v2, JSON body", Self.json(["version": "2.0", "routeKey": "POST /predict", "rawPath": "/predict", "headers": ["content-type": "application/json"],
                                                  "requestContext": ["http": ["method": "POST"]], "body": String(decoding: Self.json(["b64": Self.b64(b)]), as: UTF8.self),
                                                  "isBase64Encoded": false]), [b]),
            ("Function URL, JPEG body", Self.json(["version": "2.0", "rawPath": "/", "headers": ["content-type": "image/jpeg"],
                                                   "requestContext": ["http": ["method": "POST"], "domainName": "x.lambda-url.us-east-1.on.aws"],
                                                   "body": Self.b64(Self.usable[2]), "isBase64Encoded": true]), [Self.usable[2]]),
            ("direct {b64}", Self.json(["b64": Self.b64(Self.usable[3])]), [Self.usable[3]]),
            ("direct {image} data URI", Self.json(["image": "data:image/jpeg;base64," + Self.b64(a)]), [a]),
            ("direct web-safe base64", Self.json(["b64": websafe]), [a]),
            ("direct {instances}", Self.json(["instances": [["b64": Self.b64(a)], ["b64": Self.b64(b)], ["b64": Self.b64(Self.usable[2])]]]),
             [a, b, Self.usable[2]]),
        ]
        for (name, event, files) in cases {
            let id = await server.invoke(event)
            let posted = await server.result(id)
            #expect(posted?.kind == .response, "\(name)")
            #expect(posted?.statusCode == 200, "\(name): \(posted.map { String(decoding: $0.body, as: UTF8.self) } ?? "no answer")")
            let preds = predictions(posted)
            #expect(preds.map { $0["label"] as? String } == files.map { Self.expectedTop1($0) }, "\(name)")
            #expect(preds.allSatisfy { ($0["top_k"] as? [Any])?.count == 5 }, "\(name)")
            #expect((posted?.json?["headers"] as? [String: String])?["Content-Type"] == "application/json")
        }

        // top_k from the query string of a proxy event
        let id = await server.invoke(Self.json(["httpMethod": "POST", "headers": ["Content-Type": "image/jpeg"], "queryStringParameters": ["top_k": "2"],
                                                "body": Self.b64(a), "isBase64Encoded": true]))
        #expect((predictions(await server.result(id)).first?["top_k"] as? [Any])?.count == 2)

        await Self.stop(process)
        await server.stop()
        // One JSON log line per request, with the request id and latency.
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = log.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.first?["event"] as? String == "init")
        #expect(lines.filter { $0["requestId"] != nil && $0["ms"] != nil && $0["status"] as? Int == 200 }.count == cases.count + 1)
    }

    @Test func rejectsBadInputAndKeepsServing() async throws {
        let dir = try temporaryDirectory()
        let model = try Self.classifier(in: dir)
        let server = try await RuntimeAPIServer.start()
        let (process, _) = try Self.launch(["lambda", model], server: server)
        defer { kill(process.processIdentifier, SIGKILL) }
        let tiny = Self.b64("tiny_7x5.jpg")
        let bad: [(String, [UInt8], Int, String)] = [
            ("no image field", Self.json(["picture": 1]), 400, "b64"),
            ("not an image", Self.json(["b64": Data("hello, world".utf8).base64EncodedString()]), 400, "JPEG"),
            ("not base64", Self.json(["b64": "***"]), 400, "base64"),
            ("a PNG", Self.json(["b64": Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]).base64EncodedString()]), 400, "PNG"),
            ("truncated JPEG", Self.json(["b64": Data(Self.jpeg(Self.usable[0]).prefix(600)).base64EncodedString()]), 400, "JPEG"),
            ("proxy without body", Self.json(["httpMethod": "POST", "headers": [:] as [String: String], "body": NSNull()]), 400, "no body"),
            ("proxy JSON not JSON", Self.json(["httpMethod": "POST", "headers": ["Content-Type": "application/json"], "body": "{not json"]), 400, "JSON"),
            ("instances not a list", Self.json(["instances": "x"]), 400, "instances"),
            ("too many images", Self.json(["instances": Array(repeating: ["b64": tiny], count: 65)]), 413, "64"),
            ("event not JSON", Array("GET / HTTP/1.1".utf8), 400, "JSON"),
        ]
        for (name, event, status, needle) in bad {
            let id = await server.invoke(event)
            let posted = await server.result(id)
            #expect(posted?.kind == .response, "\(name)")
            #expect(posted?.statusCode == status, "\(name): \(posted.map { String(decoding: $0.body, as: UTF8.self) } ?? "no answer")")
            let error = posted?.bodyJSON?["error"] as? String ?? ""
            #expect(!error.isEmpty && error.contains(needle), "\(name): \(error)")
        }
        // A deadline already past: reported as a function error, and the next request is still served.
        let late = await server.invoke(Self.json(["b64": Self.b64(Self.usable[0])]), deadlineMs: Int64(Date().timeIntervalSince1970 * 1000) - 1)
        let lateResult = await server.result(late)
        #expect(lateResult?.kind == .error)
        #expect(lateResult?.errorType == "Skiff.DeadlineExceeded")
        let ok = await server.invoke(Self.json(["b64": Self.b64(Self.usable[0])]))
        #expect(predictions(await server.result(ok)).first?["label"] as? String == Self.expectedTop1(Self.usable[0]))
        await Self.stop(process)
        await server.stop()
    }

    @Test func reportsInitErrorsAndExits() async throws {
        let server = try await RuntimeAPIServer.start()
        let (process, _) = try Self.launch(["lambda", "/nonexistent/model.skiff"], server: server)
        let posted = await server.result("init")
        #expect(posted?.kind == .initError)
        #expect(posted?.errorType == "Skiff.InitError")
        #expect((posted?.json?["errorMessage"] as? String)?.contains("/nonexistent/model.skiff") == true)
        while process.isRunning { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(process.terminationStatus == 1)
        await server.stop()

        // Outside Lambda: a clear usage error, exit 2.
        let r = try SkiffRun(arguments: ["lambda", "x.skiff"], environment: ["AWS_LAMBDA_RUNTIME_API": ""])
        #expect(r.status == 2)
        #expect(r.stderr.contains("AWS_LAMBDA_RUNTIME_API"))
    }
}
