// swift-tools-version: 6.3;(experimentalCGen)
import PackageDescription

let package = Package(
    name: "ktrace",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ktrace", targets: ["ktrace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Compiles bpf/*.bpf.c with clang -target bpf and embeds the objects through generated C.
        // (Under Sources/ to keep the top level to the project's agreed entries.)
        .plugin(name: "BPFEmbed", capability: .buildTool(), path: "Sources/BPFEmbed"),
        // libbpf wrapper + embedded BPF objects. The only code that talks to the kernel.
        // include/ktrace.h links to bpf/ktrace.h: one header for both sides of the boundary.
        .target(
            name: "CKtrace",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z"),
                             .linkedLibrary("stdc++")],  // __cxa_demangle (the Swift runtime uses it too)
            plugins: ["BPFEmbed"]
        ),
        // Pure logic: aggregation, symbolization, folding, rendering, export. Never needs root.
        .target(name: "KtraceCore"),
        // Thin CLI wiring the core to the kernel side.
        .executableTarget(
            name: "ktrace",
            dependencies: [
                "CKtrace", "KtraceCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "KtraceCoreTests", dependencies: ["KtraceCore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "IntegrationTests", dependencies: ["KtraceCore"]),
    ]
)
