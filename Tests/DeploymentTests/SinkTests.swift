import Foundation
import Formats
import Importers
import Serving
import HTTPServer
import Testing
import TestSupport

/// The sinks of the Lambda runtime against real services on 127.0.0.1: moto_server (S3) and a throwaway PostgreSQL
/// cluster, with real JPEG API Gateway events, and faults (PostgreSQL stopped and restarted, S3 refusing writes).
@Suite(.serialized) struct SinkTests {
    static let usable = LambdaRuntimeTests.usable
    /// Labels and a model name that would break string-built SQL, JSON or S3 keys.
    static let hostileLabels = ["it's an \"apple\"", "bi;cycle", "cat'); DROP TABLE skiff_predictions;--", "café ☕ coffee", "dög \\ back",
                                "espresso \"\"", "顔 face", "rocket 🚀", "tea'pot;", "zebra\u{301} é"]
    static let hostileName = "squeeze\"net's; DROP TABLE x;-- 猫 ü"

    final class Rig: @unchecked Sendable {
        let moto: MotoServer
        let pg: PostgresServer
        let dir: String
        let model: String
        let bucket = "kept-images"
        /// - Parameter model: a ready `.skiff` to deploy instead of the test classifier with hostile labels.
        init(bucket create: Bool = true, model given: String? = nil) async throws {
            moto = try MotoServer()
            pg = try PostgresServer()
            dir = try temporaryDirectory("skiff-sinks")
            if let given {
                model = given
            } else {
                let labels = dir + "/labels.txt"
                try SinkTests.hostileLabels.joined(separator: "\n").write(toFile: labels, atomically: true, encoding: .utf8)
                model = dir + "/classifier.skiff"
                let r = try SkiffRun("convert", "keras", LambdaRuntimeTests.images + "/classifier.keras", "-o", model, "--image", "auto",
                                     "--preprocess", "tf", "--labels", labels)
                guard r.status == 0 else { throw ServingError(.internal, r.stderr) }
            }
            if create {
                let s3 = try moto.client()
                try await s3.createBucket(bucket)
                await s3.shutdown()
            }
        }

        func initSchema() throws -> SkiffRun {
            try SkiffRun(arguments: ["sinks", "init", "--record", pg.uri], environment: pg.environment)
        }

        /// The runtime's environment: both sinks, the S3 endpoint from AWS_ENDPOINT_URL_S3 (as the AWS SDKs read it).
        func environment(mode: String, queue: String, extra: [String: String] = [:]) -> [String: String] {
            var env = moto.environment.merging(pg.environment) { a, _ in a }
            env["AWS_ENDPOINT_URL_S3"] = moto.endpoint
            env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"  // must lose to the S3-specific variable
            env["SKIFF_STORE_IMAGES"] = "s3://\(bucket)/prod/in"
            env["SKIFF_RECORD_URL"] = pg.uri
            env["SKIFF_SINK_MODE"] = mode
            env["SKIFF_SINK_QUEUE"] = queue
            env["SKIFF_SINK_RETRY_SECONDS"] = "0.2"
            env["AWS_LAMBDA_FUNCTION_NAME"] = SinkTests.hostileName
            return env.merging(extra) { _, new in new }
        }

        func rows(_ requestID: String) async throws -> [[String?]] {
            try await pg.query("""
                SELECT request_id, image_index::text, model_name, model_version, model_sha256, prediction::text, image_uri, image_sha256,
                       image_bytes::text, latency_ms::text, id::text
                FROM skiff_predictions WHERE request_id = \(requestID) ORDER BY image_index
                """)
        }

        func count() async throws -> Int {
            let v: String? = try await pg.query("SELECT count(*)::text FROM skiff_predictions").first?.first ?? nil
            return Int(v ?? "") ?? -1
        }

        func object(_ uri: String) async throws -> [UInt8]? {
            let s3 = try moto.client()
            defer { Task { await s3.shutdown() } }
            let prefix = "s3://\(bucket)/"
            guard uri.hasPrefix(prefix) else { return nil }
            return try await s3.get(bucket: bucket, key: String(uri.dropFirst(prefix.count)))
        }
    }

    static func event(_ file: String) -> [UInt8] {
        LambdaRuntimeTests.json(["resource": "/predict", "path": "/predict", "httpMethod": "POST", "headers": ["Content-Type": "image/jpeg"],
                                 "requestContext": ["stage": "prod", "requestId": UUID().uuidString], "body": LambdaRuntimeTests.b64(file),
                                 "isBase64Encoded": true])
    }

