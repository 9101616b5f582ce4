// TensorFlow Serving request JSON → tensors, through `skiff serve`'s own handlers (`SkiffServer.predict` and
// `classify`: `instances` / `inputs` forms, TensorJSON flattening and caps, ImageRequest's image shapes) for a
// tensor model and an image model. The first byte picks the model and endpoint; the rest is the body.
import Dispatch
import Formats
import FuzzSupport
@testable import Serving
@testable import HTTPServer

let image = try! Classifier(path: FuzzSupport.imageModelPath, name: "image")
let tensor = try! Classifier(path: FuzzSupport.tensorModelPath, name: "tensor", requireImage: false)
let server: SkiffServer = {
    var options = SkiffServer.Options()
    options.logRequests = false
    return try! SkiffServer(registry: ModelRegistry(models: ["image": [1: image], "tensor": [1: tensor]]), options: options)
}()

/// Runs `work` to completion on a detached task (the handlers are async; libFuzzer calls us synchronously).
func block(_ work: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task.detached { await work(); done.signal() }
    done.wait()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let selector = start.load(as: UInt8.self)
    let body = Array(UnsafeRawBufferPointer(start: start + 1, count: count - 1))
    let model = selector & 1 == 0 ? tensor : image
    block {
        if selector & 2 == 0 {
            _ = try? await server.predict(model, body)
        } else {
            _ = try? await server.classify(model, body, topK: nil)
        }
    }
    return 0
}

@_cdecl("FuzzPredictRequest_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
