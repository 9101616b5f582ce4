// `models.config` (TensorFlow Serving's text-format ModelServerConfig) as `skiff serve --model-config` reads it.
import FuzzSupport
import HTTPServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? ModelConfig.parse(text: text, relativeTo: "/nonexistent")
    return 0
}

@_cdecl("FuzzModelConfig_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
