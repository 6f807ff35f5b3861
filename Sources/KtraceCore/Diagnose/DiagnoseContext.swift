/// The input with the quantities several rules need, computed once: per-CPU NET_RX, the hottest CPU, the
/// NET_RX stage split, the packets lost, and which device and namespace the receive path serves.
public struct DiagnoseContext: Sendable {
    public let input: DiagnoseInput
    public let window: Double
    /// /proc/stat per CPU, by CPU number; nil when not measured.
    public let cpus: [CPUTime]?
    /// NET_RX softirq ns per CPU (tracepoints); nil when softirq times were not measured.
    public let netRxNs: [Int: UInt64]?
    /// The stage split of the NET_RX stacks; nil when none were sampled.
    public let split: NetRxSplit?
    /// Why the stacks could not be read, when they could not.
    public let splitError: String?
    public let lost: LostPackets

    public init(_ input: DiagnoseInput) {
        self.input = input
        window = input.windowSeconds > 0 ? input.windowSeconds : 1
        cpus = input.cpus?.sorted { $0.cpu < $1.cpu }
        if let sirq = input.softirq {
            var rx: [Int: UInt64] = [:]
            for s in sirq where s.vector == SoftirqVector.netRx.name { rx[s.cpu, default: 0] += s.ns }
            netRxNs = rx
        } else {
            netRxNs = nil
        }
        var split: NetRxSplit?, splitError: String?
        if let lines = input.netRxStacks {
            do { split = try NetRxSplit(folded: lines) } catch { splitError = "NET_RX stacks unreadable: \(error)" }
        }
        self.split = split
        self.splitError = splitError
        lost = LostPackets(input)
    }

    public var namespaces: [NetNamespace] { input.namespaces ?? [] }

    /// CPUs on the machine: /proc/stat's, else softnet's.
    public var cpuCount: Int { cpus?.count ?? input.softnet?.count ?? 0 }

    public var windowText: String { fixed(window, 2) + " s" }

    /// The busiest CPU by /proc/stat (lowest number on a tie).
    public var hottestCPU: CPUTime? {
        cpus?.max { ($0.busyFraction, $1.cpu) < ($1.busyFraction, $0.cpu) }
    }

    public func cpu(_ n: Int) -> CPUTime? { cpus?.first { $0.cpu == n } }

    /// The CPU with the most NET_RX time, and that time.
    public var hotNetRx: (cpu: Int, ns: UInt64)? {
        guard let rx = netRxNs, let best = rx.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), best.value > 0 else { return nil }
        return (best.key, best.value)
    }

    public var totalNetRxNs: UInt64 { netRxNs?.values.reduce(0, +) ?? 0 }

    /// ns as a fraction of one CPU's time over the window.
    public func cpuFraction(ns: UInt64) -> Double { Double(ns) / (window * 1e9) }

    /// The fraction of CPU `n`'s time that `ns` is: against its /proc/stat total when known.
    public func fractionOfCPU(_ n: Int, ns: UInt64) -> Double {
        if let c = cpu(n), c.total > 0 { return Swift.min(1, Double(ns) / 1e9 / c.total) }
        return Swift.min(1, cpuFraction(ns: ns))
    }

    /// The CPU time the receive path's stage costs on the hottest NET_RX CPU, as a fraction of that CPU:
    /// the stage's share of NET_RX samples times NET_RX's share of the CPU (stacks are sampled on all
    /// CPUs, so the split is taken to hold on each).
    public func stageCost(_ stageShare: Double) -> Share? {
        guard let hot = hotNetRx else { return nil }
        return Share(stageShare * fractionOfCPU(hot.cpu, ns: hot.ns), of: .cpu, cpu: hot.cpu)
    }

    /// Devices with their namespace.
    public var devices: [(ns: NetNamespace, dev: NetDevice)] {
        namespaces.flatMap { ns in (ns.devices ?? []).map { (ns, $0) } }
    }

    /// Where a device sends its receive work: RPS CPUs when RPS is on for any queue, else its queues'
    /// interrupt CPUs; nil when neither is known.
    public static func steering(_ dev: NetDevice) -> (cpus: Set<Int>, how: Steering)? {
        let queues = dev.queues ?? []
        let rps = Set(queues.flatMap(\.rpsCPUs))
        if !rps.isEmpty { return (rps, .rps) }
        let irq = Set(queues.flatMap { $0.irqCPUs ?? [] })
        if !irq.isEmpty { return (irq, queues.count > 1 ? .irqAffinity : .singleQueue) }
        return nil
    }

    public enum Steering: Sendable { case rps, irqAffinity, singleQueue }

    /// The device whose receive work is steered to CPU `cpu` alone, busiest first; else nil.
    public func deviceSteered(to cpu: Int) -> (ns: NetNamespace, dev: NetDevice, how: Steering)? {
        let candidates = devices.compactMap { p -> (NetNamespace, NetDevice, Steering)? in
            guard let s = Self.steering(p.dev), s.cpus == [cpu] else { return nil }
            return (p.ns, p.dev, s.how)
        }
        return candidates.max { ($0.1.rxPackets ?? 0, $1.1.name) < ($1.1.rxPackets ?? 0, $0.1.name) }
    }

    /// The device that received most packets, with its namespace.
    public var busiestDevice: (ns: NetNamespace, dev: NetDevice)? {
        devices.filter { ($0.dev.rxPackets ?? 0) > 0 }.max { ($0.dev.rxPackets ?? 0, $1.dev.name) < ($1.dev.rxPackets ?? 0, $0.dev.name) }
    }

    /// The device the hot receive path serves: the one steered to the hottest NET_RX CPU, else the busiest.
    public var hotDevice: (ns: NetNamespace, dev: NetDevice)? {
        if let hot = hotNetRx, let d = deviceSteered(to: hot.cpu) { return (d.ns, d.dev) }
        return busiestDevice
    }
}

