import CKtrace
import Glibc
import KtraceCore

/// The sampler: perf events on every CPU (or one), its tracepoints and --trace programs, attached while
/// this object lives (or until `stop()`); its maps stay readable until it is released.
public final class ProfileSession {
    private let handle: OpaquePointer
    public let attachKind: AttachKind
    /// 0 when the stack maps allocate on demand; else how many stacks each preallocated map holds (kernels
    /// before 6.2 and PREEMPT_RT, or KTRACE_PREALLOC_STACKS set; a map is one entry when its stacks are not
    /// taken: `kernelStacks`, `userStacks`).
    public let preallocatedStacks: UInt32
    /// Frames a short stack's map holds: each kind of stack has a map of those and one of deeper ones.
    public static let shortStackFrames = Int(KT_SHORT_STACK)
    /// When counting began (CLOCK_MONOTONIC ns): the session open (samples flow from then), or start()
    /// (events and off-CPU time on). A recording's window opens here, not when the command gets to its clock.
    public private(set) var countingSinceNs: UInt64 = 0
    /// The same instant on the wall clock, read once: every time a recording's outputs state (a file's
    /// name, a profile's start) is counted from here on the monotonic clock, so one recording's intervals
    /// follow one another even if the wall clock is set meanwhile (as `perf record -k` keeps one pair of
    /// clocks, HEADER_CLOCK_DATA).
    public private(set) var countingSinceUnixNs: Int64 = 0

    /// A monotonic instant of this recording on the wall clock (ns since the Unix epoch).
    public func unixNs(atMonotonic t: UInt64) -> Int64 {
        countingSinceUnixNs + (Int64(bitPattern: t) - Int64(bitPattern: countingSinceNs))
    }

    /// User stacks walked with unwind tables (config.unwind dwarf or auto), nil with frame pointers.
    private let unwindTables: UnwindTables?
    /// Why `--unwind auto` fell back to frame pointers: the unwinder did not load on this kernel.
    public private(set) var unwindProblem: String?
    /// Kernel stacks are stored: asked for, or the wakers' (offcpu --wakers, whatever --user-only says).
    public let kernelStacks: Bool
    /// What the session reports holds kernel addresses to name (kallsyms): kernel stacks, or the work
    /// functions that key kworkers' samples (--by-work), with --user-only too.
    public let namesKernelAddresses: Bool
    /// User stacks are taken: asked for, and some target is not a kernel thread.
    public let userStacks: Bool

