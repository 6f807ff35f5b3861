/// `ktrace timeline`: work items run by kworkers (workqueue_execute_start/end), drawn as slices on a
/// track of their own per kworker, named by their function, as Perfetto's ftrace import draws them.
public struct WorkSlice: Sendable, Equatable {
    public var ts: UInt64
    public var dur: UInt64
    public var cpu: Int
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var function: String

    public init(ts: UInt64, dur: UInt64, cpu: Int, pid: Int32, tid: Int32, comm: String, function: String) {
        self.ts = ts; self.dur = dur; self.cpu = cpu; self.pid = pid; self.tid = tid; self.comm = comm; self.function = function
    }
}

/// A work item as the ring buffer carries it: the function as a kernel address, named when built.
public struct WorkEvent: Sendable, Equatable {
    public var ts: UInt64
    public var dur: UInt64
    public var cpu: Int
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var function: UInt64

    public init(ts: UInt64, dur: UInt64, cpu: Int, pid: Int32, tid: Int32, comm: String, function: UInt64) {
        self.ts = ts; self.dur = dur; self.cpu = cpu; self.pid = pid; self.tid = tid; self.comm = comm; self.function = function
    }
}

/// One kworker's work items, in start order, clipped to the recording window.
public struct ThreadWork: Sendable {
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var items: [(start: UInt64, end: UInt64, function: String)]
    public var label: String { "\(comm) (\(tid)) work" }
    /// Chrome trace track of a kworker's work items: its tid plus this, in its process (above the calls').
    public static let trackTidOffset: Int32 = 20_000_000
}

extension Timeline {
    func exportWork() -> [ThreadWork] {
        var byTid: [Int32: ThreadWork] = [:]
        for w in work {
            let start = max(w.ts, startNs), end = min(w.ts + w.dur, endNs)
            guard end >= start else { continue }
            byTid[w.tid, default: ThreadWork(pid: w.pid, tid: w.tid, comm: w.comm, items: [])].items.append((start, end, w.function))
        }
        return byTid.values.sorted { $0.tid < $1.tid }.map { th in
            var th = th
            th.items.sort { $0.start < $1.start }
            return th
        }
    }
}