/// Packets lost in the window, by every drop counter the input has, each loss once. The kernel counts a
/// listener's dropped SYNs and overflowed handshakes in ListenDrops as well as in their own counters, so
/// ListenDrops stands for them (or their sum where it is missing). A packet dropped at a full input
/// backlog is counted twice too: in softnet_stat's dropped and in its device's rx_dropped
/// (enqueue_to_backlog, net/core/dev.c: `sd->dropped++` then `dev_core_stats_rx_dropped_inc(skb->dev)`),
/// so the devices' drops count only beyond the backlog's (in the SYN-flood lab, counted twice, they
/// made half of the packets lost).
///
/// The packets `skb:kfree_skb` saw freed as dropped are kept apart, as evidence of which counter's loss
/// they are (`evidence(_:)`), not added: each is a loss one of the counters above counts too, or one none
/// of them is about (a rule's DROP, a packet for a closed port, a unix socket's).
public struct LostPackets: Sendable {
    public var softnet: UInt64 = 0
    public var conntrack: UInt64 = 0
    public var listen: UInt64 = 0
    /// The devices' rx_dropped less the backlog drops they include.
    public var device: UInt64 = 0
    /// By reason and location; empty when not measured.
    public var freed: [DropCount] = []

    public var total: UInt64 { softnet + conntrack + listen + device }

    init(_ input: DiagnoseInput) {
        freed = input.drops ?? []
        softnet = input.softnet?.reduce(0) { $0 + $1.dropped } ?? 0
        for ns in input.namespaces ?? [] {
            if let ct = ns.conntrack { conntrack += ct.drop + ct.insertFailed }
            if let drops = ns.counters?["TcpExt.ListenDrops"] {
                listen += drops
            } else {
                listen += ns.counter("TcpExt.ListenOverflows") + ns.counter("TcpExt.TCPReqQFullDrop")
            }
            for d in ns.devices ?? [] { device += d.rxDropped ?? 0 }
        }
        device = device > softnet ? device - softnet : 0
    }

    /// `n` as a share of the packets lost.
    public func share(_ n: UInt64) -> Share { Share(total > 0 ? Double(n) / Double(total) : 0, of: .packetsLost) }

    /// The drops of `cause` as a finding's evidence, naming the pairs that matched; nil when none did.
    public func evidence(_ cause: DropCause) -> Evidence? {
        let rows = freed.filter(cause.matches)
        let n = rows.reduce(UInt64(0)) { $0 + $1.count }
        guard n > 0 else { return nil }
        let named = rows.prefix(2).map(\.label) + (rows.count > 2 ? ["\(rows.count - 2) more"] : [])
        return Evidence("packets \(cause.name) (\(named.joined(separator: ", ")))", Double(n), .packets, source: DiagnoseSource.kfreeSkb)
    }
}
