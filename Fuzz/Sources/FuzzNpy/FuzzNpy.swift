// `.npy` arrays (`skiff run --input`, test fixtures): header dict, dtype, shape, data length.
import Formats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    if let array = try? NpyArray(bytes: bytes, name: "fuzz.npy") {
        _ = try? array.serialized()
    }
    return 0
}
