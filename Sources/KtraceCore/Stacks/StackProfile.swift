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
    /// nil: an on-CPU sample, `count` counts samples. Else time off the CPU in that state, `count` in
    /// nanoseconds.
    public var offCPU: OffCPUState?
    /// Off-CPU with wakers: the kernel stack of the task that woke it (`.none`: no wakeup seen) and its name.
    public var waker: StackRef = .none
    public var wakerComm: String = ""
    public var count: UInt64

    public init(pid: Int32, tid: Int32, comm: String, softirq: SoftirqVector?, work: UInt64 = 0, kernel: StackRef, user: StackRef,
                offCPU: OffCPUState? = nil, count: UInt64) {
        self.pid = pid; self.tid = tid; self.comm = comm; self.softirq = softirq; self.work = work
        self.kernel = kernel; self.user = user; self.offCPU = offCPU; self.count = count
    }
}

/// `ktrace stacks`' outputs, built from counted samples through the symbolizer's one interned form.
public enum StackProfile {
    /// Stack halves the symbolizer has not named yet (decides whether to read the maps in batches).
    public static func unnamed(_ counts: [StackCount], _ s: StackSymbolizer) -> Int {
        counts.reduce(0) { $0 + (s.isNamed(kernel: $1.kernel) ? 0 : 1) + (s.isNamed(user: $1.user, pid: $1.pid) ? 0 : 1) }
    }

    /// Names what `counts` hold before they are written: their stacks read from the kernel's maps in
    /// one pass, then the memory maps of the processes they were sampled in, while those still run, then
    /// every stack (names are cached by stack id). The frames read are let go before any output is built,
    /// so the two are not held at once (0.5 MB of frames for 3,000 stacks of ksoftirqd under a SYN flood,
    /// at the moment that was `stacks`' peak). `stacksRead` runs after the read (-v times the parts).
    public static func prepareNaming(_ counts: [StackCount], _ s: StackSymbolizer, stacksRead: () -> Void = {}) {
        s.prefetch(unnamed: unnamed(counts, s))
        stacksRead()
        for pid in Set(counts.map(\.pid)) { s.userNames.capture(pid: pid) }
        for c in counts {
            _ = s.kernel(c.kernel)
            _ = s.user(pid: c.pid, c.user)
            _ = s.kernel(c.waker)
        }
        s.dropFrames()
    }

    /// Root-first stacks for folded text and flame graphs, with the pseudo-frames of `labels`; `weight`
    /// gives each stack's count in one unit (off-CPU and hot/cold profiles).
    public static func interned(_ counts: [StackCount], _ s: StackSymbolizer, labels: StackLabels = [],
                                weight: ((StackCount) -> UInt64)? = nil) -> InternedProfile {
        let bySoftirq = labels.contains(.softirq), byWork = labels.contains(.work), byState = labels.contains(.state)
        let hotCold = labels.contains(.hotCold), wakers = labels.contains(.wakers)
        let missingUser = s.missingUser, missingKernel = s.missingKernel
        let softirqIDs = SoftirqVector.allCases.map { s.softirq($0) }
        let stateIDs = OffCPUState.allCases.map { s.pseudo($0.frame) }
        let onID = s.pseudo(HotCold.onCPUFrame), offID = s.pseudo(HotCold.offCPUFrame)
        let stacks = counts.map { c in
            var frames = StackComposer.compose(comm: s.comm(c.comm), work: byWork && c.work != 0 ? s.work(c.work) : nil,
                                               softirq: bySoftirq ? c.softirq.map { softirqIDs[$0.rawValue] } : nil,
                                               user: s.user(pid: c.pid, c.user), kernel: kernel(c, s),
                                               missingUser: missingUser, missingKernel: missingKernel)
            if byState, let st = c.offCPU { frames.insert(stateIDs[st.rawValue - 1], at: 1) }
            if hotCold { frames.insert(c.offCPU == nil ? onID : offID, at: 0) }
            if wakers, case .frames(let w) = s.kernel(c.waker) {
                // As offwaketime folds them: the sleeper, "--", then the waker leaf first and its name.
                let names = w.map { s.table[$0] }.drop(while: isTracerFrame)
                frames.append(s.pseudo(Wakeup.separator))
                frames.append(s.pseudo(Wakeup.context(ofWakerFrames: Array(names)).frame))
                frames += names.map { s.waker($0) }
                frames.append(s.waker(StackComposer.commFrame(c.wakerComm)))
            }
            return InternedStack(frames: frames, count: weight?(c) ?? c.count)
        }
        return InternedProfile(table: s.table, stacks: stacks)
    }

