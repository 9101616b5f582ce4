// `models.config` (TensorFlow Serving's text-format ModelServerConfig) as `skiff serve --model-config` reads it.
import Serving

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? ModelConfig.parse(text: text, relativeTo: "/nonexistent")
    return 0
}
