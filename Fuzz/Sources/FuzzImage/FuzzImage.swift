// Image bytes as a request carries them — raw JPEG or PNG, base64, web-safe base64, `data:` URIs — through
// the entry both servers use (`Classifier.runImages`: unwrap, size caps, decode, EXIF, resize/crop, model run).
import Engine
import FuzzSupport
import Serving

let classifier = try! Classifier(path: FuzzSupport.imageModelPath)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    _ = try? classifier.runImages([bytes])
    return 0
}

@_cdecl("FuzzImage_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
