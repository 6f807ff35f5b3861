// swift-tools-version: 6.3;(experimentalCGen)
import PackageDescription

// Layers, each depending only on layers listed before it:
//   CSupport (C runtime services: demanglers, malloc_trim and the mmap threshold, gzip, the build's commit)
//   KtraceCore (pure: symbolization, one interned stack form, rendering, exporters) <- CSupport
//   CKtrace (C over libbpf, embedded BPF objects)
//   KtraceKernel (sessions: kernel handles, ABI decoded once) <- CKtrace, KtraceCore
//   KtraceServe (the exporter's HTTP server, SwiftNIO)
//   ktrace (CLI wiring: options -> session -> core -> writer) <- all of the above
let package = Package(
    name: "ktrace",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ktrace", targets: ["ktrace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The runtime only: profile.pb.swift is generated once and committed (no build plugin).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        // The exporter's HTTP server.
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
    ],
    targets: [
        // Compiles bpf/*.bpf.c with clang -target bpf and embeds the objects through generated C.
        // (Under Sources/ to keep the top level to the project's agreed entries.)
        .plugin(name: "BPFEmbed", capability: .buildTool(), path: "Sources/BPFEmbed"),
        // libbpf wrapper + embedded BPF objects. The only code that talks to the kernel's BPF interface.
        // include/ktrace.h links to bpf/ktrace.h: one header for both sides of the boundary.
        .target(
            name: "CKtrace",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")],
            plugins: ["BPFEmbed"]
        ),
        // Runtime services for the core: the C++ and Swift demanglers the runtime carries, malloc settings.
        .target(name: "CSupport", linkerSettings: [.linkedLibrary("stdc++"), .linkedLibrary("z")]),
        // Pure logic: aggregation, symbolization, the interned stack form, rendering, export. Never needs root.
        .target(
            name: "KtraceCore",
            dependencies: ["CSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Pprof/profile.proto"]
        ),
        // Kernel sessions: own the C handles, decode the ABI into core values.
        .target(name: "KtraceKernel", dependencies: ["CKtrace", "KtraceCore"]),
        // `ktrace exporter`'s HTTP server (SwiftNIO): serves what the CLI publishes.
        .target(
            name: "KtraceServe",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Thin CLI wiring.
        .executableTarget(
            name: "ktrace",
            dependencies: [
                "KtraceKernel", "KtraceCore", "KtraceServe", "CSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // lld (the toolchain's) packs the binary's 96k relative relocations into 18 KB (DT_RELR) instead
            // of a 2.3 MB table the loader reads at every start: `ktrace --version` 13.9 MB resident instead
            // of 14.9 (docs/benchmarks.md). Needs glibc 2.36 (Debian 12); ktrace needs libbpf.so.1 too,
            // which Ubuntu 22.04 (glibc 2.35) does not ship.
            linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"])]
        ),
        // Oracles the tests check ktrace against (trace-format validators, /proc/softirqs): not shipped.
        .target(name: "KtraceTestSupport", dependencies: ["KtraceCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                path: "Tests/KtraceTestSupport"),
        .testTarget(
            name: "KtraceCoreTests",
            dependencies: ["KtraceCore", "KtraceTestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "IntegrationTests", dependencies: ["KtraceCore", "KtraceTestSupport"]),
    ]
)
