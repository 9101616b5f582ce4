import ArgumentParser
import Engine
import Formats
import Importers

extension Skiff {
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show Skiff's version, the .skiff format version it writes, and the C libraries it is linked with.")

        @OptionGroup var global: GlobalOptions

        struct Report: Encodable {
            var skiff: String
            var format: String
            var libraries: [String: String]
        }

        func run() throws {
            let report = Report(
                skiff: SkiffVersion.current,
                format: "\(SkiffLayout.majorVersion).\(SkiffLayout.minorVersion)",
                libraries: [
                    "hdf5": HDF5Library.version,
                    "protobuf-c": ProtobufCLibrary.version,
                    "zstd": ZstdLibrary.version,
                    "openblas": BLAS.configuration.trimmingCharacters(in: .whitespaces),
                    "turbojpeg": TurboJPEG.isAvailable ? "available" : "unavailable",
                    "kernels": Engine.kernelSet,
                ])
            if global.json { return try CLIOutput.printJSON(report) }
            print("skiff \(report.skiff) (writes .skiff format \(report.format))")
            for (k, v) in report.libraries.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
        }
    }
}