    static func expectedLabel(_ file: String) -> String {
        let plain = try! String(contentsOfFile: LambdaRuntimeTests.images + "/labels.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        return hostileLabels[plain.firstIndex(of: LambdaRuntimeTests.expectedTop1(file))!]
    }

    static func object(_ s: String?) -> [String: Any]? { s.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } }

    static func waitUntil(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return try await condition()
    }

    static func jobs(_ queue: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: queue)) ?? []).filter { $0.hasSuffix(".job") }.count
    }

    @Test func storesEveryImageAndRowOnceWithHostileValuesVerbatim() async throws {
        let rig = try await Rig()
        let queue = rig.dir + "/queue"
        let server = try await RuntimeAPIServer.start()

        // Before `skiff sinks init` the runtime refuses to start, and says what to run.
        let (early, _) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: server, environment: rig.environment(mode: "required", queue: queue))
        let initError = await server.result("init")
        #expect(initError?.kind == .initError)
        let initMessage = initError?.json?["errorMessage"] as? String ?? ""
        #expect(initMessage.contains("skiff sinks init --record \(rig.pg.uri)"), "\(initMessage)")
        #expect(!initMessage.contains(rig.pg.password))
        while early.isRunning { try await Task.sleep(nanoseconds: 10_000_000) }
        await server.stop()

        // The migration is versioned and idempotent.
        let first = try rig.initSchema()
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("from version 0 to 1"), "\(first.stdout)")
        let again = try rig.initSchema()
        #expect(again.status == 0 && again.stdout.contains("already in place"), "\(again.stdout) \(again.stderr)")
        #expect(try await rig.pg.query("SELECT version::text FROM skiff_schema_version").map { $0[0] } == ["1"])

        let api = try await RuntimeAPIServer.start()
        let (process, out) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api, environment: rig.environment(mode: "required", queue: queue))
        defer { kill(process.processIdentifier, SIGKILL) }
        let modelSHA = try Digest.sha256Hex(file: rig.model)

        var ids: [String: String] = [:]
        for file in Self.usable {
            let id = await api.invoke(Self.event(file))
            ids[file] = id
            let posted = await api.result(id)
            #expect(posted?.statusCode == 200, "\(file): \(posted.map { String(decoding: $0.body, as: UTF8.self) } ?? "no answer")")
            let body = try #require(posted?.bodyJSON)
            #expect(body["request_id"] as? String == id)
            let entry = try #require((body["predictions"] as? [[String: Any]])?.first)
            #expect(entry["label"] as? String == Self.expectedLabel(file))
            #expect(body["model"] as? String == Self.hostileName)
            let uri = try #require(entry["image_uri"] as? String)
            let recordID = try #require(entry["record_id"] as? Int)

            // The image: byte for byte, under PREFIX/MODEL/YYYY/MM/DD/<request-id>.jpg.
            let day = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate]).replacingOccurrences(of: "-", with: "/")
            // The key keeps to S3's safe characters; the row keeps the name verbatim.
            #expect(uri == "s3://\(rig.bucket)/prod/in/squeeze_net_s__DROP_TABLE_x_--____/\(day)/\(id).jpg")
            let stored = try await rig.object(uri)
            #expect(stored == LambdaRuntimeTests.jpeg(file))

            // The row: every column matches the request and the answer.
            let rows = try await rig.rows(id)
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row[0] == id && row[1] == "0" && row[2] == Self.hostileName && row[3] == "1" && row[4] == modelSHA)
            let prediction = try #require(Self.object(row[5]))
            #expect(prediction["label"] as? String == Self.expectedLabel(file))
            #expect(prediction["image"] as? String == "body")
            #expect((prediction["top_k"] as? [[String: Any]])?.map { $0["label"] as? String } == (entry["top_k"] as? [[String: Any]])?.map { $0["label"] as? String })
            #expect(row[6] == uri)
            #expect(row[7] == Digest.sha256Hex(LambdaRuntimeTests.jpeg(file)))
            #expect(row[8] == String(LambdaRuntimeTests.jpeg(file).count))
            #expect((Double(row[9] ?? "") ?? -1) > 0)
            #expect(row[10] == String(recordID))
        }

        // A retried invocation (same request id): answered again, stored once, same record id.
        let retried = ids[Self.usable[0]]!
        let before = try await rig.rows(retried)
        await api.forget(retried)
        _ = await api.invoke(Self.event(Self.usable[0]), id: retried)
        let second = await api.result(retried)
        #expect(second?.statusCode == 200)
        let secondEntry = (second?.bodyJSON?["predictions"] as? [[String: Any]])?.first
        #expect(secondEntry?["record_id"] as? Int == Int(before.first?[10] ?? ""))
        #expect(try await rig.rows(retried).count == 1)

        // A batch: one object and one row per image, in order.
        let batch = await api.invoke(LambdaRuntimeTests.json(["instances": [["b64": LambdaRuntimeTests.b64(Self.usable[1])], ["b64": LambdaRuntimeTests.b64(Self.usable[2])]]]))
        let batchPosted = await api.result(batch)
        #expect(batchPosted?.statusCode == 200)
        let batchRows = try await rig.rows(batch)
        #expect(batchRows.map { $0[1] } == ["0", "1"])
        for (i, row) in batchRows.enumerated() {
            #expect(row[6]?.hasSuffix("/\(batch)-\(i).jpg") == true)
            #expect(try await rig.object(row[6] ?? "") == LambdaRuntimeTests.jpeg(Self.usable[1 + i]))
        }
        #expect(try await rig.count() == Self.usable.count + 2)

        await LambdaRuntimeTests.stop(process)
        await api.stop()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!log.contains(rig.pg.password))
        #expect(log.contains("\"recorded\":"))
    }

    @Test func requiredModeAnswers503WithoutAPartialRowWhilePostgresIsDown() async throws {
        let rig = try await Rig()
        #expect(try rig.initSchema().status == 0)
        let api = try await RuntimeAPIServer.start()
        let (process, out) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api, environment: rig.environment(mode: "required", queue: rig.dir + "/queue"))
        defer { kill(process.processIdentifier, SIGKILL) }

        let ok = await api.invoke(Self.event(Self.usable[0]))
        #expect(await api.result(ok)?.statusCode == 200)

        try rig.pg.stop()
        var refused: [String] = []
        for file in Self.usable.prefix(2) {
            let id = await api.invoke(Self.event(file))
            refused.append(id)
            let posted = await api.result(id)
            #expect(posted?.kind == .response)
            #expect(posted?.statusCode == 503)
            let error = posted?.bodyJSON?["error"] as? String ?? ""
            #expect(error.contains("record sink") && error.contains("postgres://skiff@127.0.0.1:\(rig.pg.port)/postgres"), "\(error)")
            #expect(!error.contains(rig.pg.password))
            #expect(posted?.bodyJSON?["predictions"] == nil)
        }
        try rig.pg.start()
        // Reconnects (with backoff) once PostgreSQL is back.
        var after = ""
        let recovered = try await Self.waitUntil(20) {
            let id = await api.invoke(Self.event(Self.usable[3]))
            after = id
            return await api.result(id)?.statusCode == 200
        }
        #expect(recovered)
        #expect(try await rig.rows(ok).count == 1)
        #expect(try await rig.rows(after).count == 1)
        for id in refused { #expect(try await rig.rows(id).isEmpty, "no row for a refused request") }
        #expect(Self.jobs(rig.dir + "/queue") == 0, "required mode queues nothing")
        await LambdaRuntimeTests.stop(process)
        await api.stop()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!log.contains(rig.pg.password))
        #expect(log.contains("\"sink\":\"record\""))
    }

    /// The issue's deployment: the `squeezenet` recipe packaged for Lambda (its SqueezeNet 1.1 architecture at
    /// test size, ImageNet labels), both sinks best-effort, PostgreSQL going away and coming back.
    @Test func aSqueezenetDeploymentKeepsEveryImageAndPredictionThroughAnOutage() async throws {
        let ctx = try temporaryDirectory("skiff-squeezenet") + "/ctx"
        let p = try SkiffRun("package", "lambda", "--model", "squeezenet", "--from", packageRoot + "/fixtures/recipes/squeezenet_mini.h5", "--prebuilt", "-o", ctx)
        #expect(p.status == 0, "\(p.stderr)")
        let rig = try await Rig(model: ctx + "/model.skiff")
        #expect(try rig.initSchema().status == 0)
        let index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: packageRoot + "/fixtures/recipes/index.json"))) as? [String: Any])
        let golden = try #require(index["squeezenet_mini.h5"] as? [String: [String: Any]])
        let imagenet = try String(contentsOfFile: packageRoot + "/recipes/labels/imagenet1000.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        func expected(_ file: String) -> String? { (golden[file]?["indices"] as? [Int])?.first.map { imagenet[$0] } }

        let queue = rig.dir + "/queue"
        let api = try await RuntimeAPIServer.start()
        let (process, _) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api, environment: rig.environment(mode: "best-effort", queue: queue))
        defer { kill(process.processIdentifier, SIGKILL) }
        var sent: [(id: String, file: String)] = []
        func send(_ file: String) async {
            let id = await api.invoke(Self.event(file))
            let posted = await api.result(id)
            #expect(posted?.statusCode == 200)
            #expect(((posted?.bodyJSON?["predictions"] as? [[String: Any]])?.first?["label"] as? String) == expected(file), "\(file)")
            sent.append((id, file))
        }
        for file in Self.usable.prefix(2) { await send(file) }
        try rig.pg.stop()
        for file in Self.usable { await send(file) }
        try rig.pg.start()
        #expect(try await Self.waitUntil(30) { Self.jobs(queue) == 0 }, "the queue drains once PostgreSQL is back")
        for (id, file) in sent {
            let rows = try await rig.rows(id)
            #expect(rows.count == 1, "\(file): recorded exactly once")
            #expect(Self.object(rows.first?[5] ?? nil)?["label"] as? String == expected(file))
            let stored = try await rig.object(rows.first?[6] ?? "")
            #expect(stored == LambdaRuntimeTests.jpeg(file), "\(file): the image is stored byte for byte")
        }
        #expect(try await rig.count() == sent.count)
        await LambdaRuntimeTests.stop(process)
        await api.stop()
    }

    @Test func bestEffortKeepsAnsweringQueuesAndDrainsExactlyOnce() async throws {
        let rig = try await Rig()
        #expect(try rig.initSchema().status == 0)
        let queue = rig.dir + "/queue"
        let api = try await RuntimeAPIServer.start()
        let (process, out) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api,
                                                           environment: rig.environment(mode: "best-effort", queue: queue, extra: ["SKIFF_SINK_QUEUE_MAX": "5"]))
        defer { kill(process.processIdentifier, SIGKILL) }

        var kept: [String] = []
        for file in Self.usable.prefix(2) {
            let id = await api.invoke(Self.event(file))
            kept.append(id)
            #expect(await api.result(id)?.statusCode == 200)
        }

        try rig.pg.stop()
        // Down: every request is still answered with its prediction; the image is stored, the row is queued.
        for i in 0..<5 {
            let file = Self.usable[i % Self.usable.count]
            let id: String
            if i == 4 {
                // A retry of a request already recorded: queued, and still inserted only once when drained.
                id = kept[0]
                await api.forget(id)
                _ = await api.invoke(Self.event(Self.usable[0]), id: id)
            } else {
                id = await api.invoke(Self.event(file))
                kept.append(id)
            }
            let posted = await api.result(id)
            #expect(posted?.statusCode == 200)
            let body = posted?.bodyJSON
            let entry = (body?["predictions"] as? [[String: Any]])?.first
            #expect(entry?["label"] as? String == Self.expectedLabel(i == 4 ? Self.usable[0] : file))
            #expect(entry?["record_id"] == nil)
            #expect((entry?["image_uri"] as? String)?.hasPrefix("s3://\(rig.bucket)/") == true)
            #expect((body?["sink_warnings"] as? [String])?.first?.hasPrefix("record: deferred") == true, "\(String(describing: body?["sink_warnings"]))")
        }
        #expect(Self.jobs(queue) == 5)

        // Full: answered, counted and logged as dropped — never unbounded growth.
        let dropped = await api.invoke(Self.event(Self.usable[1]))
        let droppedPosted = await api.result(dropped)
        #expect(droppedPosted?.statusCode == 200)
        #expect((droppedPosted?.bodyJSON?["sink_warnings"] as? [String])?.contains { $0.contains("queue is full") } == true)
        #expect(Self.jobs(queue) == 5)

        try rig.pg.start()
        let drained = try await Self.waitUntil(30) { Self.jobs(queue) == 0 }
        #expect(drained, "the queue drains once PostgreSQL is back")
        for id in kept {
            let rows = try await rig.rows(id)
            #expect(rows.count == 1, "request \(id) recorded exactly once")
            #expect(try await rig.object(rows.first?[6] ?? "") != nil, "its image is in S3")
        }
        #expect(try await rig.count() == kept.count)
        #expect(try await rig.rows(dropped).isEmpty)

        await LambdaRuntimeTests.stop(process)
        await api.stop()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("\"outcome\":\"dropped\""))
        #expect(log.contains("\"outcome\":\"drained\""))
    }

    @Test func s3RefusingWritesFailsRequiredAndDefersBestEffort() async throws {
        let rig = try await Rig(bucket: false)  // the bucket does not exist yet: every PUT is refused (NoSuchBucket)
        #expect(try rig.initSchema().status == 0)
        let queue = rig.dir + "/queue"

        let api = try await RuntimeAPIServer.start()
        let (required, _) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api, environment: rig.environment(mode: "required", queue: queue))
        let refused = await api.invoke(Self.event(Self.usable[0]))
        let posted = await api.result(refused)
        #expect(posted?.statusCode == 503)
        let error = posted?.bodyJSON?["error"] as? String ?? ""
        #expect(error.contains("image sink s3://\(rig.bucket)/prod/in") && error.contains("NoSuchBucket"), "\(error)")
        #expect(try await rig.rows(refused).isEmpty, "no row without its image")
        await LambdaRuntimeTests.stop(required)
        await api.stop()

        let api2 = try await RuntimeAPIServer.start()
        let (process, _) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api2, environment: rig.environment(mode: "best-effort", queue: queue))
        defer { kill(process.processIdentifier, SIGKILL) }
        let deferred = await api2.invoke(Self.event(Self.usable[2]))
        let answer = await api2.result(deferred)
        #expect(answer?.statusCode == 200)
        let entry = (answer?.bodyJSON?["predictions"] as? [[String: Any]])?.first
        #expect(entry?["label"] as? String == Self.expectedLabel(Self.usable[2]))
        #expect(entry?["image_uri"] == nil && entry?["record_id"] == nil)
        #expect(Self.jobs(queue) == 1)
        #expect(try await rig.rows(deferred).isEmpty, "the row waits for its image")

        // S3 accepts writes again: the image is stored first, then the row.
        let s3 = try rig.moto.client()
        try await s3.createBucket(rig.bucket)
        await s3.shutdown()
        #expect(try await Self.waitUntil(30) { Self.jobs(queue) == 0 })
        let rows = try await rig.rows(deferred)
        #expect(rows.count == 1)
        #expect(try await rig.object(rows.first?[6] ?? "") == LambdaRuntimeTests.jpeg(Self.usable[2]))
        await LambdaRuntimeTests.stop(process)
        await api2.stop()
    }
}

