/// One entry of the kernel's count map, decoded: who was sampled, in which softirq, with which stacks.
public struct StackCount: Sendable, Equatable {
    public var pid: Int32
    /// 0 unless counted per thread.
    public var tid: Int32
    public var comm: String
    public var softirq: SoftirqVector?
    /// The work function the thread was running (a kernel address; 0: none, or not tracked).
    public var work: UInt64
    public var kernel: StackRef
    public var user: StackRef
    public var count: UInt64

    public init(pid: Int32, tid: Int32, comm: String, softirq: SoftirqVector?, work: UInt64 = 0, kernel: StackRef, user: StackRef, count: UInt64) {
        self.pid = pid; self.tid = tid; self.comm = comm; self.softirq = softirq; self.work = work
        self.kernel = kernel; self.user = user; self.count = count
    }
}

/// `ktrace stacks`' outputs, built from counted samples through the symbolizer's one interned form.
public enum StackProfile {
    /// Stack halves the symbolizer has not named yet (decides whether to read the maps in batches).
    public static func unnamed(_ counts: [StackCount], _ s: StackSymbolizer) -> Int {
        counts.reduce(0) { $0 + (s.isNamed(kernel: $1.kernel) ? 0 : 1) + (s.isNamed(user: $1.user, pid: $1.pid) ? 0 : 1) }
    }

    /// Root-first stacks for folded text and flame graphs; `bySoftirq` adds a `[softirq:x]` frame after
    /// the task name, `byWork` a `[work:FUNCTION]` frame before it for samples inside a work item.
    public static func interned(_ counts: [StackCount], _ s: StackSymbolizer, bySoftirq: Bool, byWork: Bool = false) -> InternedProfile {
        let missingUser = s.missingUser, missingKernel = s.missingKernel
        let softirqIDs = SoftirqVector.allCases.map { s.softirq($0) }
        let stacks = counts.map { c in
            InternedStack(frames: StackComposer.compose(comm: s.comm(c.comm), work: byWork && c.work != 0 ? s.work(c.work) : nil,
                                                        softirq: bySoftirq ? c.softirq.map { softirqIDs[$0.rawValue] } : nil,
                                                        user: s.user(pid: c.pid, c.user), kernel: s.kernel(c.kernel),
                                                        missingUser: missingUser, missingKernel: missingKernel),
                          count: c.count)
        }
        return InternedProfile(table: s.table, stacks: stacks)
    }

    /// What the stacks' outputs say about the run, for titles and JSON.
    public struct Run: Sendable {
        public var target: String      // "all CPUs", "pid 9 (ksoftirqd/0)"
        public var seconds: Double
        public var event: String       // "cpu-clock"
        public var rate: String        // "99 Hz", "period 1000000"
        public var losses: ProfileLosses

        public init(target: String, seconds: Double, event: String, rate: String, losses: ProfileLosses) {
            self.target = target; self.seconds = seconds; self.event = event; self.rate = rate; self.losses = losses
        }

        public var title: String { "ktrace stacks: \(target)" }
        public var subtitle: String { "\(fixed(seconds, 1)) s · \(rate) \(event) · \(losses.samples) samples · \(losses.lostText)" }
    }

    /// The `--format json` document (schema in README.md): frames root first per half, `null` when not
    /// collected, "missing" when lost.
    public static func json(_ counts: [StackCount], _ s: StackSymbolizer, run: Run, perThread: Bool) -> JSONValue {
        func part(_ p: StackPart<Int32>) -> JSONValue {
            switch p {
            case .frames(let f): .array(f.reversed().map { .string(s.table[$0]) })
            case .none: .null
            case .missing: .string("missing")
            }
        }
        let stacks = counts.map { c -> JSONValue in
            var o: [(String, JSONValue)] = [("comm", .string(c.comm)), ("pid", .int(Int64(c.pid)))]
            if perThread { o.append(("tid", .int(Int64(c.tid)))) }
            o.append(("softirq", c.softirq.map { .string($0.name) } ?? .null))
            if c.work != 0 { o.append(("work", .string(s.kernelFunctionName(c.work)))) }
            o += [("user", part(s.user(pid: c.pid, c.user))), ("kernel", part(s.kernel(c.kernel))), ("count", .uint(c.count))]
            return .object(o)
        }
        return .object([
            ("target", .string(run.target)), ("seconds", .double(run.seconds)),
            ("event", .string(run.event)), ("rate", .string(run.rate)),
            ("samples", .uint(run.losses.samples)), ("lost", run.losses.json), ("stacks", .array(stacks)),
        ])
    }
}
