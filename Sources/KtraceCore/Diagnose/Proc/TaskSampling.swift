/// The load average's make-up over a window: the session walks /proc/*/task/*/stat a few times, hands
/// each walk's R and D tasks here, and gets the window's averages, with the D tasks by wait channel.
public struct TaskStateSampler: Sendable {
    /// One task seen in state D: its process's comm and pid, its /proc/PID/task/TID/wchan, its kernel
    /// stack (/proc/PID/task/TID/stack, function names root first; empty where the kernel does not show it)
    /// and the file its system call works on ("PATH on FSTYPE", `BlockedFileText`), when it has one.
    public struct Blocked: Sendable {
        public var comm: String, pid: Int, wchan: String, stack: [String], file: String?
        public init(comm: String, pid: Int, wchan: String, stack: [String] = [], file: String? = nil) {
            self.comm = comm; self.pid = pid; self.wchan = wchan; self.stack = stack; self.file = file
        }
    }

    public private(set) var samples = 0
    private var running = 0
    private var blocked = 0
    private var byWchan: [String: (tasks: Int, comms: [String: Int], stacks: [[String]: Int], files: [String: Int])] = [:]

    /// Most frames of a group's stack kept, from the leaf (where the wait is); the cut is marked "...".
    public static let stackFrames = 12

    public init() {}

    /// One walk: the number of tasks in R, and those in D.
    public mutating func add(running r: Int, blocked d: [Blocked]) {
        samples += 1
        running += r
        blocked += d.count
        for t in d {
            let w = t.wchan.isEmpty || t.wchan == "0" ? "(unknown)" : t.wchan
            var g = byWchan[w] ?? (0, [:], [:], [:])
            if let f = t.file { g.files[f, default: 0] += 1 }
            g.tasks += 1
            g.comms["\(t.comm) (\(t.pid))", default: 0] += 1
            if !t.stack.isEmpty {
                let s = t.stack.count > Self.stackFrames ? ["..."] + t.stack.suffix(Self.stackFrames) : t.stack
                g.stacks[s, default: 0] += 1
            }
            byWchan[w] = g
        }
    }

    /// The window's load: /proc/loadavg at its end, R and D averaged over the walks.
    public func observation(loadavg: (Double, Double, Double)) -> LoadObservation {
        let n = Double(Swift.max(samples, 1))
        let groups = byWchan.map { w, g in
            // The group's stack is the one most of its tasks were seen in (ties: the shorter, then in order).
            WchanGroup(wchan: w, tasks: Double(g.tasks) / n,
                       comms: g.comms.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5).map(\.key),
                       stack: g.stacks.max { a, b in
                           (a.value, b.key.count, b.key.joined(separator: ";")) < (b.value, a.key.count, a.key.joined(separator: ";"))
                       }?.key,
                       files: g.files.isEmpty ? nil : g.files.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(3).map(\.key))
        }.sorted { ($0.tasks, $1.wchan) > ($1.tasks, $0.wchan) }
        return LoadObservation(load1: loadavg.0, load5: loadavg.1, load15: loadavg.2, running: Double(running) / n,
                               uninterruptible: Double(blocked) / n, dByWchan: groups)
    }
}

/// /proc/PID/stack: one frame a line, `[<0>] name+0xoff/0xsize`, leaf first. Names, root first.
public enum KernelStackText {
    public static func parse(_ text: String) -> [String] {
        let names: [String] = text.split(separator: "\n").compactMap { (line: Substring) -> String? in
            let afterAddress: Substring = line.split(separator: "]", maxSplits: 1, omittingEmptySubsequences: false).last ?? line
            let name = afterAddress.drop { $0 == " " }.prefix { $0 != "+" && $0 != " " }
            return name.isEmpty ? nil : String(name)
        }
        return Array(names.reversed())
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