extension SinkTests {
    /// `skiff serve` with both sinks from flags (the password from PGPASSWORD): `:labels` answers carry the image URI
    /// and record id, X-Request-Id makes a client's retry idempotent, a stopped PostgreSQL gives 503 in required
    /// mode, and /metrics counts the writes and failures.
    @Test func serveKeepsLabelsPredictionsAndFailsRequiredWith503() async throws {
        let rig = try await Rig()
        #expect(try rig.initSchema().status == 0)
        var env = rig.moto.environment.merging(rig.pg.environment) { a, _ in a }
        env["AWS_ENDPOINT_URL_S3"] = rig.moto.endpoint
        let server = try ServeProcess([rig.model, "--name", "cls", "--store-images", "s3://\(rig.bucket)/serve", "--record", rig.pg.uri,
                                       "--sink-mode", "required", "--sink-queue", rig.dir + "/queue", "--no-request-log"],
                                      environment: env, captureStderr: true)
        let file = Self.usable[1]
        let reply = try await server.request("/v1/models/cls:labels", method: .POST, body: LambdaRuntimeTests.jpeg(file), contentType: "image/jpeg",
                                             headers: [("X-Request-Id", "client-42")])
        #expect(reply.status == 200, "\(reply.text)")
        #expect(reply.json?["request_id"] as? String == "client-42")
        let entry = (reply.json?["predictions"] as? [[String: Any]])?.first
        #expect(entry?["label"] as? String == Self.expectedLabel(file))
        let uri = try #require(entry?["image_uri"] as? String)
        #expect(uri.hasPrefix("s3://\(rig.bucket)/serve/cls/") && uri.hasSuffix("/client-42.jpg"))
        #expect(try await rig.object(uri) == LambdaRuntimeTests.jpeg(file))
        let rows = try await rig.rows("client-42")
        #expect(rows.count == 1 && rows.first?[2] == "cls" && rows.first?[10] == (entry?["record_id"] as? Int).map(String.init))

        // The client retries with the same id: one row.
        let retry = try await server.request("/v1/models/cls:labels", method: .POST, body: LambdaRuntimeTests.jpeg(file), contentType: "image/jpeg",
                                             headers: [("X-Request-Id", "client-42")])
        #expect(retry.status == 200)
        #expect(try await rig.rows("client-42").count == 1)

        try rig.pg.stop()
        let down = try await server.request("/v1/models/cls:labels", method: .POST, body: LambdaRuntimeTests.jpeg(file), contentType: "image/jpeg",
                                            headers: [("X-Request-Id", "client-43")])
        #expect(down.status == 503)
        #expect((down.json?["error"] as? String)?.contains("record sink postgres://skiff@127.0.0.1:\(rig.pg.port)/postgres") == true, "\(down.text)")
        let metrics = try await server.request("/metrics").text
        #expect(metrics.contains(#"skiff_sink_writes_total{sink="images"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"skiff_sink_writes_total{sink="record"} 2"#))
        #expect(metrics.contains(#"skiff_sink_failures_total{sink="record"} 1"#))
        try rig.pg.start()
        #expect(try await rig.rows("client-43").isEmpty)
        #expect(await server.stop() == 0)
        #expect(!server.stderr.contains(rig.pg.password))
    }
}

