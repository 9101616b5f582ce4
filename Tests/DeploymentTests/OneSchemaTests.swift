import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Serving
import HTTPServer
import Testing
import TestSupport
import Yams

/// One prediction schema across `skiff predict --json`, `skiff serve`'s `:labels` and the Lambda runtime, and
/// the HTTP errors a client can act on.
@Suite(.serialized) struct OneSchemaTests {
    /// The shape of a JSON value: objects by key, arrays by their first element, scalars by kind.
    static func shape(_ v: Any?) -> String {
        switch v {
        case let o as [String: Any]:
            return "{" + o.keys.sorted().filter { $0 != "image" }.map { "\($0):\(shape(o[$0]))" }.joined(separator: ",") + "}"
        case let a as [Any]: return "[" + (a.first.map { shape($0) } ?? "") + "]"
        case is String: return "s"
        case is NSNull: return "null"
        case is NSNumber: return "n"
        default: return "?"
        }
    }

    static func parse(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    @Test func predictServeAndLambdaAnswerAnImageWithTheSameJSON() async throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let file = LambdaRuntimeTests.usable[0]
        let path = ImageFixtures.directory + "/" + file

        let cli = try SkiffRun("predict", model, path, "--json", "--top", "3")
        #expect(cli.status == 0, "\(cli.stderr)")
        let fromCLI = try #require(Self.parse(cli.stdout))

        let server = try ServeProcess([model])
        let http = try await server.request("/v1/models/classifier:labels?top_k=3", method: .POST, body: LambdaRuntimeTests.jpeg(file), contentType: "image/jpeg")
        #expect(http.status == 200, "\(http.text)")
        let fromServe = try #require(http.json)
        #expect(await server.stop() == 0)

        let api = try await RuntimeAPIServer.start()
        let (process, _) = try LambdaRuntimeTests.launch(["lambda", model], server: api)
        let id = await api.invoke(LambdaRuntimeTests.json(["httpMethod": "POST", "headers": ["Content-Type": "image/jpeg"], "queryStringParameters": ["top_k": "3"],
                                                           "body": LambdaRuntimeTests.b64(file), "isBase64Encoded": true]))
        let fromLambda = try #require(await api.result(id)?.bodyJSON)
        await LambdaRuntimeTests.stop(process)
        await api.stop()

        let shapes = [fromCLI, fromServe, fromLambda].map(Self.shape)
        #expect(shapes[0] == shapes[1] && shapes[1] == shapes[2], "\(shapes)")
        #expect(shapes[0] == "{model:s,predictions:[{index:n,label:s,score:n,top_k:[{index:n,label:s,score:n}]}],runtime:s,timing_ms:{decode:n,inference:n,total:n},version:s}")
        let tops = [fromCLI, fromServe, fromLambda].map { (($0["predictions"] as? [[String: Any]])?.first?["top_k"] as? [[String: Any]])?.compactMap { $0["label"] as? String } }
        let expected = Array(ImageFixtures.index.images.first { $0.file == file }!.top5.prefix(3))
        #expect(tops.allSatisfy { $0 == expected }, "\(tops)")
        #expect((fromCLI["predictions"] as? [[String: Any]])?.first?["image"] as? String == path)
        #expect((fromServe["predictions"] as? [[String: Any]])?.first?["image"] as? String == "body")
    }

