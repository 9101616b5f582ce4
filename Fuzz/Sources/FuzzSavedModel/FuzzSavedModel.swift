// A SavedModel directory through `skiff convert savedmodel`'s reader: `saved_model.pb` (protobuf-c unpacking,
// then Skiff's mirror of the graph, function library, signatures, the lowering with its cycle/depth checks)
// and the TensorBundle checkpoint (`variables.index` sorted table, `variables.data-…` shard reads).
// Input: saved_model.pb, then optionally variables.index and the data shard, split at FuzzSupport.separator.
import Foundation
import Formats
import Importers
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let parts = FuzzSupport.split(Array(UnsafeRawBufferPointer(start: start, count: count)), parts: 3)
    let names = ["saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001"]
    for (i, name) in names.enumerated() {
        if i < parts.count { _ = FuzzSupport.write(parts[i], as: "sm/" + name) } else { unlink(FuzzSupport.scratch + "/sm/" + name) }
    }
    let dir = FuzzSupport.scratch + "/sm"
    _ = try? SavedModelInfo(directory: dir)
    _ = try? SavedModelReader.read(directory: dir)
    return 0
}

@_cdecl("FuzzSavedModel_main")
public func start(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz(UnsafeRawPointer($0), size) } ?? 0 }
}