extension SinkTests {
    /// The warm latency each sink mode adds to a Lambda invocation (docs/BENCHMARKS.md): the runtime's own `ms`
    /// per request (predict + sinks), median over `SKIFF_BENCH_SINKS` requests after 5 warm-ups, against moto and a
    /// local PostgreSQL. Run with `SKIFF_BENCH_SINKS=200 swift test --filter measuresAddedWarmLatency`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SKIFF_BENCH_SINKS"] != nil))
    func measuresAddedWarmLatency() async throws {
        let n = Int(ProcessInfo.processInfo.environment["SKIFF_BENCH_SINKS"] ?? "") ?? 100
        let rig = try await Rig()
        #expect(try rig.initSchema().status == 0)
        let event = Self.event(Self.usable[1])
        func median(_ name: String, _ env: [String: String], setup: () throws -> Void = {}) async throws -> Double {
            let api = try await RuntimeAPIServer.start()
            let (process, out) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api, environment: env)
            // Read the log while it is written: a full pipe would block the runtime.
            let reader = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }
            for _ in 0..<5 { _ = await api.result(await api.invoke(event)) }
            try setup()
            for _ in 0..<n { #expect(await api.result(await api.invoke(event))?.statusCode == 200) }
            await LambdaRuntimeTests.stop(process)
            await api.stop()
            let lines = String(decoding: await reader.value, as: UTF8.self).split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["ms"] as? Double }
            let warm = Array(lines.dropFirst(5)).sorted()
            let m = warm[warm.count / 2], p90 = warm[warm.count * 9 / 10]
            print("sink bench: \(name): median \(m) ms, p90 \(p90) ms over \(warm.count) warm requests")
            return m
        }
        var plain = rig.moto.environment
        plain["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
        let none = try await median("no sinks", plain)
        var base = rig.environment(mode: "required", queue: rig.dir + "/q1")
        base["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
        let required = try await median("required (S3 + PostgreSQL)", base)
        base["SKIFF_SINK_MODE"] = "best-effort"
        base["SKIFF_SINK_QUEUE"] = rig.dir + "/q2"
        let bestEffort = try await median("best-effort, sinks healthy", base)
        base["SKIFF_SINK_QUEUE"] = rig.dir + "/q3"
        base["SKIFF_SINK_QUEUE_MAX"] = String(n + 10)
        let queued = try await median("best-effort, PostgreSQL down (row queued on disk)", base, setup: { try rig.pg.stop() })
        try rig.pg.start()
        print("sink bench: added warm latency: required +\(required - none) ms, best-effort +\(bestEffort - none) ms, queued +\(queued - none) ms")
        #expect(required > 0 && bestEffort > 0 && queued > 0 && none > 0)
    }
}

