import ArgumentParser
import CSupport
import KtraceKernel

@main
struct Ktrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ktrace",
        abstract: "eBPF kernel tracer: softirq timings, in-kernel aggregated stacks and flame graphs, ordered timelines.",
        discussion: """
        Examples:
          ktrace softirq 1                                  softirq time per vector, every second
          ktrace kthreads 2                                 a top for kernel threads, every 2 seconds
          ktrace stacks --comm 'ksoftirqd/*' -d 10 -o k.svg what the busy kernel thread runs, as a flame graph
          ktrace offcpu --pid 1234 -d 10 -o off.svg         where a process waits
          ktrace timeline -a -d 5 -o trace.json             an ordered timeline for ui.perfetto.dev

        Each subcommand has its own page (ktrace-softirq(1), ...). Output schemas (JSON, folded, pprof,
        Prometheus) and how ktrace counts: docs/ in ktrace's sources, a page per command.
        """,
        version: "\(version) (commit \(String(cString: kt_build_commit())))",
        subcommands: [SoftirqCommand.self, KthreadsCommand.self, StacksCommand.self, OffcpuCommand.self, TimelineCommand.self, DiagnoseCommand.self, FlamegraphCommand.self, DiffCommand.self, ExporterCommand.self]
    )

    /// The release: CHANGELOG.md's newest heading, the Debian package's version (scripts/deb.sh reads it here).
    static let version = "0.2.0"

    /// libbpf prints to stderr until told otherwise; keep its messages for error reports (and -v).
    static func main() {
        kt_fix_mmap_threshold()
        Kernel.setVerbose(false)
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do { try command.run() } catch { exit(withError: error) }
    }
}
