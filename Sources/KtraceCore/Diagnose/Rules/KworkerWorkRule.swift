/// `kworker.work`: one work function dominates the kworkers' time.
///
/// Sums each work function's run time over all kworkers (they are one pool: which kworker ran an item is
/// chance). Fires when the busiest function takes most of the kworkers' work time (a majority) and at
/// least `minimumShare` of a CPU. The share is its run time as a fraction of one CPU. The tasks that
/// queued it (at `workqueue_queue_work`) are the cause to name: a work function runs because someone
/// asked for it.
public struct KworkerWorkRule: DiagnoseRule {
    public let id = "kworker.work"
    public let meaning = "one work function dominates a kworker: which tasks or cgroups queue it, and how often"

    /// What a few common work functions mean, so the cause reads as a cause. Only functions whose meaning
    /// does not depend on the machine; any other function is reported by name.
    static let hints: [String: (what: String, change: String)] = [
        "cleanup_net": ("network namespaces are being destroyed, and each teardown runs cleanup_net",
                        "create and destroy fewer network namespaces: keep and reuse them instead of one per task or connection"),
        "refresh_vm_stats": ("something writes /proc/sys/vm/stat_refresh, which folds every CPU's VM statistics",
                             "stop the frequent writes to /proc/sys/vm/stat_refresh"),
    ]

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        guard let threads = c.input.kthreads else { return .notApplicable("no kernel-thread data (ktrace kthreads)") }
        var byFunction: [String: (ns: UInt64, count: UInt64, workers: Int)] = [:]
        var totalNs: UInt64 = 0
        for t in threads where t.name.hasPrefix("kworker") {
            for item in t.items ?? [] where item.kind == "work" {
                let p = byFunction[item.name] ?? (0, 0, 0)
                byFunction[item.name] = (p.ns + item.ns, p.count + item.count, p.workers + 1)
                totalNs += item.ns
            }
        }
        guard let top = byFunction.max(by: { ($0.value.ns, $1.key) < ($1.value.ns, $0.key) }), totalNs > 0 else {
            return .ruledOut(RuledOut(id: id, "no work items ran on kworkers", 0, .count, source: DiagnoseSource.kthreads))
        }
        let fn = top.key
        let cpuShare = c.cpuFraction(ns: top.value.ns)
        let dominance = Double(top.value.ns) / Double(totalNs)
        let pct = DiagnoseFormat.pct
        if cpuShare < DiagnoseThreshold.minimumShare {
            return .ruledOut(RuledOut(id: id, "the busiest work function, \(fn), took \(pct(cpuShare)) of a CPU", cpuShare, .ratio,
                                      source: DiagnoseSource.kthreads))
        }
        if dominance < DiagnoseThreshold.majority {
            return .ruledOut(RuledOut(id: id, "no work function dominates: the busiest, \(fn), is \(pct(dominance)) of the kworkers' work",
                                      dominance, .ratio, source: DiagnoseSource.kthreads))
        }
        var ev = [
            Evidence("\(fn)'s run time on kworkers", cpuShare, .ratio, source: DiagnoseSource.kthreads),
            Evidence("\(fn)'s part of all kworker work", dominance, .ratio, source: DiagnoseSource.kthreads),
            Evidence("runs of \(fn)", Double(top.value.count) / c.window, .perSecond, source: DiagnoseSource.kthreads),
            Evidence("kworkers that ran \(fn)", Double(top.value.workers), .count, source: DiagnoseSource.kthreads),
        ]
        let queuers = Self.queuers(of: fn, c.input.workQueuers ?? [])
        for q in queuers.prefix(3) {
            ev.append(Evidence("\(fn) queued by \(q.who)", Double(q.count), .count, source: DiagnoseSource.workQueue))
        }
        let hint = Self.hints[fn]
        // The change is asked of a task: items queued from an interrupt name none (pid 0).
        let first = queuers.first { $0.pid > 0 }
        var cause = hint.map { DiagnoseFormat.sentence($0.what) + ": " } ?? ""
        cause += "\(fn) takes \(pct(dominance)) of the kworkers' work, \(pct(cpuShare)) of a CPU"
        if let q = queuers.first {
            cause += q.pid > 0 ? ", queued mostly by \(q.who): \(q.count) times in \(c.windowText)"
                : ", queued mostly from \(q.comm) context (\(q.count) times in \(c.windowText)), on top of whatever task ran"
            if let t = first, t.comm != q.comm || t.pid != q.pid {
                cause += "; the busiest task queuing it: \(t.who), \(t.count == 1 ? "once" : "\(t.count) times")"
            }
        }
        cause += "."
        let tries: [TryChange]
        if let q = queuers.first, q.pid == 0 {
            // Queued from interrupts (an RCU callback, a timer, a driver): the interrupted task did not ask.
            // The kernel stacks at the queueing show the path, whoever ran.
            tries = [TryChange((hint.map { $0.change + "; " } ?? "") + "\(fn) is queued from \(q.comm) context: the kernel stacks at "
                               + "workqueue_queue_work show the path that queues it (an RCU callback, a timer, a driver)",
                               "ktrace stacks --kernel-only --event tracepoint:workqueue:workqueue_queue_work -d 10 -o queue-work.svg")]
        } else if let q = first {
            tries = [TryChange((hint?.change ?? "find why \(q.comm) queues \(fn) so often and make it stop")
                               + "; \(q.comm)'s stacks at workqueue_queue_work show the calls that queue it",
                               "ktrace stacks \(q.pids > 1 ? "--comm '\(q.comm)'" : "--pid \(q.pid)") "
                                   + "--event tracepoint:workqueue:workqueue_queue_work -d 10")]
        } else {
            tries = [TryChange((hint.map { $0.change + "; " } ?? "") + "see what \(fn) does inside, per work item",
                               "ktrace stacks --comm 'kworker/*' --by-work -d 10 -o work.svg")]
        }
        return .finding(Finding(
            id: id, title: "\(fn) dominates the kworkers: \(pct(cpuShare)) of a CPU", share: Share(cpuShare, of: .cpu), evidence: ev,
            cause: cause, tries: tries,
            confirm: Confirm("ktrace kthreads 5 1 --comm 'kworker*'", "time of work \(fn)", .down)))
    }

    /// Who queued `fn`, by command and cgroup: a churning script runs many short-lived processes of one
    /// name (each `ip netns del` is a new pid), so grouping by pid would hide it. Most items first.
    struct Queuer { var comm: String; var cgroup: String?; var count: UInt64; var pid: Int; var pids: Int
        var who: String {
            if pid == 0 { return comm }
            return (pids > 1 ? "\(comm) (\(pids) processes, e.g. pid \(pid)" : "\(comm) (pid \(pid)") + (cgroup.map { ", cgroup \($0)" } ?? "") + ")"
        }
    }

    static func queuers(of fn: String, _ all: [WorkQueuer]) -> [Queuer] {
        var groups: [String: (Queuer, UInt64)] = [:]  // key -> (group, count of its example pid)
        for q in all where q.function == fn {
            let key = q.comm + "\u{0}" + (q.cgroup ?? "")
            var (g, best) = groups[key] ?? (Queuer(comm: q.comm, cgroup: q.cgroup, count: 0, pid: q.pid, pids: 0), 0)
            g.count += q.count
            g.pids += 1
            if q.count > best || (q.count == best && q.pid < g.pid) { g.pid = q.pid; best = q.count }
            groups[key] = (g, best)
        }
        return groups.values.map(\.0).sorted { ($0.count, $1.comm, $1.pid) > ($1.count, $0.comm, $0.pid) }
    }
}