extension SinkTests {
    /// Configuration: a password is never taken from the URI (and never echoed), it comes from the environment or a
    /// file; flags win over the environment; the S3 endpoint follows the AWS SDKs' variables; keys are safe.
    @Test func configurationKeepsPasswordsOffTheCommandLine() throws {
        let leaky = "postgres://app:s3cr3t-pw@db:5432/predictions"
        #expect { try RecordLocation(leaky) } throws: { error in
            let message = (error as? ServingError)?.message ?? ""
            return message.contains("must not contain a password") && !message.contains("s3cr3t-pw")
        }
        var location = try RecordLocation("postgres://app@db.internal:6543/predictions?sslmode=verify-full&sslrootcert=/var/task/rds.pem")
        #expect(location.port == 6543 && location.database == "predictions" && location.tls == .verifyFull && location.rootCertificate == "/var/task/rds.pem")
        try location.resolvePassword(file: nil, environment: ["PGPASSWORD": "from-pg", "SKIFF_RECORD_PASSWORD": "from-skiff"])
        #expect(location.password == "from-skiff")
        let file = try temporaryDirectory() + "/pw"
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        try location.resolvePassword(file: file, environment: ["PGPASSWORD": "from-pg"])
        #expect(location.password == "from-file")
        #expect(!location.description.contains("from-file"))
        #expect(throws: ServingError.self) { try RecordLocation("postgres://app@db/predictions?sslmode=sometimes") }

