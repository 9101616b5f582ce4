// Keras HDF5 models through the real reader, `KerasReader.readH5(weights:config:)`: the model-config JSON
// (Sequential/Functional, nested models, shared layers, inbound nodes), the layer table, the lowering and its
// checks of every weight's presence and shape against the layer's config.
//
// The fuzzed part is the JSON Skiff interprets; the HDF5 weight files are real fixtures, read by libhdf5
// unchanged (`scripts/fuzz.sh` takes them out of `fixtures/keras`). Mutated HDF5 is not fuzzed here: libhdf5
// 1.10 itself crashes on some malformed files, so `skiff` reads `.h5`/`.keras` weights in a child process
// (`convert/IsolatedH5.swift`) where a crash or hang becomes an error line; see docs/SECURITY.md.
// Input: one byte choosing the weights file (index into the sorted list), then the config JSON.
import Foundation
import Formats
import Importers
import FuzzSupport

let weights: [String] = {
    let dir = FuzzSupport.data + "/keras-weights"
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".h5") }.sorted()
    precondition(!names.isEmpty, "no weight files in \(dir) (run through scripts/fuzz.sh, which prepares them)")
    return names.map { dir + "/" + $0 }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let chosen = weights[Int(start.load(as: UInt8.self)) % weights.count]
    let config = FuzzSupport.write(UnsafeRawBufferPointer(start: start + 1, count: count - 1), as: "model.json")
    _ = try? KerasReader.readH5(weights: chosen, config: config)
    return 0
}

@_cdecl("FuzzKerasConfig_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
