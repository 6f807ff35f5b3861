/// `ktrace timeline --trace FUNC`: entry and exit events of traced kernel functions (fentry/fexit),
/// paired into nested calls per thread.
public struct FunctionEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case entry
        /// `entryTs`: when the call began, as the kernel paired it; nil when the entry was not seen
        /// (the call began before recording).
        case exit(entryTs: UInt64?)
        /// The kernel skipped this call's exit; it had ended by `ts` (its syscall's exit).
        case missedExit(entryTs: UInt64)
        /// The kernel skipped this call's entry; it began at `after` (its task's last return to user
        /// space) or later.
        case lostEntry(after: UInt64)
    }
    public var ts: UInt64
    public var cpu: Int
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var function: String
    /// Traced calls already open in the task when this one began (0 = outermost), as counted in the kernel.
    public var depth: Int
    public var kind: Kind

    public init(ts: UInt64, cpu: Int, pid: Int32, tid: Int32, comm: String, function: String, depth: Int, kind: Kind) {
        self.ts = ts; self.cpu = cpu; self.pid = pid; self.tid = tid; self.comm = comm
        self.function = function; self.depth = depth; self.kind = kind
    }
}

/// One call, [start, end) on one thread; `depth` is its nesting among the thread's exported calls.
public struct FunctionCall: Sendable, Equatable {
    public enum Begin: String, Sendable {
        case entry, beforeWindow
        /// Entry not recorded (the kernel skipped it): begun where its task last returned to user space.
        case lostEntry
    }
    public enum End: String, Sendable {
        case exit
        /// Exit not recorded (lost): closed where a later event shows it had returned.
        case lostExit
        /// Still running when recording ended: closed at the window end.
        case windowEnd
    }
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var function: String
    public var start: UInt64
    public var end: UInt64
    public var depth: Int
    public var begin: Begin
    public var finish: End
    /// Cut from the end so it fits inside its parent (lost events can fake a partial overlap).
    public var clippedNs: UInt64 = 0
}

/// The calls of one thread, sorted by (start, longest first): parents before their children.
public struct ThreadCalls: Sendable {
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var calls: [FunctionCall]
    public var label: String { "\(comm) (\(tid)) calls" }
}

public enum FunctionCalls {
    /// Chrome trace thread id of a thread's call track: tid + this, above Linux's PID_MAX_LIMIT (4194304),
    /// so it never collides with a real thread of the same process.
    public static let trackTidOffset: Int32 = 10_000_000

