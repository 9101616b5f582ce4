// A `.skiff` file, as `Model(file:)` and the servers load it: container, manifest, tensor table, graph
// validation and shape inference, image signature, then the engine's weight decoding and plan.
import Engine
import Formats
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    FuzzSupport.reseal(&bytes)
    guard let file = try? SkiffFile(bytes: bytes, path: "fuzz.skiff") else { return 0 }
    // What `Classifier` does after opening: the engine, and the image pipeline of each signature.
    _ = try? Model(file: file)
    for spec in file.manifest.images ?? [] { _ = ImagePipeline(spec) }
    return 0
}

@_cdecl("FuzzSkiffFile_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
