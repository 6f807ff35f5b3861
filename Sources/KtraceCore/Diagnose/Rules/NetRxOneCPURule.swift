/// `net.rx_one_cpu`: receive processing saturates one CPU while the others have room.
///
/// Fires when the CPU with the most NET_RX time is busy beyond the USE method's 70%, NET_RX is most of
/// that CPU's time, that CPU does most of all NET_RX work judged against an even split
/// (`DiagnoseThreshold.concentrated`: 75% on two CPUs), and the other CPUs are on average below 70%.
/// The share is NET_RX's fraction of that CPU. The cause names the device steered to it and how (RPS mask,
/// IRQ affinity, a single queue).
public struct NetRxOneCPURule: DiagnoseRule {
    public let id = "net.rx_one_cpu"
    public let meaning = "receive processing saturates one CPU (ksoftirqd there) while others have room: RSS queues, RPS/RFS masks, IRQ affinity"

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        guard c.netRxNs != nil else { return .notApplicable("no per-CPU softirq times (ktrace's softirq programs)") }
        guard let cpus = c.cpus, !cpus.isEmpty else { return .notApplicable("no per-CPU utilisation (/proc/stat)") }
        guard cpus.count > 1 else { return .notApplicable("one CPU: receive work has nowhere else to go") }
        guard let hot = c.hotNetRx else {
            return .ruledOut(RuledOut(id: id, "no NET_RX time on any CPU", 0, .ratio, source: DiagnoseSource.softirqTracepoints))
        }
        let h = hot.cpu
        let rxFraction = c.fractionOfCPU(h, ns: hot.ns)
        let busy = c.cpu(h)?.busyFraction ?? rxFraction
        let concentration = Double(hot.ns) / Double(max(1, c.totalNetRxNs))
        let others = cpus.filter { $0.cpu != h }
        let othersBusy = others.map(\.busyFraction).reduce(0, +) / Double(max(1, others.count))
        let pct = DiagnoseFormat.pct
        if busy < DiagnoseThreshold.highUtilisation {
            return .ruledOut(RuledOut(id: id, "CPU \(h), the one with most NET_RX, is \(pct(busy)) busy: below the USE method's 70%",
                                      busy, .ratio, source: DiagnoseSource.procStat))
        }
        if rxFraction < DiagnoseThreshold.majority {
            return .ruledOut(RuledOut(id: id, "NET_RX is \(pct(rxFraction)) of CPU \(h): not what keeps it busy",
                                      rxFraction, .ratio, source: DiagnoseSource.softirqTracepoints))
        }
        let concentrated = DiagnoseThreshold.concentrated(among: cpus.count)
        if concentration <= concentrated {
            return .ruledOut(RuledOut(id: id, "CPU \(h) does \(pct(concentration)) of all NET_RX work, not above \(pct(concentrated)) "
                                      + "on \(cpus.count) CPUs: receive is spread", concentration, .ratio, source: DiagnoseSource.softirqTracepoints))
        }
        if othersBusy >= DiagnoseThreshold.highUtilisation {
            return .ruledOut(RuledOut(id: id, "the other CPUs are \(pct(othersBusy)) busy on average: no room to spread receive to",
                                      othersBusy, .ratio, source: DiagnoseSource.procStat))
        }

        var ev = [
            Evidence("NET_RX on CPU \(h)", rxFraction, .ratio, source: DiagnoseSource.softirqTracepoints),
            Evidence("CPU \(h) busy", busy, .ratio, source: DiagnoseSource.procStat),
            Evidence("CPU \(h)'s part of all NET_RX time", concentration, .ratio, source: DiagnoseSource.softirqTracepoints),
            Evidence("other CPUs busy, on average", othersBusy, .ratio, source: DiagnoseSource.procStat),
        ]
        let ksoftirqdNs = (c.input.softirq ?? []).filter { $0.cpu == h && $0.vector == SoftirqVector.netRx.name }
            .reduce(UInt64(0)) { $0 + $1.ksoftirqdNs }
        if ksoftirqdNs > 0 {
            ev.append(Evidence("CPU \(h)'s NET_RX served by ksoftirqd/\(h)", Double(ksoftirqdNs) / Double(hot.ns), .ratio,
                               source: DiagnoseSource.softirqTracepoints))
        }
        if let sn = c.input.softnet {
            let all = sn.reduce(UInt64(0)) { $0 + $1.processed }
            if all > 0, let mine = sn.first(where: { $0.cpu == h }) {
                ev.append(Evidence("packets processed on CPU \(h), of all CPUs", Double(mine.processed) / Double(all), .ratio,
                                   source: DiagnoseSource.softnet))
            }
        }

