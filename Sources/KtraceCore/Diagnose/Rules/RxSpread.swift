/// The changes that spread a device's receive work over CPUs, for each way it can be held on one:
/// Documentation/networking/scaling.rst (RSS, RPS, RFS). Shared by the rules that end at "too much
/// receive work on one CPU".
enum RxSpread {
    /// scaling.rst: "a value of 32768 for rps_sock_flow_entries works fairly well on a moderately loaded
    /// server", with each queue's rps_flow_cnt that divided by the number of queues.
    static let rfsSockFlowEntries: Int64 = 32768

    static func tries(_ c: DiagnoseContext, ns: NetNamespace, dev: NetDevice, how: DiagnoseContext.Steering?) -> [TryChange] {
        let all = (c.cpus ?? []).map(\.cpu)
        let cpus = all.isEmpty ? Array(0..<max(1, c.cpuCount)) : all
        let queues = (dev.queues ?? []).isEmpty ? [RxQueue(index: 0)] : dev.queues!
        let mask = Shell.cpuMask(cpus)
        let rps = TryChange(
            "spread \(dev.name)'s receive work over all \(cpus.count) CPUs with RPS (scaling.rst: for a single-queue device, "
                + "the CPUs of the interrupting CPU's memory domain, or all CPUs where NUMA locality does not matter)",
            Shell.writeSys(ns, queues.map { (DiagnoseSource.sysfsQueue(dev.name, $0.index, "rps_cpus"), mask) }))
        let perQueue = rfsSockFlowEntries / Int64(queues.count)
        let rfs = TryChange(
            "then keep each flow on the CPU its reader runs on (RFS; scaling.rst suggests 32768 flow entries, divided over the "
                + "device's queues)",
            "sysctl -w net.core.rps_sock_flow_entries=\(rfsSockFlowEntries) && "
                + Shell.writeSys(ns, queues.map { (DiagnoseSource.sysfsQueue(dev.name, $0.index, "rps_flow_cnt"), String(perQueue)) }))
        switch how {
        case .irqAffinity:
            let irqs = queues.compactMap { q in q.irq.map { (q.index, $0) } }
            let writes = irqs.enumerated().map { i, qi in "echo \(cpus[i % cpus.count]) > /proc/irq/\(qi.1)/smp_affinity_list" }
            let spread = TryChange(
                "give each of \(dev.name)'s \(queues.count) receive queues' interrupts its own CPU (scaling.rst, RSS: IRQ affinity "
                    + "spreads the queues; stop irqbalance first or it moves them back)",
                writes.joined(separator: "; "))
            return irqs.isEmpty ? [rps, rfs] : [spread, rps]
        case .singleQueue:
            if let maxCh = dev.maxChannels, maxCh > 1 {
                let n = min(maxCh, cpus.count)
                return [TryChange("use \(n) hardware receive queues (RSS) instead of one: the device supports \(maxCh)",
                                  Shell.inNetns(ns, "ethtool -L \(dev.name) combined \(n)")), rps]
            }
            return [rps, rfs]
        case .rps, nil:
            return [rps, rfs]
        }
    }
}
