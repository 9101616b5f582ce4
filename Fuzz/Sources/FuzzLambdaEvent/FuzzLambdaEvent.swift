// Lambda Runtime API events (API Gateway REST/HTTP proxy, function URLs, direct `{"b64": …}` invocations)
// through `LambdaHandler.handle(event:)`: event parsing, base64 bodies, content types, top_k, then prediction.
import FuzzSupport
import Serving

let handler = LambdaHandler(classifier: try! Classifier(path: FuzzSupport.imageModelPath))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let reply = handler.handle(event: Array(UnsafeRawBufferPointer(start: start, count: count)))
    // Every failure must be a client error or a clean 5xx reply, never a trap; a reply is always JSON.
    precondition(!reply.payload.isEmpty, "empty Lambda reply")
    return 0
}

@_cdecl("FuzzLambdaEvent_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