        let room = "while the other \(others.count) CPU\(others.count == 1 ? " is" : "s are") \(pct(othersBusy)) busy"
        let cause: String
        let tries: [TryChange]
        if let d = c.deviceSteered(to: h) {
            ev += Self.deviceEvidence(d.dev, cpu: h, how: d.how, window: c.window)
            let whereText = "\(d.dev.name) (\(Shell.label(d.ns)))"
            switch d.how {
            case .rps:
                cause = "RPS on \(whereText) sends every packet it receives to CPU \(h), so that one CPU does the protocol work "
                    + "for all of them \(room)."
            case .irqAffinity:
                cause = "the interrupts of all \((d.dev.queues ?? []).count) receive queues of \(whereText) go to CPU \(h), so its "
                    + "NAPI polls and everything after them run there \(room)."
            case .singleQueue:
                cause = "\(whereText) has one receive queue, its interrupt on CPU \(h) and no RPS, so all its receive work runs "
                    + "there \(room)."
            }
            tries = RxSpread.tries(c, ns: d.ns, dev: d.dev, how: d.how)
        } else if let b = c.busiestDevice {
            cause = "CPU \(h) does \(pct(concentration)) of all receive work \(room); no device is steered to it alone, so one "
                + "flow (or a few) hashing to one queue is the likely reason; \(b.dev.name) (\(Shell.label(b.ns))) receives most."
            tries = RxSpread.tries(c, ns: b.ns, dev: b.dev, how: ContextSteering.of(b.dev))
        } else {
            cause = "CPU \(h) does \(pct(concentration)) of all receive work \(room); the input names no device to say why."
            tries = [TryChange("see which device's queues and interrupts feed CPU \(h)",
                               "grep . /sys/class/net/*/queues/rx-*/rps_cpus /proc/irq/*/effective_affinity_list")]
        }
        return .finding(Finding(
            id: id, title: "receive processing saturates CPU \(h) while the other CPUs have room",
            share: Share(rxFraction, of: .cpu, cpu: h), evidence: ev, cause: DiagnoseFormat.sentence(cause), tries: tries,
            confirm: Confirm("ktrace softirq -C 1 5", "NET_RX time on CPU \(h) (and ksoftirqd/\(h)'s CPU% in ktrace kthreads)", .down)))
    }

    static func deviceEvidence(_ dev: NetDevice, cpu: Int, how: DiagnoseContext.Steering, window: Double) -> [Evidence] {
        var ev: [Evidence] = []
        let queues = dev.queues ?? []
        switch how {
        case .rps:
            for q in queues where !q.rpsCPUs.isEmpty {
                ev.append(Evidence("CPUs in \(dev.name) rx-\(q.index)'s RPS mask (\(Shell.cpuList(q.rpsCPUs)))", Double(q.rpsCPUs.count), .count,
                                   source: DiagnoseSource.sysfsQueue(dev.name, q.index, "rps_cpus"), window: Evidence.atEnd))
            }
        case .irqAffinity, .singleQueue:
            for q in queues {
                if let irq = q.irq {
                    ev.append(Evidence("\(dev.name) rx-\(q.index) interrupt \(irq) on CPU \(Shell.cpuList(q.irqCPUs ?? []))",
                                       Double((q.irqCPUs ?? []).count), .count, source: DiagnoseSource.irqAffinity(irq),
                                       window: Evidence.atEnd))
                }
            }
            ev.append(Evidence("\(dev.name) receive queues", Double(queues.count), .count,
                               source: "/sys/class/net/\(dev.name)/queues", window: Evidence.atEnd))
        }
        if let rx = dev.rxPackets {
            ev.append(Evidence("packets received by \(dev.name)", Double(rx) / window, .perSecond,
                               source: "/sys/class/net/\(dev.name)/statistics/rx_packets"))
        }
        return ev
    }
}

/// A device's steering, or nil when unknown.
enum ContextSteering {
    static func of(_ dev: NetDevice) -> DiagnoseContext.Steering? { DiagnoseContext.steering(dev)?.how }
}
