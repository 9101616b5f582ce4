import ArgumentParser
import Engine
import Foundation
import Formats

/// Image files named on the command line: files, or directories of `.jpg`/`.jpeg`/`.png` (sorted by name).
enum ImageFiles {
    static let extensions = ["jpg", "jpeg", "png"]

    static func collect(_ paths: [String]) throws -> [(name: String, bytes: [UInt8])] {
        var files: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FormatsError(.io, "no such file or directory", file: path) }
            if isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path)
                    .filter { extensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
                files += names.sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        files.sort { URL(fileURLWithPath: $0).lastPathComponent < URL(fileURLWithPath: $1).lastPathComponent }
        guard !files.isEmpty else { throw ValidationError("no .jpg, .jpeg or .png images found in \(paths.joined(separator: ", "))") }
        return try files.map { f in
            guard let d = FileManager.default.contents(atPath: f) else { throw FormatsError(.io, "cannot read the image", file: f) }
            return (URL(fileURLWithPath: f).lastPathComponent, Array(d))
        }
    }
}

/// The photos the fp16/int8 check runs on when the model takes images: `--calibrate` photos, else
/// Skiff's built-in ones (`BuiltinPhotos`). Random inputs say little about real answers: a quantised model
/// can agree on noise and still change the top class of a real photo.
struct CalibrationPhotos {
    var images: [(name: String, bytes: [UInt8])]
    var builtIn: Bool

    /// Photos used at most (the first by name), each run with its mirror image in one batch: bounds the check's
    /// memory (32 MobileNetV2-224 inputs need ~0.5 GB of activations) whatever a directory holds.
    static let limit = 16

    static func load(_ paths: [String]) throws -> CalibrationPhotos {
        CalibrationPhotos(images: Array(try ImageFiles.collect(paths).prefix(limit)), builtIn: false)
    }

    static var builtInSet: CalibrationPhotos {
        CalibrationPhotos(images: BuiltinPhotos.jpegs.map { ($0.name, Array(Data(base64Encoded: $0.base64)!)) }, builtIn: true)
    }

    /// The photos through the image signature, each followed by its left-right mirror: [2N, H, W, C].
    func batch(_ image: ImageInput) throws -> Tensor {
        let decoded: Tensor
        do {
            decoded = try ImagePipeline(image).batch(images.map(\.bytes))
        } catch let e as EngineError { throw EngineError("calibration photos: \(e.message)") }
        let (n, h, w, c) = (decoded.shape[0], decoded.shape[1], decoded.shape[2], decoded.shape[3])
        var values: [Float] = []
        values.reserveCapacity(decoded.values.count * 2)
        for i in 0..<n {
            let photo = decoded.values[(i * h * w * c)..<((i + 1) * h * w * c)]
            values += photo
            for y in 0..<h {
                for x in stride(from: w - 1, through: 0, by: -1) {
                    let p = photo.startIndex + (y * w + x) * c
                    values += photo[p..<(p + c)]
                }
            }
        }
        return Tensor(shape: [2 * n, h, w, c], values: values)
    }

    var description: String {
        let digest = Digest.sha256Hex(images.flatMap(\.bytes))
        return "\(images.count) \(builtIn ? "built-in " : "")photos and their mirror images (sha256:\(digest.prefix(16)): \(images.map(\.name).joined(separator: ", ")))"
    }
}

extension SelfCheck {
    /// int8 kept where it changes answers: rank the int8 kernels by how far quantising each alone moves the
    /// outputs (top classes changed first, then the largest difference), then keep the worst 1, 2, 4, … at float16 until the check is acceptable (or all are float16).
    /// Returns the final outcome; `plan` holds the kernels kept.
    func keepSensitiveKernels(_ model: LoweredModel, _ plan: inout PrecisionPlan, _ tolerance: Tolerance,
                              progress: (String) -> Void) throws -> Outcome {
        let candidates = plan.narrowed(in: model)
        let quantised = plan.storedWeights(model)
        // How far each kernel alone moves the outputs: rows whose top class changes (classifier outputs), then
        // the largest absolute difference.
        var effect: [(name: String, flips: Int, drift: Float)] = []
        for (i, name) in candidates.enumerated() {
            var weights = model.weights
            weights[name] = quantised[name]
            let engine = try Model(graph: model.graph, weights: WeightStore(weights))
            let results = try engine.run(feeds)
            var flips = 0, drift: Float = 0
            for (s, m) in zip(source.graph.outputs, model.graph.outputs) {
                let (a, e) = (results[m.name]!, reference[s.name]!)
                let c = OutputComparison.compare(name: m.name, actual: a.values, shape: a.shape, expected: e.values, expectedShape: e.shape,
                                                 atol: 0, rtol: 0)
                drift = max(drift, c.maxAbsError)
                flips += c.topKAgreement.map { Int(((1 - $0) * Float(a.shape[0])).rounded()) } ?? 0
            }
            effect.append((name, flips, drift))
            if (i + 1) % 10 == 0 { progress("int8: measured \(i + 1)/\(candidates.count) kernels alone") }
        }
        let ranked = effect.sorted { ($0.flips, $0.drift) > ($1.flips, $1.drift) || (($0.flips, $0.drift) == ($1.flips, $1.drift) && $0.name < $1.name) }.map(\.name)
        var count = 1
        while true {
            var trial = plan
            trial.keep(Array(ranked.prefix(count)), as: .float16)
            let outcome = try run(model, trial, tolerance)
            if outcome.acceptable || count >= ranked.count {
                plan = trial
                return outcome
            }
            count = min(count * 2, ranked.count)
        }
    }
}