        let env = ["SKIFF_STORE_IMAGES": "s3://env-bucket/p", "SKIFF_RECORD_URL": "postgres://app@db/x", "SKIFF_SINK_MODE": "best-effort",
                   "SKIFF_RECORD_MODE": "required", "AWS_ENDPOINT_URL": "http://general:1", "AWS_ENDPOINT_URL_S3": "http://s3-only:2"]
        let fromEnv = try #require(try SinkConfiguration.resolve(storeImages: nil, record: nil, mode: nil, passwordFile: nil, queue: nil, environment: env))
        #expect(fromEnv.images == (try ImageStoreLocation("s3://env-bucket/p")) && fromEnv.imagesMode == .bestEffort && fromEnv.recordMode == .required)
        #expect(fromEnv.s3Endpoint == "http://s3-only:2")
        var general = env
        general["AWS_ENDPOINT_URL_S3"] = nil
        #expect(SinkConfiguration.s3Endpoint(environment: general) == "http://general:1")
        let flags = try #require(try SinkConfiguration.resolve(storeImages: "s3://flag-bucket", record: nil, mode: "required", passwordFile: nil, queue: "/q", environment: env))
        #expect(flags.images?.bucket == "flag-bucket" && flags.imagesMode == .required && flags.recordMode == .required && flags.queueDirectory == "/q")
        #expect(try SinkConfiguration.resolve(storeImages: nil, record: nil, mode: nil, passwordFile: nil, queue: nil, environment: [:]) == nil)
        #expect(throws: ServingError.self) { try SinkConfiguration.resolve(storeImages: "http://x", record: nil, mode: nil, passwordFile: nil, queue: nil, environment: [:]) }

