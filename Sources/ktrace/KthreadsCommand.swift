import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore
import KtraceKernel

struct KthreadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kthreads",
        abstract: "A top for kernel threads: CPU time measured in the kernel, irq and softirq on top kept apart, and what each did.",
        discussion: """
        Every kernel thread that ran (kworkers, ksoftirqd, kswapd, jbd2, migration, rcu, irq threads):
        its own CPU time from sched_switch, with the hard-irq and softirq time that ran on top of it
        shown apart and not counted as its own, and what it did, decoded from the kernel's tracepoints:
        softirq vectors (ksoftirqd), work functions with their queue-to-start delay (kworkers), shrinkers
        and reclaim passes (kswapd), journal commits (jbd2), task migrations, RCU callbacks. Every thread
        is named by its start function. Decoders this kernel lacks are listed with the reason.

        Examples:
          ktrace kthreads 1              a table every second, until Ctrl-C
          ktrace kthreads 5 1 --comm 'kworker*'   one 5-second table of the kworkers
          ktrace kthreads --json 1 10    one JSON object per interval (schema: docs/kthreads.md)
        """
    )

    @OptionGroup var intervals: IntervalOptions<KthreadsCommand>
    @Flag(name: [.customShort("C"), .customLong("noclear")], help: "Do not clear the screen between tables.")
    var noClear = false
    @Option(help: "Threads shown per table.") var top = 20
    // Optional, default said in the help: both names given is refused, which needs to know what was given.
    @Option(help: "Activities of each thread (work items, softirq vectors, shrinker runs, ...) shown in the table (JSON has them all; default: 3).")
    var activities: Int?
    /// The option's earlier name, kept (hidden) so scripts that pass it still run.
    @Option(name: .customLong("items"), help: .hidden) var itemsAlias: Int?
    var shownActivities: Int { itemsAlias ?? activities ?? 3 }
    @Option(help: ArgumentHelp(commHelp)) var comm: String?
    @Flag(help: "One JSON object per interval, one per line.") var json = false
    @OptionGroup var tracing: AttachOptions<KthreadsCommand>

    static let reportNoun = "table"

    func validate() throws {
        if top <= 0 { throw ValidationError("--top must be a positive integer, got \(top)") }
        if itemsAlias != nil && activities != nil {
            throw ValidationError("--items is the earlier name of --activities: pass one of them")
        }
        if shownActivities < 0 {
            throw ValidationError("--\(itemsAlias == nil ? "activities" : "items") must be 0 or more, got \(shownActivities)")
        }
        _ = try commPattern(comm, maxLength: CommPattern.maxProcLength)
    }

    func run() throws {
        requireTracingPrivileges()
        Kernel.setVerbose(tracing.verbose)
        StopSignal.install()
        let started = Kernel.monotonicNs()
        let session: KthreadsSession
        do { session = try KthreadsSession(attach: tracing.attach) } catch { fail(error.message) }
        var last: KthreadsSnapshot
        do { last = try session.read() } catch { fail(error.message) }
        if tracing.verbose {
            note("attached with \(session.attachKind.rawValue) in \(fixed(Double(Kernel.monotonicNs() - started) / 1e6, 1)) ms")
        }
        let interval = intervals.interval
        // On stderr even with --json: scripts and benches wait for it to know ktrace has attached.
        note(interval == nil ? "tracing kernel threads... hit Ctrl-C to end." : "tracing kernel threads... (Ctrl-C to stop)")
        let report = KthreadsReport(top: top, activities: shownActivities)
        let pattern = try? commPattern(comm, maxLength: CommPattern.maxProcLength)
        let clear = !noClear && !json && interval != nil && isatty(1) != 0
        intervals.run(separator: json || clear ? "" : "\n") { ts in
            let now: KthreadsSnapshot
            do { now = try session.read() } catch { fail("\(error)") }
            let iv = KthreadsInterval(from: last, to: now, decoders: session.decoders, irqTimeAccounted: session.irqTimeAccounted,
                                      names: { session.symbols.name(for: $0) },
                                      threadName: { processName(Int32(bitPattern: $0)) }, matching: { pattern?.matches($0) ?? true })
            session.forgetExited(from: last, to: now)
            last = now
            return json ? report.json(iv, timestamp: ts) + "\n" : (clear ? "\u{1b}[H\u{1b}[2J" : "") + report.table(iv, timestamp: ts)
        }
    }
}

extension KthreadsCommand: IntervalWording, VerboseWording {}
