import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` into a BPF object and emits a C file that embeds it with `.incbin`,
/// so the `ktrace` binary carries its BPF programs and needs no files at run time.
@main
struct BPFEmbed: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDir = context.package.directoryURL.appending(path: "bpf")
        let script = context.package.directoryURL.appending(path: "scripts/bpf-embed.sh")
        let files = try FileManager.default.contentsOfDirectory(atPath: bpfDir.path)
        let headers = files.filter { $0.hasSuffix(".h") }.map { bpfDir.appending(path: $0) }
        return files.filter { $0.hasSuffix(".bpf.c") }.sorted().map { name in
            let stem = String(name.dropLast(".bpf.c".count))
            let obj = context.pluginWorkDirectoryURL.appending(path: "\(stem).bpf.o")
            let embed = context.pluginWorkDirectoryURL.appending(path: "\(stem)_bpf_embed.c")
            return .buildCommand(
                displayName: "BPF \(name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, bpfDir.appending(path: name).path, obj.path, embed.path, "ktrace_\(stem)_bpf"],
                inputFiles: [bpfDir.appending(path: name), script] + headers,
                outputFiles: [embed]
            )
        }
    }
}