    public init(_ config: ProfileConfig) throws(KernelError) {
        var o = kt_profile_opts()
        o.attach = config.attach.cValue
        o.config = config.bpfConfig
        o.sampling.hardware = config.event == .cycles ? 1 : 0
        switch config.event {
        case .pageFaults: o.sampling.sw_event = UInt64(KT_SW_PAGE_FAULTS.rawValue)
        case .contextSwitches: o.sampling.sw_event = UInt64(KT_SW_CONTEXT_SWITCHES.rawValue)
        default: o.sampling.sw_event = UInt64(KT_SW_CPU_CLOCK.rawValue)
        }
        o.sampling.freq = config.frequency ?? 0
        o.sampling.period = config.frequency == nil ? config.period : 0
        o.sampling.cpu = Int32(config.cpu ?? -1)
        o.sizes.stack_storage = config.stackStorage
        o.sizes.count_entries = config.countEntries
        let timeline = config.timeline
        o.sizes.ringbuf_bytes = timeline?.ringbufBytes ?? 0
        o.timeline.work_slices = timeline?.workSlices == true ? 1 : 0
        let functions = timeline?.traceFunctions ?? []
        let trace = functions.isEmpty ? nil : strdup(functions.joined(separator: ","))
        defer { free(trace) }
        o.timeline.trace_funcs = UnsafePointer(trace)
        o.timeline.trace_kprobes = timeline?.traceAttach == .kprobe ? 1 : 0
        o.sampling.off = config.sampling && !config.event.isProgram ? 0 : 1
        if config.event.isProgram { o.config.every = config.frequency == nil ? config.period : 0 }
        // The CPU clock's period: a late sample carries the periods the kernel's timer skipped (profile.bpf.c).
        if o.sampling.off == 0 && o.sampling.hardware == 0 && o.sampling.sw_event == UInt64(KT_SW_CPU_CLOCK.rawValue) {
            o.config.clock_period_ns = o.sampling.freq > 0 ? 1_000_000_000 / o.sampling.freq : o.sampling.period
        }
        var strings: [UnsafeMutablePointer<CChar>?] = []
        defer { strings.forEach { free($0) } }
        switch config.event {
        case .tracepoint(let c, let n):
            strings = [strdup(c), strdup(n)]
            o.sampling.tp_category = UnsafePointer(strings[0])
            o.sampling.tp_name = UnsafePointer(strings[1])
        case .kprobe(let f):
            strings = [strdup(f)]
            o.sampling.kprobe_func = UnsafePointer(strings[0])
        default: break
        }
        o.sizes.offcpu_tasks = config.offCPU?.maxTasks ?? 0
        // Kernel stacks: asked for, or the wakers' (their map is one entry otherwise: profile.c).
        kernelStacks = config.kernelStacks || config.offCPU?.wakers == true
        namesKernelAddresses = kernelStacks || config.byWork
        // A kernel thread never runs in user mode: when every target is one, no user stacks are taken,
        // whatever --unwind says. No tables then, so the sampler is the one without the unwinder (kt_sample
        // stores a kernel stack only for a new count key, not at every sample), and the user stack map is
        // one entry, not thousands preallocated on kernels before 6.2 (profile.c).
        userStacks = config.userStacks && !(!config.ids.isEmpty && config.ids.allSatisfy(isKernelThread))
        o.config.user_stack = userStacks ? 1 : 0
        // Tables before the programs load: the kernel's array is sized by what they need.
        let tables = userStacks && config.unwind != .fp
            ? UnwindTables(target: config.target, mode: config.unwind == .dwarf ? .tables : .auto) : nil
        if let tables {
            o.config.unwind = 1
            o.sizes.unwind_rows = tables.capacity
            o.sizes.unwind_procs = tables.maxProcesses
        }
        let ids = config.ids.map { UInt32(bitPattern: $0) }
        o.npids = Int32(ids.count)
        var h: OpaquePointer?
        func open() throws(KernelError) {
            try ids.withUnsafeBufferPointer { (buf) throws(KernelError) in
                o.pids = buf.baseAddress
                try cCall { kt_profile_open(&h, &o, $0, $1) }
            }
        }
        var tablesOpened = tables
        do {
            try open()
        } catch where tables != nil && config.unwind == .auto {
            // auto never costs the profile: where the unwinder does not load, frame pointers, said.
            unwindProblem = error.message
            o.config.unwind = 0
            tablesOpened = nil
            try open()
        }
        guard let h else { throw KernelError("kt_profile_open returned no handle") }
        handle = h
        tablesOpened?.push(h)
        unwindTables = tablesOpened
        attachKind = AttachKind(cValue: kt_profile_attach_kind(h))
        preallocatedStacks = UInt32(kt_profile_stack_prealloc(h))
        markCountingBegun()
    }

    /// Turns the timeline's events and off-CPU accounting on, every program being attached: a command
    /// calls it once its own setup is done, so that the recording's window holds none of it.
    public func start() throws(KernelError) {
        let rc = kt_profile_start(handle)
        if rc != 0 { throw KernelError("turning the events on: \(errnoText(rc))") }
        markCountingBegun()
    }

    /// Counting begins now: on the monotonic clock, and on the wall clock read once with it.
    private func markCountingBegun() {
        countingSinceNs = Kernel.monotonicNs()
        countingSinceUnixNs = Kernel.unixNs(atMonotonic: countingSinceNs)
    }

    deinit { kt_profile_close(handle) }

    /// With unwind tables: load those of processes that started, and of libraries mapped, since the last
    /// call (at most once a second; call it while recording).
    public func refreshUnwindTables() { unwindTables?.refresh(handle) }

    /// How user stacks were walked with tables; nil with frame pointers.
    public func unwindSummary() -> UnwindSummary? {
        guard let t = unwindTables else { return nil }
        let s = stats()
        var u = UnwindSummary()
        u.stacks = s.unwind_stacks
        u.withoutTables = s.unwind_no_tables
        u.tableFrames = s.unwind_table_frames
        u.framePointerFrames = s.unwind_fp_frames
        u.truncated = s.unwind_truncated
        u.stopped = s.unwind_stopped
        u.maxFrames = Int(KT_UNWIND_FRAMES)
        u.refused = t.refused
        u.framePointerFiles = t.framePointerFiles.count
        u.processes = t.processesSeen.count
        u.processesNotLoaded = t.processesNotLoaded.count
        u.mappingsDropped = t.mappingsDropped.count
        u.rowWriteFailures = t.rowWriteFailures
        u.rows = t.rowsLoaded
        u.buildMs = Double(t.buildNs) / 1e6
        return u
    }

    /// The BPF counters, summed over CPUs (losses and unwinding both read them).
    private func stats() -> kt_profile_stats {
        var s = kt_profile_stats()
        _ = kt_profile_read_stats(handle, &s)
        return s
    }

    /// Detach everything (sampling and tracepoints); maps and buffered events stay readable.
    public func stop() { kt_profile_stop(handle) }

