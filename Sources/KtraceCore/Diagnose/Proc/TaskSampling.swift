/// The load average's make-up over a window: the session walks /proc/*/task/*/stat a few times, hands
/// each walk's R and D tasks here, and gets the window's averages, with the D tasks by wait channel.
public struct TaskStateSampler: Sendable {
    /// One task seen in state D: its process's comm and pid, and its /proc/PID/task/TID/wchan.
    public struct Blocked: Sendable {
        public var comm: String, pid: Int, wchan: String
        public init(comm: String, pid: Int, wchan: String) { self.comm = comm; self.pid = pid; self.wchan = wchan }
    }

    public private(set) var samples = 0
    private var running = 0
    private var blocked = 0
    private var byWchan: [String: (tasks: Int, comms: [String: Int])] = [:]

    public init() {}

    /// One walk: the number of tasks in R, and those in D.
    public mutating func add(running r: Int, blocked d: [Blocked]) {
        samples += 1
        running += r
        blocked += d.count
        for t in d {
            let w = t.wchan.isEmpty || t.wchan == "0" ? "(unknown)" : t.wchan
            var g = byWchan[w] ?? (0, [:])
            g.tasks += 1
            g.comms["\(t.comm) (\(t.pid))", default: 0] += 1
            byWchan[w] = g
        }
    }

    /// The window's load: /proc/loadavg at its end, R and D averaged over the walks.
    public func observation(loadavg: (Double, Double, Double)) -> LoadObservation {
        let n = Double(Swift.max(samples, 1))
        let groups = byWchan.map { w, g in
            WchanGroup(wchan: w, tasks: Double(g.tasks) / n,
                       comms: g.comms.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5).map(\.key))
        }.sorted { ($0.tasks, $1.wchan) > ($1.tasks, $0.wchan) }
        return LoadObservation(load1: loadavg.0, load5: loadavg.1, load15: loadavg.2, running: Double(running) / n,
                               uninterruptible: Double(blocked) / n, dByWchan: groups)
    }
}

/// Processes' CPU time over a window, from /proc/PID/stat at its start and end.
public enum ProcessCPUDelta {
    /// `a` and `b`: pid -> stat fields. Processes in both, busiest first (user + system), at most `top`.
    public static func top(_ a: [Int: TaskStatText.Fields], _ b: [Int: TaskStatText.Fields], hz: Double, top: Int) -> [ProcessCPU] {
        b.compactMap { pid, y -> ProcessCPU? in
            guard let x = a[pid], !y.isKernelThread else { return nil }
            let u = Double(counterDelta(y.utime, x.utime)) / hz, s = Double(counterDelta(y.stime, x.stime)) / hz
            return u + s > 0 ? ProcessCPU(pid: pid, comm: y.comm, userSeconds: u, systemSeconds: s) : nil
        }.sorted { ($0.userSeconds + $0.systemSeconds, $1.pid) > ($1.userSeconds + $1.systemSeconds, $0.pid) }.prefix(top).map { $0 }
    }
}