    /// docs/openapi.yaml describes the schema the code writes: the same keys at every level.
    @Test func theOpenAPIDocumentDescribesTheSchemaTheCodeWrites() throws {
        let text = try String(contentsOfFile: packageRoot + "/docs/openapi.yaml", encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let report = try #require(schemas["PredictionReport"] as? [String: Any])
        func keys(_ schema: [String: Any]?) -> Set<String> { Set(((schema?["properties"] as? [String: Any]) ?? [:]).keys) }
        let props = report["properties"] as? [String: Any]
        let entry = (props?["predictions"] as? [String: Any])?["items"] as? [String: Any]
        var sample = PredictionReport(model: "m", version: "1", runtime: "skiff", predictions: [
            .init(image: "a", top: [ScoredClass(label: "x", index: 0, score: 1)]), .init(image: "b", error: "e")],
            timing_ms: .init(decode: 1, inference: 2, total: 3))
        // The optional fields the sinks add (docs/API.md, "Kept predictions").
        sample.request_id = "r"
        sample.sink_warnings = ["record: deferred"]
        sample.predictions[0].image_uri = "s3://b/k.jpg"
        sample.predictions[0].record_id = 1
        let json = try #require(try JSONSerialization.jsonObject(with: Data(sample.json().utf8)) as? [String: Any])
        #expect(keys(report) == Set(json.keys))
        let entries = json["predictions"] as? [[String: Any]] ?? []
        #expect(keys(entry) == Set(entries[0].keys).union(entries[1].keys))
        #expect(keys(props?["timing_ms"] as? [String: Any]) == Set((json["timing_ms"] as? [String: Any] ?? [:]).keys))
        #expect(keys(schemas["ScoredClass"] as? [String: Any]) == Set(((entries[0]["top_k"] as? [[String: Any]])?.first ?? [:]).keys))
        let paths = Set((doc["paths"] as? [String: Any] ?? [:]).keys)
        for path in ["/v1/models/{name}:labels", "/v1/models/{name}:predict", "/v1/models/{name}:classify", "/healthz", "/metrics"] {
            #expect(paths.contains(path), "\(path)")
        }
    }

    @Test func httpErrorsAreTensorFlowServingShapedAndActionable() async throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let server = try ServeProcess([model], captureStderr: true)
        let jpeg = LambdaRuntimeTests.jpeg(LambdaRuntimeTests.usable[0])
        func check(_ reply: ServeProcess.Reply, _ status: Int, _ needle: String, _ name: String) {
            #expect(reply.status == status, "\(name): \(reply.status) \(reply.text)")
            let error = reply.json?["error"] as? String ?? ""
            #expect(error.contains(needle), "\(name): \(reply.text)")
            #expect(reply.headers["content-type"] == "application/json", "\(name)")
        }
        for bad in ["0", "-3", "abc"] {
            check(try await server.request("/v1/models/classifier:labels?top_k=\(bad)", method: .POST, body: jpeg, contentType: "image/jpeg"),
                  400, "top_k must be a positive integer, not '\(bad)'", "top_k=\(bad)")
            check(try await server.post("/v1/models/classifier:classify?top_k=\(bad)", json: ["examples": [["b64": Data(jpeg).base64EncodedString()]]]),
                  400, "top_k must be a positive integer", "classify top_k=\(bad)")
        }
        check(try await server.post("/v1/models/classifier:labels", json: ["b64": Data(jpeg).base64EncodedString(), "top_k": 0]), 400, "\"top_k\" must be a positive integer", "JSON top_k 0")
        let malformed = try await server.request("/v1/models/classifier:labels", method: .POST, body: Array(#"{"b64": "#.utf8), contentType: "application/json")
        check(malformed, 400, "the request body: it is not valid JSON", "malformed JSON")
        let malformedText = malformed.json?["error"] as? String ?? ""
        #expect(!malformedText.contains("DecodingError"), "\(malformed.text)")
        let get = try await server.request("/v1/models/classifier:predict")
        check(get, 405, "takes POST", "GET :predict")
        #expect(get.headers["allow"] == "POST")
        check(try await server.request("/v1/models/classifier/versions/1:classify"), 405, "takes POST", "GET versioned :classify")
        check(try await server.request("/labels/stable"), 404, "no endpoint GET /labels/stable", "unknown path")
        check(try await server.request("/v1/models/classifier/nothing/here", method: .POST, body: [1]), 404, "no endpoint POST", "unknown POST path")
        check(try await server.request("/v1/models/classifier:labels", method: .POST, body: Array("plain text, not a photo".utf8), contentType: "image/jpeg"),
              400, "not a JPEG or PNG image", "text body")
        // A PNG body is an image too.
        let png = try #require(PNGFixtures.index.images.first { $0.file == "chelsea_rgb.png" })
        let ok = try await server.request("/v1/models/classifier:labels", method: .POST, body: png.bytes, contentType: "image/png")
        #expect(ok.status == 200, "\(ok.text)")
        #expect(((ok.json?["predictions"] as? [[String: Any]])?.first?["label"] as? String) == png.top5[0])
        #expect(await server.stop() == 0)
        // One JSON line per request: method, path, status, milliseconds.
        let lines = server.stderr.split(separator: "\n").compactMap { Self.parse(String($0)) }.filter { $0["path"] != nil }
        #expect(lines.contains { $0["method"] as? String == "GET" && $0["path"] as? String == "/labels/stable" && $0["status"] as? Int == 404 && $0["ms"] is NSNumber },
                "\(server.stderr)")
        #expect(lines.contains { $0["method"] as? String == "POST" && $0["path"] as? String == "/v1/models/classifier:labels" && $0["status"] as? Int == 200 })
    }

    @Test func corsIsAllowedOnlyWhenAsked() async throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let plain = try ServeProcess([model])
        let noCors = try await plain.request("/v1/models", headers: [("Origin", "https://example.com")])
        #expect(noCors.status == 200 && noCors.headers["access-control-allow-origin"] == nil)
        #expect(await plain.stop() == 0)

        let server = try ServeProcess([model, "--cors", "https://example.com"])
        let simple = try await server.request("/v1/models", headers: [("Origin", "https://example.com")])
        #expect(simple.headers["access-control-allow-origin"] == "https://example.com")
        let preflight = try await server.request("/v1/models/classifier:labels", method: .OPTIONS,
                                                 headers: [("Origin", "https://example.com"), ("Access-Control-Request-Method", "POST"),
                                                           ("Access-Control-Request-Headers", "content-type")])
        #expect(preflight.status < 300, "\(preflight.status)")
        #expect(preflight.headers["access-control-allow-origin"] == "https://example.com")
        #expect(preflight.headers["access-control-allow-methods"]?.contains("POST") == true)
        #expect(await server.stop() == 0)
    }

