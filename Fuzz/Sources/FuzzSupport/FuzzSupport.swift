import CLibFuzzer
import Foundation
@testable import Formats

/// The entry point of every target. SwiftPM links a debug executable with `main` renamed to `<Target>_main`
/// (so that tests could import it), and `-parse-as-library` leaves that symbol undefined; each target defines
/// it with `@_cdecl` and calls this, which hands the command line to libFuzzer's driver.
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                      _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv, body)
}

/// Shared helpers for the libFuzzer targets (see Fuzz/README.md). Nothing here is part of the `skiff` product.
public enum FuzzSupport {
    /// The repository's `fixtures/` folder (the targets only run from a checkout).
    public static let fixtures: String = {
        if let dir = ProcessInfo.processInfo.environment["SKIFF_FIXTURES"] { return dir }
        // #filePath is Fuzz/Sources/FuzzSupport/FuzzSupport.swift.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures").path
    }()

    /// Extra files `scripts/fuzz.sh` prepares next to the corpora (weights taken out of `.keras` fixtures).
    public static let data: String = ProcessInfo.processInfo.environment["SKIFF_FUZZ_DATA"] ?? ""

    /// A scratch folder of this process, created once; targets that must hand a path to the code under test
    /// write their input into it (same names every run, so nothing accumulates).
    public static let scratch: String = {
        let dir = NSTemporaryDirectory() + "/skiff-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: FuzzSupport.scratch) }
        return dir
    }()

    /// Writes `bytes` to `name` in the scratch folder and returns its path.
    public static func write(_ bytes: some Collection<UInt8>, as name: String) -> String {
        let path = scratch + "/" + name
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Splits an input into at most `parts` pieces at `separator` (used by targets that need several files;
    /// the seeds and dictionaries use the same separator).
    public static let separator = Array("#SKIFF-FUZZ-PART#".utf8)
    public static func split(_ bytes: [UInt8], parts: Int) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var rest = bytes[...]
        while out.count < parts - 1, let r = firstRange(of: separator, in: rest) {
            out.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        out.append(rest)
        return out
    }

    static func firstRange(of needle: [UInt8], in hay: ArraySlice<UInt8>) -> Range<Int>? {
        guard needle.count <= hay.count else { return nil }
        var i = hay.startIndex
        while i + needle.count <= hay.endIndex {
            if hay[i] == needle[0], hay[i..<(i + needle.count)].elementsEqual(needle) { return i..<(i + needle.count) }
            i += 1
        }
        return nil
    }

    /// Recomputes a `.skiff` file's body and header CRCs so that mutations reach the manifest, table and graph
    /// checks instead of stopping at a checksum (the checksum rules have their own unit tests).
    public static func reseal(_ bytes: inout [UInt8]) {
        guard bytes.count >= SkiffLayout.headerSize else { return }
        func put(_ v: UInt32, at o: Int) { for i in 0..<4 { bytes[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
        put(CRC32C.checksum(Array(bytes[64...])), at: 56)
        put(CRC32C.checksum(Array(bytes[0..<60])), at: 60)
    }

    /// `fixtures/tiny_classifier.skiff` (a tensor model: 8×8×3 → 3 classes) and the same model with an image
    /// signature, for the targets that drive the serving code. The image signature keeps `max_pixels` at 4 Mpx
    /// (the default is 50 Mpx) so that one execution stays in milliseconds; the caps themselves are unit-tested.
    public static let tensorModelPath = fixtures + "/tiny_classifier.skiff"
    public static let imageModelPath: String = {
        let file = try! SkiffFile(path: tensorModelPath)
        var weights: [String: ConstantData] = [:]
        for c in file.manifest.graph.constants {
            weights[c.name] = ConstantData(shape: file.entry(c.name)?.shape ?? [], values: try! file.floats(c.name))
        }
        var manifest = file.manifest
        manifest.images = [ImageInput(input: "image", height: 8, width: 8, channels: 3, crop: .init(centralFraction: 0.875),
                                      normalization: .preset("tf", channels: 3)!, exifOrientation: true,
                                      maxEncodedBytes: 1 << 20, maxPixels: 4 << 20)]
        var writer = SkiffWriter(manifest: manifest, options: .init())
        try! LoweredModel(graph: manifest.graph, weights: weights).addTensors(to: &writer)
        let path = scratch + "/image_model.skiff"
        _ = try! writer.write(to: path)
        return path
    }()
}