        let key = try ImageStoreLocation("s3://b/in/").key(model: "a/b c\"", requestID: "..", index: 2, count: 3, ext: "png", date: Date(timeIntervalSince1970: 0))
        #expect(key == "in/a_b_c_/1970/01/01/_..-2.png")
    }

    /// The runtime killed in the middle of a stream of requests: whatever rows exist point at stored images with the
    /// recorded sha256 — never a row without its image.
    @Test func aRuntimeKilledMidRequestLeavesNoRowWithoutItsImage() async throws {
        let rig = try await Rig()
        #expect(try rig.initSchema().status == 0)
        let api = try await RuntimeAPIServer.start()
        let (process, _) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api, environment: rig.environment(mode: "required", queue: rig.dir + "/queue"))
        var ids: [String] = []
        for i in 0..<12 { ids.append(await api.invoke(Self.event(Self.usable[i % Self.usable.count]))) }
        _ = await api.result(ids[2])
        try await Task.sleep(nanoseconds: 3_000_000)  // somewhere inside a later request
        await LambdaRuntimeTests.stop(process)
        await api.stop()
        let rows = try await rig.pg.query("SELECT request_id, image_uri, image_sha256 FROM skiff_predictions")
        #expect(rows.count >= 3 && rows.count < ids.count, "some requests were stored, the rest cut off (\(rows.count))")
        for row in rows {
            let stored = try #require(try await rig.object(row[1] ?? ""), "row \(row[0] ?? "") points at \(row[1] ?? "nothing")")
            #expect(Digest.sha256Hex(stored) == row[2])
        }
    }
}

