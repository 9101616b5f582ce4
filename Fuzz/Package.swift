// swift-tools-version:6.0
import PackageDescription

/// libFuzzer targets for Skiff's parsers: one executable per input format, built against the main package's
/// library products (never part of the `skiff` product). Build and run them with `scripts/fuzz.sh`, which
/// passes `-sanitize=fuzzer,address` and `-parse-as-library`; see Fuzz/README.md and docs/SECURITY.md §6.
let targets = [
    "FuzzSkiffFile", "FuzzNpy", "FuzzImage", "FuzzPredictRequest", "FuzzLambdaEvent",
    "FuzzModelConfig", "FuzzRecipe", "FuzzKerasArchive", "FuzzKerasConfig", "FuzzSavedModel",
]

let package = Package(
    name: "SkiffFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Skiff", path: "..")],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer", .product(name: "Formats", package: "Skiff")]),
    ] + targets.map {
        .executableTarget(name: $0, dependencies: [
            "FuzzSupport",
            .product(name: "Formats", package: "Skiff"),
            .product(name: "Importers", package: "Skiff"),
            .product(name: "Engine", package: "Skiff"),
            .product(name: "HTTPServer", package: "Skiff"),
            .product(name: "Serving", package: "Skiff"),
            .product(name: "Packager", package: "Skiff"),
        ])
    }
)
