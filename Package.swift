// swift-tools-version:6.0
import PackageDescription

/// Skiff: Keras/TensorFlow image models → compact `.skiff` files → a Swift CPU engine and deployments.
///
/// C libraries are reached only through the `C`-prefixed system-library targets below; each is found with
/// pkg-config and names its Debian package, which `scripts/setup.sh` installs.
let package = Package(
    name: "Skiff",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "skiff", targets: ["convert"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Packager", targets: ["Packager"]),
        .library(name: "Serving", targets: ["Serving"]),
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
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CSkiffZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // protobuf-c code generated from proto/skiff_tf.proto by scripts/gen-proto.sh (committed).
        .target(name: "CSavedModelProto", dependencies: ["CProtobufC"]),

        // PNG decoding with libpng (its errors longjmp, so the decode is C; libpng-dev).
        .target(name: "CSkiffPNG", linkerSettings: [.linkedLibrary("png16")]),

        // Skiff's own C kernels (AVX2/FMA micro-kernels, chosen at run time; no system library).
        .target(name: "CSkiffKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // Skiff's own modules.
        .target(name: "Formats", dependencies: ["CZstd", "CHDF5", "CProtobufC", "CSavedModelProto", "CSkiffKernels", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                                               .product(name: "Crypto", package: "swift-crypto"),
                                               .product(name: "SwiftCSV", package: "SwiftCSV")]),
        .target(name: "Engine", dependencies: ["Formats", "COpenBLAS", "CTurboJPEG", "CSkiffPNG", "CSkiffKernels"]),
        .target(name: "Packager", dependencies: ["Formats", "CSkiffZlib", .product(name: "Yams", package: "Yams")]),
        .target(name: "Serving", dependencies: [
            "Formats", "Engine", "Packager",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        .executableTarget(
            name: "convert",
            dependencies: [
                "Formats", "Engine", "Packager", "Serving",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests.
        .target(name: "TestSupport", dependencies: ["Formats", "Engine"], path: "Tests/TestSupport"),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Formats", "TestSupport"]),
        .testTarget(name: "ConversionTests", dependencies: ["Formats", "Engine", "TestSupport"]),
        .testTarget(name: "SkiffCLITests", dependencies: ["Formats", "TestSupport", "convert"]),
        .testTarget(name: "DeploymentTests", dependencies: [
            "Formats", "Engine", "Packager", "Serving", "TestSupport", "convert",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], exclude: ["Snapshots", "browser_upload.py"]),
    ]
)
