import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore
import KtraceKernel

struct SoftirqCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "softirq",
        abstract: "Per-vector softirq counts and run time, ksoftirqd vs inline split, raise-to-entry latency.",
        discussion: """
        Examples:
          ktrace softirq            trace until Ctrl-C, then print one report
          ktrace softirq 1 5        five 1-second reports
          ktrace softirq -L -d 1 3  with latency and log2 histograms
          ktrace softirq --json 1   one JSON object per line per interval (schema: docs/softirq.md)
        """
    )

    @OptionGroup var intervals: IntervalOptions<SoftirqCommand>
    @Flag(name: [.short, .customLong("dist")], help: "Log2 histograms of run time (and latency with -L).") var dist = false
    @Flag(name: [.customShort("L"), .long], help: "Raise-to-entry delay per vector.") var latency = false
    @Flag(name: [.customShort("C"), .customLong("per-cpu")], help: "One table per CPU.") var perCPU = false
    @Option(help: "Trace only this CPU.") var cpu: Int?
    @Flag(help: "One JSON object per interval, one per line.") var json = false
    @OptionGroup var tracing: AttachOptions<SoftirqCommand>

    static let reportNoun = "report"

    func validate() throws {
        if let cpu {
            let n = Kernel.possibleCPUs
            if cpu < 0 || cpu >= n { throw ValidationError("no CPU \(cpu): this machine has CPUs 0-\(n - 1)") }
        }
    }

    func run() throws {
        requireTracingPrivileges()
        Kernel.setVerbose(tracing.verbose)
        StopSignal.install()
        let started = Kernel.monotonicNs()
        let session: SoftirqSession
        do { session = try SoftirqSession(attach: tracing.attach, cpu: cpu, latency: latency) } catch { fail(error.message) }
        if tracing.verbose {
            let ms = Double(Kernel.monotonicNs() - started) / 1e6
            note("attached with \(session.attachKind.rawValue) in \(fixed(ms, 1)) ms; runs the kernel counts but no tracepoint shows are "
                 + (session.countsUntraced ? "counted (untraced)" : "not counted (no per-CPU variables in the kernel's BTF, or no group scheduling)"))
        }
        let interval = intervals.interval
        if !json {
            note(interval == nil ? "tracing softirqs... hit Ctrl-C to end." : "tracing softirqs... (Ctrl-C to stop)")
        }

        let report = SoftirqReport(perCPU: perCPU, distributions: dist, latency: latency)
        // Counting starts once the programs are attached, i.e. when the session exists.
        var last = Kernel.monotonicNs(), lastErr: UInt64 = 0
        intervals.run { ts in
            let read: (perCPU: [[VecStats]], endNs: UInt64, errNs: UInt64)
            do { read = try session.read() } catch { fail("\(error)") }
            // The interval ends when the epoch flipped: the next one starts there.
            let iv = SoftirqInterval(perCPU: read.perCPU, seconds: Double(read.endNs - last) / 1e9, startNs: last, endNs: read.endNs,
                                     startErrNs: lastErr, endErrNs: read.errNs)
            last = read.endNs
            lastErr = read.errNs
            return json ? report.json(iv, timestamp: ts) + "\n" : report.table(iv, timestamp: ts) + (interval == nil ? "" : "\n")
        }
    }
}

extension SoftirqCommand: IntervalWording, VerboseWording {}
