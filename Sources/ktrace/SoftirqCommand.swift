import ArgumentParser
import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

struct SoftirqCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "softirq",
        abstract: "Per-vector softirq counts and run time, ksoftirqd vs inline split, raise-to-entry latency.",
        discussion: """
        Examples:
          ktrace softirq            trace until Ctrl-C, then print one report
          ktrace softirq 1 5        five 1-second reports
          ktrace softirq -L -d 1 3  with latency and log2 histograms
          ktrace softirq --json 1   one JSON object per line per interval (schema in README.md)
        """
    )

    @Argument(help: "Seconds between reports (default: one report at Ctrl-C).") var interval: Double?
    @Argument(help: "Number of reports (default: until Ctrl-C).") var count: Int?
    @Flag(name: [.customShort("T"), .long], help: "Print a timestamp with each report.") var timestamp = false
    @Flag(name: [.short, .customLong("dist")], help: "Log2 histograms of run time (and latency with -L).") var dist = false
    @Flag(name: [.customShort("L"), .long], help: "Raise-to-entry delay per vector.") var latency = false
    @Flag(name: [.customShort("C"), .customLong("per-cpu")], help: "One table per CPU.") var perCPU = false
    @Option(help: "Trace only this CPU.") var cpu: Int?
    @Flag(help: "One JSON object per interval, one per line.") var json = false
    @Option(help: "Tracepoint attach kind: auto, tp_btf, raw_tp or tracepoint.") var attach: AttachKind = .auto
    @Flag(name: .short, help: "Say which attach kind was used, and show libbpf messages.") var verbose = false

    func validate() throws {
        if let interval, !(interval > 0 && interval <= maxSeconds) {
            throw ValidationError("interval must be a number of seconds between 0 and \(Int(maxSeconds)), got \(interval)")
        }
        if let count, count <= 0 { throw ValidationError("count must be a positive integer, got \(count)") }
        if let cpu {
            let n = Int(kt_num_possible_cpus())
            if cpu < 0 || cpu >= n { throw ValidationError("no CPU \(cpu): this machine has CPUs 0-\(n - 1)") }
        }
    }

    func run() throws {
        requireTracingPrivileges()
        kt_set_verbose(verbose ? 1 : 0)
        kt_install_signal_handlers()
        var handle: OpaquePointer?
        let started = kt_monotonic_ns()
        let r = cCall { kt_softirq_open(&handle, attach.cValue, Int32(cpu ?? -1), latency ? 1 : 0, $0, $1) }
        guard r.rc == 0, let handle else { fail(r.message.isEmpty ? errnoText(r.rc) : r.message) }
        defer { kt_softirq_close(handle) }
        if verbose {
            let ms = Double(kt_monotonic_ns() - started) / 1e6
            note("attached with \(AttachKind(cValue: kt_softirq_attach_kind(handle)).rawValue) in \(fixed(ms, 1)) ms")
        }
        if !json {
            note(interval == nil ? "tracing softirqs... hit Ctrl-C to end." : "tracing softirqs... (Ctrl-C to stop)")
        }

        let report = SoftirqReport(perCPU: perCPU, distributions: dist, latency: latency)
        let ncpu = Int(kt_num_possible_cpus())
        // Counting starts once the programs are attached, i.e. when open returns.
        var last = kt_monotonic_ns()
        var done = 0
        while true {
            let stopped = kt_wait_ms(interval.map { Int(($0 * 1000).rounded()) } ?? Int.max / 2) != 0
            var raw = [kt_vec_stats](repeating: kt_vec_stats(), count: ncpu * Int(KT_NR_VEC))
            var now: UInt64 = 0  // when the epoch flipped: this interval's end, the next one's start
            let rc = kt_softirq_read(handle, &raw, Int32(ncpu), &now)
            if rc != 0 { fail("reading softirq stats: \(errnoText(rc))") }
            let iv = SoftirqInterval(perCPU: (0..<ncpu).map { c in (0..<Int(KT_NR_VEC)).map { VecStats(raw[c * Int(KT_NR_VEC) + $0]) } },
                                     seconds: Double(now - last) / 1e9, startNs: last, endNs: now)
            last = now
            let ts = timestamp ? clockTimestamp() : nil
            let text = json ? report.json(iv, timestamp: ts) + "\n" : report.table(iv, timestamp: ts) + (interval == nil ? "" : "\n")
            if !writeAll(1, text) { fail("cannot write to standard output: \(String(cString: strerror(errno)))") }
            done += 1
            if stopped || interval == nil || (count.map { done >= $0 } ?? false) { break }
        }
    }
}

extension VecStats {
    init(_ s: kt_vec_stats) {
        self.init()
        count = s.count
        totalNs = s.total_ns
        maxNs = s.max_ns
        ksoftirqdCount = s.ksoftirqd_count
        ksoftirqdNs = s.ksoftirqd_ns
        latCount = s.lat_count
        latTotalNs = s.lat_total_ns
        latMaxNs = s.lat_max_ns
        orphanExits = s.orphan_exits
        lostExits = s.lost_exits
        hist = withUnsafeBytes(of: s.hist) { Array($0.bindMemory(to: UInt64.self)) }
        latHist = withUnsafeBytes(of: s.lat_hist) { Array($0.bindMemory(to: UInt64.self)) }
    }
}
