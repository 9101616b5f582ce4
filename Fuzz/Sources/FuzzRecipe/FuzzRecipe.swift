// Recipe YAML (`recipes/*.yaml`, `--recipe`): Yams parsing, the allowed-key checks, decoding and validation.
import FuzzSupport
import Foundation
@testable import Packager

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    // (Not `labelsText()`: it reads the labels file the recipe names, which is the file system, not parsing.)
    _ = try? Recipe.parse(text, path: "/nonexistent/fuzz.yaml")
    return 0
}

@_cdecl("FuzzRecipe_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
