import AsyncHTTPClient
import Formats
import Importers
import Foundation
import NIOCore
import NIOHTTP1
import Engine
import Serving
import HTTPServer
import Testing
import TestSupport

/// A running `skiff serve` process on 127.0.0.1 (port chosen by the OS, read from its first line).
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let output = Pipe()

    /// Where the server's stderr goes when the test reads it (its request log), else the test's own stderr.
    let stderrPath: String?

    init(_ arguments: [String], environment: [String: String] = [:], captureStderr: Bool = false) throws {
        process.executableURL = URL(fileURLWithPath: SkiffRun.binary)
        process.arguments = ["serve", "--port", "0"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = output
        if captureStderr {
            let path = try temporaryDirectory() + "/serve.stderr"
            FileManager.default.createFile(atPath: path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            stderrPath = path
        } else {
            process.standardError = FileHandle.standardError
            stderrPath = nil
        }
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n") && Date() < deadline && process.isRunning {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        guard let range = text.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
              let port = Int(text[range].split(separator: ":").last ?? "") else {
            process.terminate()
            throw ServingError(.internal, "skiff serve did not start: \(text)")
        }
        self.port = port
    }

    var base: String { "http://127.0.0.1:\(port)" }

    struct Reply: Sendable {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    var stderr: String { stderrPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }

    func request(_ path: String, method: HTTPMethod = .GET, body: [UInt8]? = nil, contentType: String? = nil,
                 headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        var buffer = try await response.body.collect(upTo: 64 << 20)
        var headers: [String: String] = [:]
        for h in response.headers { headers[h.name.lowercased()] = h.value }
        return Reply(status: Int(response.status.code), headers: headers, body: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    func post(_ path: String, json: Any) async throws -> Reply {
        try await request(path, method: .POST, body: Array(try JSONSerialization.data(withJSONObject: json)), contentType: "application/json")
    }

    /// SIGTERM, then wait (without blocking a cooperative thread) for the exit.
    func stop(signal: Int32 = SIGTERM) async -> Int32 {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { try? await Task.sleep(nanoseconds: 10_000_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); return -1 }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

@Suite(.serialized) struct ServeTests {
    static let images = ImageFixtures.directory

    static func imageModel(in dir: String, name: String = "classifier") throws -> String {
        let out = "\(dir)/\(name).skiff"
        let r = try SkiffRun("convert", "keras", images + "/classifier.keras", "-o", out, "--image", "auto", "--preprocess", "tf", "--labels", images + "/labels.txt")
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    static func probs(_ file: String) throws -> [Float] {
        try NpyArray(path: images + "/" + file.replacingOccurrences(of: ".jpg", with: ".probs.npy")).floats
    }

    @Test func tfServingEndpointsAnswerLikeTensorFlowServing() async throws {
        let dir = try temporaryDirectory()
        let server = try ServeProcess([try Self.imageModel(in: dir)])
        let files = LambdaRuntimeTests.usable

        let status = try await server.request("/v1/models/classifier")
        #expect(status.status == 200)
        let versions = status.json?["model_version_status"] as? [[String: Any]]
        #expect(versions?.first?["state"] as? String == "AVAILABLE")
        #expect(versions?.first?["version"] as? String == "1")
        #expect(try await server.request("/v1/models/classifier/versions/1").status == 200)

        let meta = try await server.request("/v1/models/classifier/metadata").json
        let sig = ((meta?["metadata"] as? [String: Any])?["signature_def"] as? [String: Any])?["signature_def"] as? [String: Any]
        let serving = sig?["serving_default"] as? [String: Any]
        #expect(((serving?["inputs"] as? [String: Any])?.values.first as? [String: Any])?["dtype"] as? String == "DT_STRING")
        #expect(serving?["method_name"] as? String == "tensorflow/serving/predict")

        // Row format: probabilities equal Keras's on the same JPEGs.
        let row = try await server.post("/v1/models/classifier:predict", json: ["instances": files.map { ["b64": LambdaRuntimeTests.b64($0)] }])
        #expect(row.status == 200, "\(row.text)")
        let predictions = row.json?["predictions"] as? [[Double]] ?? []
        #expect(predictions.count == files.count)
        for (file, got) in zip(files, predictions) {
            let want = try Self.probs(file)
            #expect(got.count == want.count)
            #expect(zip(got, want).allSatisfy { abs(Float($0) - $1) <= 1e-4 }, "\(file)")
        }
        // Named instance keys, as clients of image_bytes signatures send them; and the columnar format.
        let named = try await server.post("/v1/models/classifier/versions/1:predict", json: ["signature_name": "serving_default",
                                                                                               "instances": [["image_bytes": ["b64": LambdaRuntimeTests.b64(files[0])]]]])
        #expect((named.json?["predictions"] as? [[Double]])?.count == 1)
        let columnar = try await server.post("/v1/models/classifier:predict", json: ["inputs": ["image_bytes": [["b64": LambdaRuntimeTests.b64(files[1])]]]])
        let outputs = columnar.json?["outputs"] as? [[Double]]
        #expect(outputs?.count == 1)
        #expect(zip(outputs?.first ?? [], try Self.probs(files[1])).allSatisfy { abs(Float($0) - $1) <= 1e-4 })

        let classify = try await server.post("/v1/models/classifier:classify", json: ["examples": [["b64": LambdaRuntimeTests.b64(files[2])]]])
        let results = classify.json?["results"] as? [[[Any]]]
        #expect(results?.first?.count == 5)
        #expect(results?.first?.first?.first as? String == LambdaRuntimeTests.expectedTop1(files[2]))

        let labels = try await server.request("/v1/models/classifier:labels?top_k=3", method: .POST, body: LambdaRuntimeTests.jpeg(files[3]), contentType: "image/jpeg")
        let top = (labels.json?["predictions"] as? [[String: Any]])?.first
        #expect(top?["label"] as? String == LambdaRuntimeTests.expectedTop1(files[3]))
        #expect((top?["top_k"] as? [Any])?.count == 3)

        #expect(try await server.request("/healthz").status == 200)
        let list = try await server.request("/v1/models").json?["models"] as? [[String: Any]]
        #expect(list?.first?["name"] as? String == "classifier")
        let page = try await server.request("/")
        #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.text.contains("<input id=\"file\"") && !page.text.contains("http://") && !page.text.contains("https://"))
        let metrics = try await server.request("/metrics").text
        #expect(metrics.contains(#"skiff_requests_total{endpoint="predict",code="200"} 3"#), "\(metrics)")
        #expect(metrics.contains("skiff_request_duration_seconds_bucket"))
        #expect(metrics.contains("skiff_requests_in_flight"))
        #expect(await server.stop() == 0)
    }

    @Test func errorsHaveTensorFlowServingsShapeAndStatus() async throws {
        let dir = try temporaryDirectory()
        let server = try ServeProcess([try Self.imageModel(in: dir), "--max-body-mb", "1"])
        func check(_ reply: ServeProcess.Reply, _ status: Int, _ needle: String, _ name: String) {
            #expect(reply.status == status, "\(name): \(reply.text)")
            let error = reply.json?["error"] as? String ?? ""
            #expect(error.contains(needle), "\(name): \(error)")
            #expect(reply.headers["content-type"] == "application/json", "\(name)")
        }
        check(try await server.request("/v1/models/classifier:predict", method: .POST, body: Array(#"{"instances": [1,"#.utf8), contentType: "application/json"), 400, "JSON", "malformed JSON")
        check(try await server.post("/v1/models/classifier:predict", json: ["rows": []]), 400, "instances", "no instances")
        check(try await server.post("/v1/models/classifier:predict", json: ["signature_name": "other", "instances": [["b64": "x"]]]), 400, "signature", "bad signature")
        check(try await server.post("/v1/models/classifier:predict", json: ["instances": [["b64": Data("not a jpeg".utf8).base64EncodedString()]]]), 400, "JPEG", "not an image")
        check(try await server.post("/v1/models/nope:predict", json: ["instances": []]), 404, "Servable not found", "unknown model")
        check(try await server.request("/v1/models/nope"), 404, "nope", "unknown model status")
        check(try await server.request("/v1/models/classifier/versions/7"), 404, "Specific(classifier, 7)", "unknown version")
        check(try await server.post("/v1/models/classifier/versions/7:predict", json: ["instances": []]), 404, "7", "unknown version predict")
        check(try await server.post("/v1/models/classifier:explain", json: [:]), 404, "explain", "unknown verb")
        let big = [UInt8](repeating: 0x41, count: 3 << 20)
        check(try await server.request("/v1/models/classifier:labels", method: .POST, body: big, contentType: "image/jpeg"), 413, "limit", "oversized body")
        check(try await server.request("/v1/models/classifier:labels", method: .POST, body: [], contentType: "image/jpeg"), 400, "no body", "empty body")
        // Still serving after all of that.
        #expect(try await server.request("/v1/models/classifier:labels", method: .POST, body: LambdaRuntimeTests.jpeg(LambdaRuntimeTests.usable[0]), contentType: "image/jpeg").status == 200)
        #expect(await server.stop() == 0)
    }

    @Test func modelConfigServesVersionsAndTensorModels() async throws {
        let dir = try temporaryDirectory()
        let model = try Self.imageModel(in: dir)
        for v in [1, 2] {
            try FileManager.default.createDirectory(atPath: "\(dir)/repo/cats/\(v)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: model, toPath: "\(dir)/repo/cats/\(v)/model.skiff")
        }
        // A tensor-only model (no image signature) next to it.
        let fixture = KerasFixture.directory + "/k3_functional"
        let tensorModel = dir + "/functional.skiff"
        #expect(try SkiffRun("convert", "keras", fixture + ".keras", "-o", tensorModel).status == 0)
        try """
        # two versions of one model
        model_config_list {
          config {
            name: "cats"
            base_path: "repo/cats"
            model_platform: "tensorflow"
            model_version_policy { all {} }
          }
        }
        """.write(toFile: dir + "/models.config", atomically: true, encoding: .utf8)
        let server = try ServeProcess(["--model-config", dir + "/models.config", tensorModel])
        let versions = (try await server.request("/v1/models/cats").json?["model_version_status"] as? [[String: Any]])?.compactMap { $0["version"] as? String }
        #expect(Set(versions ?? []) == ["1", "2"])
        let b64 = LambdaRuntimeTests.b64(LambdaRuntimeTests.usable[0])
        #expect(try await server.post("/v1/models/cats/versions/1:predict", json: ["instances": [["b64": b64]]]).status == 200)
        #expect(try await server.post("/v1/models/cats/versions/3:predict", json: ["instances": [["b64": b64]]]).status == 404)

        // Numeric tensors as nested lists, compared with Keras's outputs for the fixture's inputs.
        let input = try NpyArray(path: fixture + ".in0.npy"), expected = try NpyArray(path: fixture + ".out0.npy")
        let x = Tensor(input)
        let rows = (0..<x.shape[0]).map { i in try! JSONSerialization.jsonObject(with: Data(("[" + TensorJSONText.row(x, i) + "]").utf8)) }
        let reply = try await server.post("/v1/models/functional:predict", json: ["instances": rows.map { ($0 as! [Any])[0] }])
        #expect(reply.status == 200, "\(reply.text)")
        let got = (reply.json?["predictions"] as? [Any]).map { flatten($0) } ?? []
        let want = try expected.floats
        #expect(got.count == want.count)
        #expect(zip(got, want).allSatisfy { abs(Float($0) - $1) <= 1e-4 + 1e-4 * abs($1) })
        let wrong = try await server.post("/v1/models/functional:predict", json: ["instances": [[1, 2, 3]]])
        #expect(wrong.status == 400)
        #expect((wrong.json?["error"] as? String)?.contains("shape") == true, "\(wrong.text)")
        // A 4 KB body claiming 250^8 values is refused with 413 (both request forms), and the server stays up.
        let hostile = TensorJSONTests.hostile(depth: 8, width: 250)
        for body in [#"{"instances":[\#(hostile)]}"#, #"{"inputs":\#(hostile)}"#] {
            let reply = try await server.request("/v1/models/functional:predict", method: .POST, body: Array(body.utf8), contentType: "application/json")
            #expect(reply.status == 413, "\(reply.text)")
        }
        #expect(try await server.post("/v1/models/functional:predict", json: ["instances": rows.map { ($0 as! [Any])[0] }]).status == 200)
        #expect(await server.stop() == 0)
    }

    @Test func concurrentClientsAllSucceedAndShutdownFinishesInFlightWork() async throws {
        let dir = try temporaryDirectory()
        let server = try ServeProcess([try Self.imageModel(in: dir), "--workers", "2", "--queue", "64"])
        let files = LambdaRuntimeTests.usable
        let statuses = try await withThrowingTaskGroup(of: [(Int, String?)].self) { group in
            for client in 0..<8 {
                group.addTask {
                    var out: [(Int, String?)] = []
                    for i in 0..<5 {
                        let file = files[(client + i) % files.count]
                        let r = try await server.request("/v1/models/classifier:labels", method: .POST, body: LambdaRuntimeTests.jpeg(file), contentType: "image/jpeg")
                        let label = (r.json?["predictions"] as? [[String: Any]])?.first?["label"] as? String
                        out.append((r.status, label == LambdaRuntimeTests.expectedTop1(file) ? nil : "\(file): \(label ?? r.text)"))
                    }
                    return out
                }
            }
            var all: [(Int, String?)] = []
            for try await part in group { all += part }
            return all
        }
        #expect(statuses.count == 40)
        #expect(statuses.allSatisfy { $0.0 == 200 })
        #expect(statuses.compactMap(\.1).isEmpty, "\(statuses.compactMap(\.1))")

        // A large batch in flight when SIGTERM arrives still gets its answer; then the process exits 0.
        let batch = Array(repeating: ["b64": LambdaRuntimeTests.b64(files[0])], count: 64)
        let inFlight = Task { try await server.post("/v1/models/classifier:predict", json: ["instances": batch]) }
        // Wait until the server has accepted it (its in-flight gauge counts API requests only), then SIGTERM.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let metrics = try await server.request("/metrics").text
            if metrics.split(separator: "\n").contains(where: { $0.hasPrefix("skiff_requests_in_flight ") && !$0.hasSuffix(" 0") && !$0.hasSuffix(" 0.0") }) { break }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        kill(server.process.processIdentifier, SIGTERM)
        let reply = try await inFlight.value
        #expect(reply.status == 200)
        #expect((reply.json?["predictions"] as? [Any])?.count == 64)
        #expect(await server.stop() == 0)
    }

    @Test func admissionQueuesThenRefuses() async throws {
        let gate = Admission(workers: 1, queueLimit: 1)
        try await gate.acquire(timeout: 5)
        let waiter = Task { try await gate.acquire(timeout: 5) }
        while await gate.queued == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        await #expect(throws: ServingError.self) { try await gate.acquire(timeout: 5) }
        await gate.release()
        try await waiter.value
        #expect(await gate.inFlight == 1)
        await gate.release()
        #expect(await gate.inFlight == 0)
        // A waiter that is never served times out with 503.
        try await gate.acquire(timeout: 5)
        do {
            try await gate.acquire(timeout: 0.05)
            Issue.record("expected a timeout")
        } catch let e as ServingError {
            #expect(e.kind == .unavailable)
        }
    }

    /// A raw TCP connection to the server that sends `text` and then waits up to `wait` seconds for the server
    /// to close it. Returns the seconds until the close (reading 0 bytes), or nil if it stayed open.
    static func secondsUntilClosed(port: Int, sending text: String, wait: Double) -> Double? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        guard withUnsafeMutablePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else { return nil }
        _ = text.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(start) < wait {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return Date().timeIntervalSince(start) }
        }
        return nil
    }

    /// Slow and idle clients are closed after --idle-timeout: a request head that never finishes, and a
    /// keep-alive connection after its response. (Hummingbird alone keeps both open indefinitely.)
    @Test func idleAndSlowConnectionsAreClosed() async throws {
        let server = try ServeProcess(["--idle-timeout", "1", "--no-request-log", packageRoot + "/fixtures/tiny_classifier.skiff"])
        defer { _ = server.process.isRunning ? kill(server.process.processIdentifier, SIGTERM) : 0 }
        let partial = Self.secondsUntilClosed(port: server.port, sending: "GET /v1/models/tiny_classifier HTTP/1.1\r\nHost: x\r\n", wait: 8)
        #expect(partial != nil, "a connection that never finished its request head stayed open")
        let idle = Self.secondsUntilClosed(port: server.port, sending: "GET /v1/models/tiny_classifier HTTP/1.1\r\nHost: x\r\n\r\n", wait: 8)
        #expect(idle != nil, "an idle keep-alive connection stayed open")
        #expect((partial ?? 0) >= 0.5 && (idle ?? 0) >= 0.5, "closed before the timeout: \(String(describing: partial)), \(String(describing: idle))")
        // The server itself is fine.
        #expect(try await server.request("/v1/models/tiny_classifier").status == 200)
        #expect(try SkiffRun("serve", "--idle-timeout", "0", packageRoot + "/fixtures/tiny_classifier.skiff").status != 0)
    }

    @Test func modelConfigTextFormat() throws {
        let configs = try ModelConfig.parse(text: """
            model_config_list: {
              config: { name: 'a', base_path: '/m/a', model_platform: "tensorflow",
                        model_version_policy: { specific: { versions: 1, versions: 3 } } }
              config { name: "b" base_path: "/m/b" model_version_policy { latest { num_versions: 2 } } }  # comment
            }
            """)
        #expect(configs.map(\.name) == ["a", "b"])
        #expect(configs[0].policy == .specific([1, 3]))
        #expect(configs[1].policy == .latest(2))
        for bad in ["model_config_list { config { base_path: \"/x\" } }", "model_config_list { config { name: \"x\" ", "nothing {}", "model_config_list { config { name: \"a\" base_path: \"/x\" model_version_policy { newest {} } } }"] {
            #expect(throws: ServingError.self) { try ModelConfig.parse(text: bad) }
        }
    }
}

func flatten(_ v: Any) -> [Double] {
    if let a = v as? [Any] { return a.flatMap(flatten) }
    if let d = v as? Double { return [d] }
    if let n = v as? NSNumber { return [n.doubleValue] }
    return []
}

/// One batch row of a tensor as JSON text (test-side encoder, independent of the server's).
enum TensorJSONText {
    static func row(_ t: Tensor, _ i: Int) -> String {
        let inner = Array(t.shape.dropFirst())
        let per = inner.reduce(1, *)
        var index = i * per
        func emit(_ depth: Int) -> String {
            if depth == inner.count { defer { index += 1 }; return "\(t.values[index])" }
            return "[" + (0..<inner[depth]).map { _ in emit(depth + 1) }.joined(separator: ",") + "]"
        }
        return emit(0)
    }
}

/// The upload page in a real browser: headless Chromium (Debian's) driven over the DevTools protocol.
@Suite struct UploadPageBrowserTests {
    /// Drives headless Chromium through the upload page of `server` (browser_upload.py): picks `model`, uploads
    /// `image`, saves a screenshot to .build/test-artifacts/`screenshot`, and returns the rendered rows and status.
    static func upload(_ server: ServeProcess, model: String, image: String, screenshot name: String) async throws -> (result: [String: Any]?, screenshot: String) {
        let artifacts = packageRoot + "/.build/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts + "/" + name
        try? FileManager.default.removeItem(atPath: screenshot)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", packageRoot + "/Tests/DeploymentTests/browser_upload.py", server.base + "/", model, image, screenshot]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        while p.isRunning { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(p.terminationStatus == 0, "the browser run failed (see stderr)")
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any], screenshot)
    }

    @Test func uploadingAJPEGShowsTheTopLabelsAsBars() async throws {
        let dir = try temporaryDirectory()
        let server = try ServeProcess([try ServeTests.imageModel(in: dir)])
        let file = LambdaRuntimeTests.usable[1]
        let (result, screenshot) = try await Self.upload(server, model: "classifier", image: ImageFixtures.directory + "/" + file, screenshot: "upload-page.png")
        let rows = result?["rows"] as? [[String: Any]] ?? []
        let expected = ImageFixtures.index.images.first { $0.file == file }!.top5
        #expect(rows.compactMap { $0["label"] as? String } == expected)
        let widths = rows.compactMap { ($0["width"] as? NSNumber)?.doubleValue }
        #expect(widths.count == 5 && widths == widths.sorted(by: >) && widths[0] > widths[4], "bars are drawn by score: \(widths)")
        #expect((result?["status"] as? String)?.contains(expected[0]) == true)
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 5000)
        #expect(await server.stop() == 0)
    }
}
