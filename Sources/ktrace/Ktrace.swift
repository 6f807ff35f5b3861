import ArgumentParser
import KtraceKernel

@main
struct Ktrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ktrace",
        abstract: "eBPF kernel tracer: softirq timings, in-kernel aggregated stacks and flame graphs, ordered timelines.",
        version: "0.1.0",
        subcommands: [SoftirqCommand.self, KthreadsCommand.self, StacksCommand.self, OffcpuCommand.self, TimelineCommand.self, FlamegraphCommand.self, DiffCommand.self, ExporterCommand.self]
    )

    /// libbpf prints to stderr until told otherwise; keep its messages for error reports (and -v).
    static func main() {
        Kernel.setVerbose(false)
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do { try command.run() } catch { exit(withError: error) }
    }
}
