// swift-tools-version:6.0
import Foundation
import PackageDescription

/// Skiff: Keras/TensorFlow image models → compact `.skiff` files → a Swift CPU engine and deployments.
///
/// C libraries are reached only through the `C`-prefixed system-library targets below; each is found with
/// pkg-config and names its Debian package, which `scripts/setup.sh` installs.
/// How `skiff-runtime` links on Linux, for a container image with no base: the Swift runtime and Foundation
/// static (`-static-stdlib`), unused sections dropped, and `-lzstd`, `-lturbojpeg`, `-lpng16`, `-lz` taken from
/// the static archives Debian's -dev packages ship. The linker searches `StaticLibraries/` first, where
/// `libNAME.so` is a one-line linker script `INPUT(libNAME.a)` naming the archive on the usual library path, so
/// the same flags work on x86_64 and arm64. What is left dynamic is glibc (libc, libm, the loader), libstdc++
/// and libgcc_s: `skiff package lambda --image` ships exactly what `ldd` lists (docs/DEPLOY.md).
let runtimeStaticLibraries = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Sources/SkiffRuntime/StaticLibraries"
let runtimeLinking: [LinkerSetting] = [
    .unsafeFlags(["-static-stdlib", "-L", runtimeStaticLibraries, "-Xlinker", "--gc-sections",
                  // swiftc links executables with -export-dynamic, which makes every symbol of every module a root
                  // that --gc-sections must keep; the runtime loads no plugins, so nothing needs exporting.
                  "-Xlinker", "--no-export-dynamic",
                  // A fixed-address executable: no 78,000 load-time relocations to apply (1.8 MB of .rela.dyn).
                  "-Xclang-linker", "-no-pie",
                  // FoundationEssentials' own archives once more, as a group, after everything: the autolinked order
                  // can name them before the FoundationEssentials members that need them (gold reads archives once).
                  "-Xlinker", "--start-group", "-Xlinker", "-lFoundationEssentials", "-Xlinker", "-l_FoundationCollections",
                  "-Xlinker", "-l_FoundationCShims", "-Xlinker", "--end-group"], .when(platforms: [.linux])),
]

/// pkg-config names for libraries found on the default paths on Linux (none needed there) and via pkg-config elsewhere.
func hostPkgConfig(_ name: String) -> String? {
    #if os(Linux)
    return nil
    #else
    return name
    #endif
}

let package = Package(
    name: "Skiff",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "skiff", targets: ["convert"]),
        .executable(name: "skiff-runtime", targets: ["SkiffRuntime"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Importers", targets: ["Importers"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Packager", targets: ["Packager"]),
        .library(name: "Serving", targets: ["Serving"]),
        .library(name: "HTTPServer", targets: ["HTTPServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
    ],
    targets: [
        // C libraries (system-library targets: a module map and a shim header each).
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        // No pkg-config on Linux for the two libraries skiff-runtime links statically: its `-L/usr/lib/<triple>` would
        // come before StaticLibraries/ on the link line and pick the shared libraries (Debian's headers are in /usr/include).
        .systemLibrary(name: "CZstd", pkgConfig: hostPkgConfig("libzstd"), providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: hostPkgConfig("libturbojpeg"), providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CSkiffZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // protobuf-c code generated from proto/skiff_tf.proto by scripts/gen-proto.sh (committed).
        .target(name: "CSavedModelProto", dependencies: ["CProtobufC"]),

        // PNG decoding with libpng (its errors longjmp, so the decode is C; libpng-dev).
        .target(name: "CSkiffPNG", linkerSettings: [.linkedLibrary("png16")]),

        // Skiff's own C kernels (AVX2/FMA micro-kernels, chosen at run time; no system library).
        .target(name: "CSkiffKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // Skiff's own modules.
        // The native format and the IR (what the runtime needs), apart from the source-format readers.
        .target(name: "Formats", dependencies: ["CZstd", "CSkiffKernels", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Importers", dependencies: ["Formats", "CHDF5", "CProtobufC", "CSavedModelProto",
                                                 .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                                                 .product(name: "SwiftCSV", package: "SwiftCSV")]),
        .target(name: "Engine", dependencies: ["Formats", "CTurboJPEG", "CSkiffPNG", "CSkiffKernels"]),
        // OpenBLAS behind the engine's GEMM hook, opened with dlopen by `skiff` (libopenblas0, from libopenblas-dev);
        // never by `skiff-runtime` (see docs/DEPLOY.md).
        .target(name: "EngineBLAS", dependencies: ["Engine"]),
        // The task/runtime core: classification, the Lambda Runtime API loop, S3, the sinks.
        .target(name: "Serving", dependencies: [
            "Formats", "Engine",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // The PostgreSQL record sink (PostgresNIO), installed into Serving's sinks by `skiff`, not by `skiff-runtime`.
        .target(name: "PostgresSink", dependencies: ["Serving", .product(name: "PostgresNIO", package: "postgres-nio")]),
        // `skiff serve`: the TensorFlow Serving REST API over Hummingbird.
        .target(name: "HTTPServer", dependencies: [
            "Formats", "Engine", "Serving",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .target(name: "Packager", dependencies: [
            "Formats", "Importers", "Serving", "CSkiffZlib", .product(name: "Yams", package: "Yams"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(
            name: "convert",
            dependencies: [
                "Formats", "Importers", "Engine", "EngineBLAS", "Packager", "Serving", "HTTPServer", "PostgresSink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `skiff-runtime`: the Lambda runtime alone, for images with no base. Swift runtime and Foundation static;
        // zstd, TurboJPEG and libpng from their static archives (RuntimeLinking below).
        .executableTarget(
            name: "SkiffRuntime",
            dependencies: ["Formats", "Engine", "Serving"],
            exclude: ["StaticLibraries"],
            linkerSettings: runtimeLinking
        ),

        // Tests.
        .target(name: "TestSupport", dependencies: ["Formats", "Importers", "Engine"], path: "Tests/TestSupport"),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Importers", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "EngineBLAS", "Formats", "Importers", "TestSupport"]),
        .testTarget(name: "ConversionTests", dependencies: ["Formats", "Importers", "Engine", "TestSupport"]),
        .testTarget(name: "SkiffCLITests", dependencies: ["Formats", "Importers", "TestSupport", "convert"]),
        .testTarget(name: "DeploymentTests", dependencies: [
            "Formats", "Importers", "Engine", "Packager", "Serving", "HTTPServer", "PostgresSink", "TestSupport", "convert",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], exclude: ["Snapshots", "browser_upload.py"]),
    ]
)