    /// The BPF loss and event counters, summed over CPUs.
    public func losses() -> ProfileLosses {
        let s = stats()
        var l = ProfileLosses()
        l.samples = s.samples
        l.kernelStackFull = s.kstack_full
        l.kernelStackErrors = s.kstack_err
        l.userStackFull = s.ustack_full
        l.userStackErrors = s.ustack_err
        l.countFull = s.count_full
        l.eventsDropped = s.events_dropped
        l.events = s.events
        l.callsTooDeep = s.func_too_deep
        l.callsUnmatched = s.func_unmatched
        l.callsExitMissed = s.func_exit_missed
        l.callsNoState = s.func_no_state
        l.workFull = s.work_full
        l.kernelSkipped = kt_profile_kernel_skipped(handle)
        l.clockLate = s.clock_late
        l.clockSkipped = s.clock_skipped
        l.offCPUSwitches = s.offcpu_switches
        l.offCPUCounted = s.offcpu_counted
        l.offCPUOutOfRange = s.offcpu_out_of_range
        l.offCPUStartFull = s.offcpu_start_full
        l.offCPUStalled = s.offcpu_stalled
        return l
    }

    /// The count map's entries (at most `max`), decoded.
    public func counts(max: Int) -> [StackCount] {
        withEntryBuffers(max) { kt_profile_read_counts(handle, $0, $1, Int32(max)) }.decoded
    }

    /// Ends an interval of a continuous profile: programs count into the other epoch from now on, and the
    /// entries of the one that ended are read and removed. Nothing is lost between two intervals. Returns
    /// them and when the next interval began (CLOCK_MONOTONIC ns).
    public func drain(max: Int) throws(KernelError) -> (counts: [StackCount], endNs: UInt64) {
        var flip: UInt64 = 0
        let read = withEntryBuffers(max) { kt_profile_drain(handle, $0, $1, Int32(max), &flip) }
        if read.rc < 0 { throw KernelError("draining the stack counts: \(errnoText(read.rc))") }
        return (read.decoded, flip)
    }

    /// Room for `max` count entries, filled by `read` (which returns how many it wrote, or a negative
    /// errno), decoded. The room is left uninitialized: `max` is sized for the worst case (a key per
    /// sample), and zeroing it touched every page, 0.9 MB at the end of a 6 s `stacks` run that filled
    /// a third of it; the kernel writes only the entries it returns.
    private func withEntryBuffers(_ max: Int, _ read: (UnsafeMutablePointer<kt_stack_key>, UnsafeMutablePointer<UInt64>) -> Int32)
        -> (decoded: [StackCount], rc: Int32) {
        let keys = UnsafeMutablePointer<kt_stack_key>.allocate(capacity: Swift.max(max, 1))
        let counts = UnsafeMutablePointer<UInt64>.allocate(capacity: Swift.max(max, 1))
        defer { keys.deallocate(); counts.deallocate() }
        let rc = read(keys, counts)
        return ((0..<Int(Swift.max(rc, 0))).map { decode(keys[$0], counts[$0]) }, rc)
    }

    /// Stacks read and removed from the kernel's maps by `retireStacks`, by map (user: 1): still
    /// readable for one more interval, as a sample just before their removal may count them in it.
    private var retired: [[UInt64: [UInt64]]] = [[:], [:]]

    /// After an interval was named: removes every stored stack from the kernel's maps so a long run does
    /// not fill them (the next sample of a new count key stores its stacks again; a key already counted in
    /// this interval had them stored before this removal), keeping them readable here one interval more.
    public func retireStacks() {
        for user in [false, true] {
            var copies: [UInt64: [UInt64]] = [:]
            forEachStored(user: user) { id, frames in copies[id] = Array(frames) }
            let ids = Array(copies.keys)
            _ = kt_profile_forget_stacks(handle, user ? 1 : 0, ids, Int32(ids.count))
            retired[user ? 1 : 0] = copies
        }
    }

    private func decode(_ k: kt_stack_key, _ count: UInt64) -> StackCount {
        var c = StackCount(pid: Int32(bitPattern: k.tgid), tid: Int32(bitPattern: k.tid), comm: cString(k.comm),
                           softirq: softirqVector(k.softirq), work: k.work, kernel: stackRef(k.kstack), user: stackRef(k.ustack),
                           offCPU: OffCPUState(rawValue: Int(k.offcpu)), count: count)  // KT_ONCPU (0): nil
        c.waker = stackRef(k.waker_kstack)
        c.wakerComm = cString(k.waker_comm)
        return c
    }

    /// Ring buffer events gathered since the last call (waiting at most `timeoutMs` for the first).
    public func poll(timeoutMs: Int32 = 0) -> [TraceEvent] {
        let n = Int(kt_profile_poll(handle, timeoutMs))
        guard n > 0, let p = kt_profile_events(handle) else { return [] }
        defer { kt_profile_clear_events(handle) }
        return UnsafeBufferPointer(start: p, count: n).compactMap(decode)
    }

