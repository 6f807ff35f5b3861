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
          ktrace kthreads --json 1 10    one JSON object per interval (schema in README.md)
        """
    )

    @Argument(help: "Seconds between tables (default: one table at Ctrl-C).") var interval: Double?
    @Argument(help: "Number of tables (default: until Ctrl-C).") var count: Int?
    @Flag(name: [.customShort("C"), .customLong("noclear")], help: "Do not clear the screen between tables.")
    var noClear = false
    @Flag(name: [.customShort("T"), .long], help: "Print a timestamp with each table.") var timestamp = false
    @Option(help: "Threads shown per table.") var top = 20
    @Option(help: "Items of each thread shown in the table (JSON has them all).") var items = 3
    @Option(help: "Only threads whose name matches: a glob ('kworker*', 'ksoftirqd/?') or a prefix.")
    var comm: String?
    @Flag(help: "One JSON object per interval, one per line.") var json = false
    @Option(help: "Tracepoint attach kind: auto, tp_btf, raw_tp or tracepoint.") var attach: AttachKind = .auto
    @Flag(name: .short, help: "Say which attach kind was used, and show libbpf messages.") var verbose = false

    func validate() throws {
        if let interval, !(interval > 0 && interval <= maxSeconds) {
            throw ValidationError("interval must be a number of seconds between 0 and \(Int(maxSeconds)), got \(interval)")
        }
        if let count, count <= 0 { throw ValidationError("count must be a positive integer, got \(count)") }
        if top <= 0 { throw ValidationError("--top must be a positive integer, got \(top)") }
        if items < 0 { throw ValidationError("--items must be 0 or more, got \(items)") }
        if let comm, comm.isEmpty { throw ValidationError("--comm needs a name or a glob") }
    }

    func run() throws {
        requireTracingPrivileges()
        Kernel.setVerbose(verbose)
        StopSignal.install()
        let symbols: KernelSymbols
        do { symbols = try KernelSymbols.load() } catch { fail("\(error)") }
        let started = Kernel.monotonicNs()
        let session: KthreadsSession
        do {
            session = try KthreadsSession(attach: attach, smpbootFn: symbols.address(of: "smpboot_thread_fn") ?? 0,
                                          irqThreadFn: symbols.address(of: "irq_thread") ?? 0)
        } catch { fail(error.message) }
        var last: KthreadsSnapshot
        do { last = try session.read() } catch { fail(error.message) }
        if verbose {
            note("attached with \(session.attachKind.rawValue) in \(fixed(Double(Kernel.monotonicNs() - started) / 1e6, 1)) ms")
        }
        // On stderr even with --json: scripts and benches wait for it to know ktrace has attached.
        note(interval == nil ? "tracing kernel threads... hit Ctrl-C to end." : "tracing kernel threads... (Ctrl-C to stop)")
        let report = KthreadsReport(top: top, items: items)
        // The function exists only in CONFIG_IRQ_TIME_ACCOUNTING kernels, whose run times leave irqs out
        // unless booted with tsc=noirqtime (an x86 TSC found unstable also turns it off: not seen here).
        let irqTime = symbols.address(of: "irqtime_account_irq") != nil
            && !((try? String(contentsOfFile: "/proc/cmdline", encoding: .utf8)) ?? "").contains("tsc=noirqtime")
        let matcher = comm.map(threadNameMatcher)
        let clear = !noClear && !json && interval != nil && isatty(1) != 0
        var done = 0
        while true {
            let stopped = StopSignal.wait(ms: interval.map { Int(($0 * 1000).rounded()) } ?? Int.max / 2)
            let now: KthreadsSnapshot
            do { now = try session.read() } catch { fail(error.message) }
            let iv = KthreadsInterval(from: last, to: now, decoders: session.decoders, irqTimeAccounted: irqTime,
                                      names: { symbols.name(for: $0) },
                                      threadName: { processName(Int32(bitPattern: $0)) }, matching: matcher ?? { _ in true })
            let ts = timestamp ? clockTimestamp() : nil
            let text = json ? report.json(iv, timestamp: ts) + "\n" : (clear ? "\u{1b}[H\u{1b}[2J" : "") + report.table(iv, timestamp: ts)
            if !writeAll(1, text) { fail("cannot write to standard output: \(String(cString: strerror(errno)))") }
            // Threads gone from /proc and idle this interval leave the kernel's tables.
            session.forget(now.threads.keys.filter { tid in
                now.threads[tid]?.wallNs == last.threads[tid]?.wallNs && access("/proc/\(tid)", F_OK) != 0
            }, in: now)
            last = now
            done += 1
            if stopped || interval == nil || (count.map { done >= $0 } ?? false) { break }
            if !json && !clear { _ = writeAll(1, "\n") }
        }
    }
}

