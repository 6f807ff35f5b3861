import ArgumentParser

@main
struct Ktrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ktrace",
        abstract: "eBPF kernel tracer: softirq timings, in-kernel aggregated stacks and flame graphs, ordered timelines.",
        version: "0.1.0",
        subcommands: [SoftirqCommand.self, StacksCommand.self, TimelineCommand.self, FlamegraphCommand.self]
    )
}