    @Test func aPortInUseIsSaidPlainly() async throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let first = try ServeProcess([model])
        let second = try SkiffRun("serve", model, "--port", String(first.port))
        #expect(second.status == 2)
        #expect(second.stderr.contains("port \(first.port) is in use"), "\(second.stderr)")
        #expect(!second.stderr.contains("errno"))
        #expect(await first.stop() == 0)
    }

    @Test func lambdaAcceptsPNGEvents() async throws {
        let dir = try temporaryDirectory()
        let model = try LambdaRuntimeTests.classifier(in: dir)
        let api = try await RuntimeAPIServer.start()
        let (process, _) = try LambdaRuntimeTests.launch(["lambda", model], server: api)
        for png in PNGFixtures.index.images.prefix(4) {
            let id = await api.invoke(LambdaRuntimeTests.json(["httpMethod": "POST", "headers": ["Content-Type": "image/png"],
                                                               "body": Data(png.bytes).base64EncodedString(), "isBase64Encoded": true]))
            let body = await api.result(id)?.bodyJSON
            #expect(((body?["predictions"] as? [[String: Any]])?.first?["label"] as? String) == png.top5[0], "\(png): \(String(describing: body))")
        }
        await LambdaRuntimeTests.stop(process)
        await api.stop()
    }
}

/// The upload page with an unlabelled grayscale model and a PNG: class numbers, never "null".
@Suite struct UnlabelledUploadPageTests {
    @Test func anUnlabelledModelShowsClassNumbers() async throws {
        let dir = try temporaryDirectory()
        let model = dir + "/gray.skiff"
        let c = try SkiffRun("convert", "h5", PNGFixtures.directory + "/gray_classifier.h5", "-o", model, "--image", "auto", "--preprocess", "unit")
        #expect(c.status == 0, "\(c.stderr)")
        let server = try ServeProcess([model])
        let png = try #require(PNGFixtures.index.images.first { $0.file == "camera_gray.png" })
        let probs = try png.grayProbs()
        let best = probs.indices.max { probs[$0] < probs[$1] }!
        let (result, _) = try await UploadPageBrowserTests.upload(server, model: "gray", image: png.path, screenshot: "upload-page-unlabelled.png")
        let rows = result?["rows"] as? [[String: Any]] ?? []
        #expect(rows.first?["label"] as? String == "class \(best)", "\(rows)")
        #expect(rows.allSatisfy { ($0["label"] as? String)?.hasPrefix("class ") == true })
        let status = result?["status"] as? String ?? ""
        #expect(status.contains("gray: class \(best) in"), "\(status)")
        #expect(!status.contains("null"))
        #expect(await server.stop() == 0)
    }
}
