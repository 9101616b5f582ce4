import ArgumentParser
import Foundation
import Formats
import Importers

/// Reads Keras HDF5 files (`.h5`, and the `model.weights.h5` inside `.keras` archives) in a child process.
/// libhdf5 (1.10) can crash (SIGSEGV in `H5HG_read` on a corrupt global heap) or hang on a hostile file; in
/// the child that only ends the child, and the parent reports one line — "cannot read the file: the HDF5 library failed on it …" — instead of dying.
///
/// The child is `skiff _read-h5` (hidden): it reads the file with a memory limit and writes the lowered
/// model as a plain `.skiff` file (or its `FormatsError` as JSON) to a temporary path the parent reads back.
enum IsolatedH5 {
    /// Seconds the child may take ($SKIFF_H5_TIMEOUT overrides).
    static var timeout: Double { ProcessInfo.processInfo.environment["SKIFF_H5_TIMEOUT"].flatMap(Double.init) ?? 600 }

    struct ErrorRecord: Codable {
        var code: String
        var message: String
        var file: String?
    }

    /// `convert h5`'s reader: a full model file, or weights plus a JSON architecture; or, with `keras`,
    /// `convert keras`'s (the whole archive is read in the child: the zip, then its weights with libhdf5).
    static func read(model: String?, weights: String?, config: String?, keras: String? = nil) throws -> KerasReader.Result {
        let source = keras ?? model ?? weights ?? ""
        let out = NSTemporaryDirectory() + "/skiff-\(UUID().uuidString).h5read.skiff"
        // The child extracts a .keras archive's weights to `scratch`, a name this process knows: if it is killed
        // mid-way (SIGTERM to `convert`), the cleanup handler here removes the file the child was writing.
        let scratch = out + ".weights.h5"
        for p in [out, out + ".error", scratch] { TemporaryFiles.register(p) }
        defer {
            for p in [out, out + ".error", scratch] {
                unlink(p)
                TemporaryFiles.unregister(p)
            }
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? 0
        let memory = (4 << 30) + 8 * size
        var arguments = ["_read-h5", "--out", out, "--memory-limit", String(memory)]
        if let keras { arguments += ["--keras", keras, "--scratch", scratch] } else if let model { arguments += ["--model", model] } else { arguments += ["--weights", weights ?? "", "--config", config ?? ""] }

        let child = Process()
        child.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        child.arguments = arguments
        child.standardInput = FileHandle.nullDevice
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice  // a crash's backtrace is noise here; the parent reports it
        try child.run()
        SignalCleanup.track(child.processIdentifier)
        defer { SignalCleanup.untrack(child.processIdentifier) }
        let deadline = Date().addingTimeInterval(timeout)
        while child.isRunning && Date() < deadline { usleep(5_000) }
        if child.isRunning {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            throw FormatsError(.io, "cannot read the file: the HDF5 library did not finish within \(String(format: "%g", timeout)) s (a malformed file? $SKIFF_H5_TIMEOUT sets the limit)", file: source)
        }
        child.waitUntilExit()
        if child.terminationReason == .uncaughtSignal {
            let name = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL"][child.terminationStatus] ?? "signal \(child.terminationStatus)"
            let why = [SIGSEGV, SIGBUS].contains(child.terminationStatus) ? "the file is malformed" : "the file is malformed, or reading it needed more than \(memory >> 20) MiB"
            throw FormatsError(.io, "cannot read the file: the HDF5 library failed on it (the reader died of \(name): \(why))", file: source)
        }
        if let data = FileManager.default.contents(atPath: out + ".error"), let e = try? JSONDecoder().decode(ErrorRecord.self, from: data) {
            throw FormatsError(FormatsError.Code(rawValue: e.code) ?? .io, e.message, file: e.file)
        }
        guard child.terminationStatus == 0, FileManager.default.fileExists(atPath: out) else {
            throw FormatsError(.io, "cannot read the file: the HDF5 reader exited with status \(child.terminationStatus)", file: source)
        }
        return try load(out)
    }

    /// The child's side: the lowered model as a `.skiff` file (float32, stored), layer count in its metadata.
    static func save(_ result: KerasReader.Result, to path: String) throws {
        let graph = result.model.graph
        let manifest = SkiffManifest(graph: graph, signatures: [.servingDefault(for: graph)],
                                     metadata: ["layer_count": String(result.layerCount)], provenance: result.provenance)
        var options = SkiffWriter.Options()
        options.forcedEncoding = .stored
        var writer = SkiffWriter(manifest: manifest, options: options)
        try result.model.addTensors(to: &writer)
        _ = try writer.write(to: path)
    }

    static func saveError(_ error: FormatsError, to path: String) throws {
        let record = ErrorRecord(code: error.code.rawValue, message: error.message, file: error.file)
        try AtomicFile.write(Array(try JSONEncoder().encode(record)), to: path + ".error")
    }

    static func load(_ path: String) throws -> KerasReader.Result {
        let file = try SkiffFile(path: path)
        let graph = file.manifest.graph
        var weights: [String: ConstantData] = [:]
        for c in graph.constants {
            weights[c.name] = ConstantData(shape: file.entry(c.name)?.shape ?? [], values: try file.floats(c.name))
        }
        return KerasReader.Result(model: LoweredModel(graph: graph, weights: weights), provenance: file.manifest.provenance,
                                  layerCount: Int(file.manifest.metadata?["layer_count"] ?? "") ?? 0)
    }
}

extension Skiff {
    /// The child process of `IsolatedH5` (not for direct use).
    struct ReadH5: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "_read-h5", shouldDisplay: false)

        @Option var model: String?
        @Option var keras: String?
        @Option var weights: String?
        @Option var config: String?
        @Option var scratch: String?
        @Option var out: String
        @Option var memoryLimit: Int

        func run() throws {
            var limit = rlimit(rlim_cur: rlim_t(memoryLimit), rlim_max: rlim_t(memoryLimit))
            _ = setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
            // The parent may ignore these (its cleanup handler); the child should simply die of them.
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            do {
                let result = if let keras { try KerasReader.readArchive(path: keras, scratch: scratch) } else if let model { try KerasReader.readH5(path: model) } else { try KerasReader.readH5(weights: weights ?? "", config: config ?? "") }
                try IsolatedH5.save(result, to: out)
            } catch let e as FormatsError {
                try IsolatedH5.saveError(e, to: out)
                throw ExitCode.fileError
            }
        }
    }
}