    /// Pairs `events` (any order) into calls per thread, for the window [startNs, endNs):
    /// - an exit paired in the kernel is a call [entryTs, ts) (its entry event, if delivered, is used up);
    /// - an exit the kernel could not pair (its state was reset or evicted mid-call) closes the innermost
    ///   open entry of the same function seen here; with none, the call began before recording: [startNs, ts);
    /// - an exit whose entry the kernel skipped began after its task's last return to user space: [after, ts);
    /// - an entry left without exit ends at the first later event of its thread showing it returned (an
    ///   entry at the same or a lower depth, the exit of a caller, or an exit without entry), else at endNs.
    /// Nesting is then rebuilt from the times, so every thread's calls nest properly whatever was lost.
    public static func pair(_ events: [FunctionEvent], startNs: UInt64, endNs: UInt64) -> [ThreadCalls] {
        struct Key: Hashable, Comparable {
            var pid: Int32, tid: Int32
            static func < (a: Key, b: Key) -> Bool { (a.pid, a.tid) < (b.pid, b.tid) }
        }
        var byThread: [Key: [FunctionEvent]] = [:]
        for e in events { byThread[Key(pid: e.pid, tid: e.tid), default: []].append(e) }

        var out: [ThreadCalls] = []
        for key in byThread.keys.sorted() {
            let evs = FlameChart.stableSorted(byThread[key]!) { $0.ts < $1.ts }
            struct Entry: Hashable { var ts: UInt64, depth: Int, function: String }
            var paired = Set<Entry>()
            var calls: [FunctionCall] = []
            func call(_ e: FunctionEvent, _ start: UInt64, _ end: UInt64, _ b: FunctionCall.Begin, _ f: FunctionCall.End) -> FunctionCall {
                FunctionCall(pid: e.pid, tid: e.tid, comm: e.comm, function: e.function, start: start,
                             end: max(start, end), depth: e.depth, begin: b, finish: f)
            }
            for e in evs {
                switch e.kind {
                case .exit(let entryTs?), .missedExit(let entryTs): paired.insert(Entry(ts: entryTs, depth: e.depth, function: e.function))
                default: break
                }
            }
            // Entries not paired in the kernel, innermost last: each stays open until an event shows it returned.
            var open: [FunctionEvent] = []
            func close(while returned: (FunctionEvent) -> Bool, at ts: UInt64) {
                while let top = open.last, returned(top) {
                    calls.append(call(top, top.ts, ts, .entry, .lostExit))
                    open.removeLast()
                }
            }
            for e in evs {
                switch e.kind {
                case .entry:
                    close(while: { $0.depth >= e.depth && $0.ts < e.ts }, at: e.ts)
                    if !paired.contains(Entry(ts: e.ts, depth: e.depth, function: e.function)) { open.append(e) }
                case .exit(let entryTs?):
                    close(while: { $0.depth > e.depth && $0.ts < e.ts }, at: e.ts)
                    calls.append(call(e, entryTs, e.ts, .entry, .exit))
                case .missedExit(let entryTs):
                    close(while: { $0.depth > e.depth && $0.ts < e.ts }, at: e.ts)
                    calls.append(call(e, entryTs, e.ts, .entry, .lostExit))
                case .exit(nil), .lostEntry:
                    let after: UInt64 = if case .lostEntry(let a) = e.kind { a } else { 0 }
                    if let j = open.lastIndex(where: { $0.function == e.function && $0.ts <= e.ts && $0.ts >= after }) {
                        close(while: { _ in open.count > j + 1 }, at: e.ts)
                        let entry = open.removeLast()
                        calls.append(call(entry, entry.ts, e.ts, .entry, .exit))
                    } else if case .lostEntry(let after) = e.kind {
                        let start = min(max(startNs, after), e.ts)
                        close(while: { $0.ts < start }, at: start)
                        calls.append(call(e, start, e.ts, .lostEntry, .exit))
                    } else {
                        close(while: { $0.ts < e.ts }, at: e.ts)
                        calls.append(call(e, min(startNs, e.ts), e.ts, .beforeWindow, .exit))
                    }
                }
            }
            for e in open { calls.append(call(e, e.ts, max(endNs, e.ts), .entry, .windowEnd)) }
            out.append(ThreadCalls(pid: key.pid, tid: key.tid, comm: evs.last!.comm, calls: nest(calls)))
        }
        return out
    }

    /// Sorts by (start, end desc) and sets depths from the times; a call that outlasts its parent is cut
    /// at the parent's end.
    static func nest(_ calls: [FunctionCall]) -> [FunctionCall] {
        var ends: [UInt64] = []
        return FlameChart.stableSorted(calls) { ($0.start, $1.end) < ($1.start, $0.end) }.map { c in
            var c = c
            while let e = ends.last, e <= c.start { ends.removeLast() }
            if let parent = ends.last, c.end > parent {
                c.clippedNs = c.end - parent
                c.end = parent
            }
            c.depth = ends.count
            ends.append(c.end)
            return c
        }
    }

    /// What the pairing had to make up, for the summary line: calls begun before the window, entries and
    /// exits lost, calls still running at the end, calls cut to fit their parent.
    public static func notes(_ threads: [ThreadCalls])
        -> (calls: Int, beforeWindow: Int, lostEntry: Int, lostExit: Int, running: Int, clipped: Int) {
        var r = (calls: 0, beforeWindow: 0, lostEntry: 0, lostExit: 0, running: 0, clipped: 0)
        for c in threads.lazy.flatMap(\.calls) {
            r.calls += 1
            if c.begin == .beforeWindow { r.beforeWindow += 1 }
            if c.begin == .lostEntry { r.lostEntry += 1 }
            if c.finish == .lostExit { r.lostExit += 1 }
            if c.finish == .windowEnd { r.running += 1 }
            if c.clippedNs > 0 { r.clipped += 1 }
        }
        return r
    }
}

extension Timeline {
    /// Calls per thread, paired over this window.
    func exportCalls() -> [ThreadCalls] {
        calls.isEmpty ? [] : FunctionCalls.pair(calls, startNs: startNs, endNs: endNs)
    }
}
