import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore
import KtraceKernel
import KtraceServe

struct ExporterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exporter",
        abstract: "Serve softirq and kernel-thread metrics on /metrics in Prometheus text format, programs attached until SIGTERM.",
        discussion: """
        The programs stay attached; every --interval the kernel's counters are read (softirq's by epoch
        flip), added to cumulative counters and histograms, and the page scrapes get is replaced: scrapes
        read that page only, however often they come. After attaching, ktrace runs on as nobody with
        CAP_BPF alone.

        Examples:
          ktrace exporter                               softirq metrics on 127.0.0.1:9435
          ktrace exporter --softirq --kthreads -L       also kernel threads and raise-to-entry delay
          ktrace exporter --listen 0.0.0.0:9435         every interface (it exposes host internals: firewall it)
        """
    )

    @Option(help: "Address and port to listen on (IPv4, [IPv6] or a host name). 127.0.0.1 by default: the metrics describe the host.")
    var listen = "127.0.0.1:9435"  // ebpf_exporter's port too; 0 picks a free one, named in the banner
    @Flag(help: "Softirq metrics (the default when neither --softirq nor --kthreads is given).") var softirq = false
    @Flag(help: "Kernel-thread metrics: CPU time per thread, workqueue items per work function.") var kthreads = false
    @Flag(name: [.customShort("L"), .long], help: "Also the raise-to-entry delay histogram (one more tracepoint).") var latency = false
    @Option(help: "Seconds between two reads of the kernel's counters.") var interval: Double = 1
    @Option(help: "Most kernel threads with a series of their own; the rest are thread=\"other\".") var maxThreads = 50
    @Option(help: "Most work functions with a series of their own; the rest are function=\"other\".") var maxFunctions = 20
    @OptionGroup var tracing: AttachOptions<ExporterCommand>

    static let verboseHelp = "Say how it attached, and show libbpf messages."

    var endpoint: (host: String, port: Int) {
        get throws {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
                throw ValidationError("--listen \(listen): give HOST:PORT, for example 127.0.0.1:9435")
            }
            var host = String(listen[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.isEmpty { throw ValidationError("--listen \(listen): give the address too (0.0.0.0:\(port) listens on every interface)") }
            return (host, port)
        }
    }

    func validate() throws {
        _ = try endpoint
        if !(interval >= 0.1 && interval <= 3600) { throw ValidationError("--interval must be between 0.1 and 3600 seconds, got \(interval)") }
        if maxThreads < 1 || maxFunctions < 1 { throw ValidationError("--max-threads and --max-functions must be at least 1") }
    }

    func run() throws {
        let (host, port) = try endpoint
        let wantSoftirq = softirq || !kthreads
        requireTracingPrivileges()
        Kernel.setVerbose(tracing.verbose)
        StopSignal.install()
        let sirq: SoftirqSession?, kth: KthreadsSession?
        do {
            sirq = wantSoftirq ? try SoftirqSession(attach: tracing.attach, cpu: nil, latency: latency) : nil
            kth = kthreads ? try KthreadsSession(attach: tracing.attach) : nil
        } catch { fail(error.message) }
        // Everything privileged is done: kernel handles open, kallsyms read.
        do { try Kernel.dropPrivileges() } catch { fail(error.message) }
        let server: MetricsServer
        do { server = try MetricsServer(host: host, port: port) } catch { fail(error.description) }
        defer { server.close() }
        // On stderr: scripts and tests wait for it to know the exporter serves.
        note("serving \(wantSoftirq ? "softirq" : "")\(wantSoftirq && kthreads ? " and " : "")\(kthreads ? "kernel-thread" : "") metrics on http://\(server.address)/metrics "
             + "every \(fixed(interval, 1)) s, \(getuid() == 65534 ? "as nobody " : "")with CAP_BPF alone; SIGTERM or Ctrl-C to stop")

        var metrics = ExporterMetrics(maxThreads: maxThreads, maxFunctions: maxFunctions)
        var lastSoftirq = Kernel.monotonicNs()
        var lastKthreads: KthreadsSnapshot?
        var intervals = 0
        do { lastKthreads = try kth?.read() } catch { fail(error.message) }
        server.publish(metrics.render(softirqs: wantSoftirq, kthreads: kthreads))
        // Reads on a fixed cadence: the next one is due an interval after the last was due, not after it ended.
        let step = UInt64(interval * 1e9)
        var due = Kernel.monotonicNs() + step
        while !StopSignal.wait(ms: max(1, Int((Int64(bitPattern: due &- Kernel.monotonicNs())) / 1_000_000))) {
            due = max(due + step, Kernel.monotonicNs() + step / 2)
            do {
                if let sirq {
                    let r = try sirq.read()
                    metrics.add(SoftirqInterval(perCPU: r.perCPU, seconds: Double(r.endNs - lastSoftirq) / 1e9), latency: latency)
                    lastSoftirq = r.endNs
                }
                if let kth, let last = lastKthreads {
                    let now = try kth.read()
                    // The kernel's own thread names (a kworker's does not carry its current workqueue): stable series.
                    metrics.add(KthreadsInterval(from: last, to: now, irqTimeAccounted: kth.irqTimeAccounted, names: { kth.symbols.name(for: $0) }))
                    kth.forgetExited(from: last, to: now)
                    lastKthreads = now
                }
            } catch { fail(error.message) }
            server.publish(metrics.render(softirqs: wantSoftirq, kthreads: kthreads))
            intervals += 1
        }
        note("stopping after \(intervals) intervals and \(server.scrapes) scrapes; detaching")
    }
}

extension ExporterCommand: VerboseWording {}