    private func decode(_ e: kt_event) -> TraceEvent? {
        let pid = Int32(bitPattern: e.tgid), tid = Int32(bitPattern: e.tid), cpu = Int(e.cpu)
        switch e.type {
        case KT_EV_SAMPLE.rawValue:
            return .sample(SampledEvent(ts: e.ts, cpu: cpu, pid: pid, tid: tid, comm: cString(e.comm), softirq: softirqVector(e.softirq),
                                        kernel: stackRef(e.kstack), user: stackRef(e.ustack)))
        case KT_EV_SOFTIRQ.rawValue:
            guard let vec = softirqVector(e.softirq) else { return nil }
            return .softirq(SoftirqSlice(ts: e.ts, dur: e.dur, cpu: cpu, vector: vec, ksoftirqd: e.flags & UInt32(KT_EVF_KSOFTIRQD) != 0,
                                         tid: tid, comm: cString(e.comm)))
        case KT_EV_SWITCH.rawValue:
            return .contextSwitch(SwitchEvent(ts: e.ts, cpu: cpu, prevPid: pid, prevTid: tid, prevComm: cString(e.comm),
                                              prevState: e.prev_state, nextPid: Int32(bitPattern: e.next_tgid),
                                              nextTid: Int32(bitPattern: e.next_tid), nextComm: cString(e.next_comm)))
        case KT_EV_FUNC_ENTRY.rawValue, KT_EV_FUNC_EXIT.rawValue:
            let since = e.ts >= e.dur ? e.ts - e.dur : 0  // a clock that went back across CPUs: not a trap
            let kind: FunctionEvent.Kind = e.type == KT_EV_FUNC_ENTRY.rawValue ? .entry
                : e.flags & UInt32(KT_EVF_EXIT_MISSED) != 0 ? .missedExit(entryTs: since)
                : e.flags & UInt32(KT_EVF_ENTRY_LOST) != 0 ? .lostEntry(after: since)
                : .exit(entryTs: e.flags & UInt32(KT_EVF_NO_ENTRY) != 0 ? nil : since)
            return .call(CallEvent(ts: e.ts, cpu: cpu, pid: pid, tid: tid, comm: cString(e.comm), slot: Int(e.func_slot),
                                   depth: Int(e.depth), kind: kind))
        case KT_EV_WORK.rawValue:
            return .work(WorkEvent(ts: e.ts, dur: e.dur, cpu: cpu, pid: pid, tid: tid, comm: cString(e.comm), function: e.work_fn))
        default:
            return nil
        }
    }
}

extension ProfileSession: StackSource {
    public func frames(ofStack id: UInt64, user: Bool) -> [UInt64]? {
        var buf = [UInt64](repeating: 0, count: Int(KT_MAX_STACK))
        let n = kt_profile_read_stack(handle, user ? 1 : 0, id, &buf, Int32(buf.count))
        return n < 0 ? retired[user ? 1 : 0][id] : Array(Self.decodeCut(buf.prefix(Int(n))))
    }

    /// The unwinder's cut mark (KT_UNWIND_CUT_PC, after a user stack's last frame) in the core's form.
    private static func decodeCut(_ frames: ArraySlice<UInt64>) -> ArraySlice<UInt64> {
        guard frames.last == KT_UNWIND_CUT_PC else { return frames }
        var f = frames
        f[f.index(before: f.endIndex)] = StackSymbolizer.cutMark
        return f
    }

    public func forEachStack(user: Bool, _ body: (UInt64, ArraySlice<UInt64>) -> Void) {
        forEachStored(user: user, body)
        for (id, frames) in retired[user ? 1 : 0] { body(id, frames[...]) }
    }

    /// The kernel maps' stacks of that kind, 256 per syscall; a failed read leaves the rest to one lookup each.
    private func forEachStored(user: Bool, _ body: (UInt64, ArraySlice<UInt64>) -> Void) {
        let batch = 256, width = Int(KT_MAX_STACK)
        var ids = [UInt64](repeating: 0, count: batch), ips = [UInt64](repeating: 0, count: batch * width)
        var cursor = kt_stack_cursor()
        while cursor.done == 0 {
            let n = Int(kt_profile_read_stacks(handle, user ? 1 : 0, &cursor, &ids, &ips, Int32(batch)))
            guard n >= 0 else { break }
            for i in 0..<n {
                let frames = ips[(i * width)..<((i + 1) * width)]
                let count = frames.firstIndex(of: 0).map { $0 - i * width } ?? width
                body(ids[i], Self.decodeCut(frames.prefix(count)))
            }
        }
    }
}
