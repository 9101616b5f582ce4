// Keras 3 `.keras` zip archives: ZIPFoundation's reading of the central directory and entries, Skiff's member
// lookup, size caps (declared and while inflating), CRC checks, `metadata.json`. When the extracted
// `model.weights.h5` is byte-identical to a fixture's, the whole `KerasReader.readArchive` runs (config JSON,
// lowering, weight checks). Mutated HDF5 is left to the child process `skiff` reads it in (FuzzKerasConfig
// explains why).
import Foundation
@testable import Importers
import FuzzSupport

let knownWeights: Set<Data> = {
    let dir = FuzzSupport.data + "/keras-weights"
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".h5") }
    return Set(names.compactMap { FileManager.default.contents(atPath: dir + "/" + $0) })
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzSupport.write(UnsafeRawBufferPointer(start: start, count: count), as: "model.keras")
    guard let members = try? KerasReader.archiveMembers(path: path) else { return 0 }
    if knownWeights.contains(members.weights) {
        _ = try? KerasReader.readArchive(path: path)
    }
    return 0
}

@_cdecl("FuzzKerasArchive_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