    /// A stack's kernel half. An off-CPU stack is taken from a program on sched_switch: its leaf frames
    /// are that program and the tracepoint's glue (`bpf_prog_…`, `bpf_trace_run4`), not the task's. The
    /// tracepoint fires in `__schedule`, so everything leafward of it goes; without it, the leading tracer
    /// frames. Stripping by name alone stops at the first frame that is not the tracer's by name (a JIT
    /// program's address kallsyms did not list when read) and keeps the glue behind it (6.1-rt, run 9).
    static func kernel(_ c: StackCount, _ s: StackSymbolizer) -> StackPart<Int32> {
        let part = s.kernel(c.kernel)
        guard c.offCPU != nil, case .frames(let f) = part else { return part }
        let start = f.firstIndex { isScheduleFrame(s.table[$0]) } ?? f.firstIndex { !isTracerFrame(s.table[$0]) } ?? f.endIndex
        return .frames(Array(f[start...]))
    }

    /// `__schedule`, with or without a compiler suffix (`__schedule.isra.0`).
    static func isScheduleFrame(_ name: String) -> Bool { name == "__schedule" || name.hasPrefix("__schedule.") }

    static func isTracerFrame(_ name: String) -> Bool {
        name.hasPrefix("bpf_") || name.hasPrefix("__bpf_trace_") || name.hasPrefix("perf_trace_") || name.hasPrefix("__traceiter_")
            || name.hasPrefix("trace_call_bpf")
    }

    /// What the stacks' outputs say about the recording: their titles, and the summary at the top of JSON.
    public struct Summary: Sendable {
        public var target: String      // "all CPUs", "pid 9 (ksoftirqd/0)"
        public var seconds: Double
        public var event: String       // "cpu-clock"
        public var rate: String        // "99 Hz", "period 1000000"
        public var losses: ProfileLosses
        /// When the recording (or the interval) began, ns since the Unix epoch: a pprof's time_nanos (0:
        /// not known, and left out of the profile).
        public var startUnixNs: Int64

        public init(target: String, seconds: Double, event: String, rate: String, losses: ProfileLosses, startUnixNs: Int64 = 0) {
            self.target = target; self.seconds = seconds; self.event = event; self.rate = rate; self.losses = losses
            self.startUnixNs = startUnixNs
        }

        public var title: String { "ktrace stacks: \(target)" }
        public var subtitle: String { "\(fixed(seconds, 1)) s · \(rate) \(event) · \(losses.samples) samples · \(losses.lostText)" }
    }

    /// The `--format json` document (schema in docs/stacks.md): frames root first per half, `null` when not
    /// collected, "missing" when lost.
    /// `unit` nil: counts are samples; else off-CPU times in that unit ("ns"), named in the document.
    public static func json(_ counts: [StackCount], _ s: StackSymbolizer, run: Summary, perThread: Bool, unit: String? = nil) -> JSONValue {
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
            if let st = c.offCPU { o.append(("state", .string(st.letter))) }
            o += [("user", part(s.user(pid: c.pid, c.user))), ("kernel", part(kernel(c, s))), ("count", .uint(c.count))]
            return .object(o)
        }
        var doc: [(String, JSONValue)] = [
            ("target", .string(run.target)), ("seconds", .double(run.seconds)),
            ("event", .string(run.event)), ("rate", .string(run.rate)),
        ]
        if let unit {
            doc += [("unit", .string(unit)), ("switch_outs", .uint(run.losses.offCPUSwitches)), ("counted", .uint(run.losses.offCPUCounted))]
        } else {
            doc.append(("samples", .uint(run.losses.samples)))
        }
        doc.append(("lost", run.losses.json))
        // Only when some user frame has no name: why, per mapping (docs/stacks.md).
        let unnamed = UnnamedSummary(counts, s)
        if !unnamed.isEmpty { doc.append(("unnamed", unnamed.json)) }
        doc.append(("stacks", .array(stacks)))
        return .object(doc)
    }
}