extension SinkTests {
    /// Best-effort with PostgreSQL down at start: the runtime starts (logging it), answers, queues the rows, and
    /// records them once PostgreSQL comes up. Required with PostgreSQL down at start: an init error naming the sink.
    @Test func startsWithTheDatabaseDownOnlyInBestEffort() async throws {
        let rig = try await Rig()
        #expect(try rig.initSchema().status == 0)
        try rig.pg.stop()

        let api = try await RuntimeAPIServer.start()
        let (required, _) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api, environment: rig.environment(mode: "required", queue: rig.dir + "/q"))
        let initError = await api.result("init")
        #expect(initError?.kind == .initError)
        #expect((initError?.json?["errorMessage"] as? String)?.contains("record sink postgres://skiff@127.0.0.1:\(rig.pg.port)/postgres") == true)
        while required.isRunning { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(required.terminationStatus == 1)
        await api.stop()

        let queue = rig.dir + "/queue"
        let api2 = try await RuntimeAPIServer.start()
        let (process, _) = try LambdaRuntimeTests.launch(["lambda", rig.model], server: api2, environment: rig.environment(mode: "best-effort", queue: queue))
        defer { kill(process.processIdentifier, SIGKILL) }
        var ids: [String] = []
        for file in Self.usable {
            let id = await api2.invoke(Self.event(file))
            ids.append(id)
            let posted = await api2.result(id)
            #expect(posted?.statusCode == 200)
            #expect(((posted?.bodyJSON?["predictions"] as? [[String: Any]])?.first?["label"] as? String) == Self.expectedLabel(file))
        }
        #expect(Self.jobs(queue) == Self.usable.count)
        try rig.pg.start()
        #expect(try await Self.waitUntil(30) { Self.jobs(queue) == 0 })
        for id in ids { #expect(try await rig.rows(id).count == 1) }
        await LambdaRuntimeTests.stop(process)
        await api2.stop()
    }
}

extension SinkTests {
    /// `auth=iam`: the RDS IAM token is exactly what botocore's generate_db_auth_token makes for the same
    /// credentials, clock, host, port, user and region (botocore comes with moto[server], which the tests install).
    @Test func rdsIAMTokensMatchBotocore() throws {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "tok/en+=")
        let date = Date(timeIntervalSince1970: 1_767_323_045)  // 2026-01-02T03:04:05Z
        let ours = SigV4.rdsAuthToken(host: "db.example.com", port: 5432, user: "skiff iam", region: "eu-west-1", credentials: credentials, date: date)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", """
            import datetime, botocore.session, botocore.auth
            botocore.auth.get_current_datetime = lambda remove_tzinfo=True: datetime.datetime(2026, 1, 2, 3, 4, 5)
            s = botocore.session.get_session()
            s.set_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok/en+=")
            c = s.create_client("rds", region_name="eu-west-1")
            print(c.generate_db_auth_token(DBHostname="db.example.com", Port=5432, DBUsername="skiff iam"))
            """]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        let theirs = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        python.waitUntilExit()
        #expect(python.terminationStatus == 0)
        // The same parameters and signature (botocore puts X-Amz-Security-Token after X-Amz-SignedHeaders; the order
        // of a query string does not matter to the server, which sorts it to check the signature).
        func parts(_ token: String) -> Set<Substring> { Set(token.split(separator: "?", maxSplits: 1).last?.split(separator: "&") ?? []) }
        #expect(parts(ours) == parts(theirs) && !parts(ours).isEmpty)
        #expect(ours.split(separator: "&").last == theirs.split(separator: "&").last)
        #expect(ours.hasPrefix("db.example.com:5432/?Action=connect&DBUser=skiff%20iam&"))

        #expect(try RecordLocation("postgres://skiff@db:5432/p?sslmode=require&auth=iam").iamAuth)
        #expect(throws: ServingError.self) { try RecordLocation("postgres://skiff@db:5432/p?sslmode=disable&auth=iam") }
    }
}
