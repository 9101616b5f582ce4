// `.npy` arrays (`skiff run --input`, test fixtures): header dict, dtype, shape, data length.
import FuzzSupport
import Formats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    if let array = try? NpyArray(bytes: bytes, name: "fuzz.npy") {
        _ = try? array.serialized()
    }
    return 0
}

@_cdecl("FuzzNpy_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
