import ArgumentParser
import KtraceKernel

/// -v's help in a command's --help, each command keeping its own words (the man pages are generated
/// from --help).
protocol VerboseWording { static var verboseHelp: String { get } }

extension VerboseWording {
    static var verboseHelp: String { "Say which attach kind was used, and show libbpf messages." }
}

/// --attach and -v: how the tracepoints attach, and saying how they did.
struct AttachOptions<Wording: VerboseWording>: ParsableArguments {
    @Option(help: "Tracepoint attach kind: auto, tp_btf, raw_tp or tracepoint.") var attach: AttachKind = .auto
    @Flag(name: .short, help: ArgumentHelp(Wording.verboseHelp)) var verbose = false
}

extension AttachKind: ExpressibleByArgument {}
