/// Chrome Trace Event JSON, for Perfetto UI (ui.perfetto.dev) and chrome://tracing.
///
/// Layout (`{"traceEvents":[...],"displayTimeUnit":"ns","otherData":{...}}`, one event per line):
/// - Process "CPUs" (pid `cpusPid`, sorted first). Per CPU:
///   - track "CPU N softirq" (tid 2N): one `X` event per softirq slice, cat "softirq", name = vector
///     ("net_rx"), args `ksoftirqd`, `comm`, `tid` (the task that was current);
///   - track "CPU N tasks" (tid 2N+1), only when sched_switch was recorded: one `X` event per stretch a
///     task ran on that CPU, cat "sched", name = comm, args `pid`, `tid`, `end_state` (prev_state of the
///     switch that ended it; absent for the last one). This is the on-CPU view; idle is left blank.
///   Thread sort indexes 2N / 2N+1 keep them in CPU order.
/// - Per traced thread: process = its tgid named after the group leader's comm (else the first comm
///   seen), thread track = tid named "comm (tid)", holding the thread's flame chart (`FlameChart.spans`,
///   with sched_switch and inferred switches closing spans) as `X` events, cat "stack". The idle task
///   (tid 0, one per CPU) is process 0 "swapper" with one track per CPU (tid = CPU number).
/// - Per thread with --trace calls: track tid + `FunctionCalls.trackTidOffset` in its process, named
///   "comm (tid) calls": one `X` event per call, cat "func", name = function, args `depth`, `tid`, and
///   `begin` / `end` when the recording did not see that side of the call.
/// - Per kworker that ran work items: track tid + `ThreadWork.trackTidOffset`, named "comm (tid) work":
///   one `X` event per item, cat "work", name = its function, args `tid`, `n` (its index on the track).
/// Frames are kept as given: softirq context already shows on the CPU tracks.
/// Events of a track are emitted sorted by (ts asc, dur desc), parents before children that start with them.
public enum ChromeTrace {
    /// Above Linux's PID_MAX_LIMIT (4194304), so no real process can share it.
    public static let cpusPid = 10_000_000

    public static func render(_ t: Timeline) -> String {
        var meta: [String] = []
        var events: [String] = []

        func name(pid: Int, _ n: String) {
            meta.append(#"{"name":"process_name","ph":"M","pid":\#(pid),"args":{"name":\#(JSONValue.string(n).text)}}"#)
        }
        func name(pid: Int, tid: Int, _ n: String, sort: Int? = nil) {
            meta.append(#"{"name":"thread_name","ph":"M","pid":\#(pid),"tid":\#(tid),"args":{"name":\#(JSONValue.string(n).text)}}"#)
            if let sort {
                meta.append(#"{"name":"thread_sort_index","ph":"M","pid":\#(pid),"tid":\#(tid),"args":{"sort_index":\#(sort)}}"#)
            }
        }
        func complete(_ n: String, cat: String, start: UInt64, end: UInt64, pid: Int, tid: Int, args: [(String, JSONValue)] = []) {
            let ts = t.relNs(start), e = t.relNs(end)
            var s = #"{"name":\#(JSONValue.string(n).text),"cat":"\#(cat)","ph":"X","ts":\#(micros(ts)),"dur":\#(micros(e - ts)),"pid":\#(pid),"tid":\#(tid)"#
            if !args.isEmpty { s += #","args":"# + JSONValue.object(args).text }
            events.append(s + "}")
        }

        // CPUs
        let slices = t.exportSlicesByCPU()
        let runs = t.exportRunsByCPU()
        if !slices.isEmpty || !runs.isEmpty {
            name(pid: cpusPid, "CPUs")
            meta.append(#"{"name":"process_sort_index","ph":"M","pid":\#(cpusPid),"args":{"sort_index":-1}}"#)
        }
        for cpu in t.exportCPUs {
            if let rows = slices[cpu] {
                name(pid: cpusPid, tid: 2 * cpu, "CPU \(cpu) softirq", sort: 2 * cpu)
                for r in rows {
                    var args: [(String, JSONValue)] = [("ksoftirqd", .bool(r.slice.ksoftirqd)), ("comm", .string(r.slice.comm)), ("tid", .int(Int64(r.slice.tid)))]
                    if r.clipped > 0 { args.append(("overlap_clipped_ns", .uint(r.clipped))) }
                    complete(r.slice.vector.name, cat: "softirq", start: r.start, end: r.end, pid: cpusPid, tid: 2 * cpu, args: args)
                }
            }
            if let rows = runs[cpu] {
                name(pid: cpusPid, tid: 2 * cpu + 1, "CPU \(cpu) tasks", sort: 2 * cpu + 1)
                for r in rows {
                    var args: [(String, JSONValue)] = [("pid", .int(Int64(r.pid))), ("tid", .int(Int64(r.tid)))]
                    if let st = r.endState { args.append(("end_state", .int(st))) }
                    complete(r.comm, cat: "sched", start: r.start, end: r.end, pid: cpusPid, tid: 2 * cpu + 1, args: args)
                }
            }
        }

        // Threads
        let procNames = t.exportProcessNames()
        let away = t.exportAwayIndex(t.exportSwitches())
        var namedPids = Set<Int32>()
        for th in t.exportThreads() {
            let pid = Int(th.key.pid)
            let tid = th.key.isIdle ? th.key.cpu : Int(th.key.tid)
            if namedPids.insert(th.key.pid).inserted { name(pid: pid, procNames[th.key.pid] ?? th.samples[0].comm) }
            name(pid: pid, tid: tid, th.label)
            for s in FlameChart.spans(samples: th.samples, periodNs: t.samplePeriodNs,
                                            away: away.away(for: th.samples, periodNs: t.samplePeriodNs)) {
                complete(s.name, cat: "stack", start: s.start, end: s.end, pid: pid, tid: tid)
            }
        }

        // Traced calls: a track of their own per thread, as they do not nest with the sampled spans.
        let threadCalls = t.exportCalls()
        for th in threadCalls {
            let pid = Int(th.pid), tid = Int(th.tid + FunctionCalls.trackTidOffset)
            if namedPids.insert(th.pid).inserted { name(pid: pid, procNames[th.pid] ?? th.comm) }
            name(pid: pid, tid: tid, th.label)
            for c in th.calls {
                var args: [(String, JSONValue)] = [("depth", .int(Int64(c.depth))), ("tid", .int(Int64(c.tid)))]
                if c.begin == .beforeWindow { args.append(("begin", .string("before the recording"))) }
                if c.begin == .lostEntry { args.append(("begin", .string("entry lost: began after its previous syscall"))) }
                if c.finish == .lostExit { args.append(("end", .string("exit lost: closed at the next call"))) }
                if c.finish == .windowEnd { args.append(("end", .string("still running at the end"))) }
                if c.clippedNs > 0 { args.append(("overlap_clipped_ns", .uint(c.clippedNs))) }
                complete(c.function, cat: "func", start: c.start, end: c.end, pid: pid, tid: tid, args: args)
            }
        }

        let threadWork = t.exportWork()
        for th in threadWork {
            let pid = Int(th.pid), tid = Int(th.tid + ThreadWork.trackTidOffset)
            if namedPids.insert(th.pid).inserted { name(pid: pid, procNames[th.pid] ?? th.comm) }
            name(pid: pid, tid: tid, th.label)
            for (i, w) in th.items.enumerated() {
                complete(w.function, cat: "work", start: w.start, end: w.end, pid: pid, tid: tid,
                         args: [("tid", .int(Int64(th.tid))), ("n", .int(Int64(i)))])
            }
        }

        let other: JSONValue = .object([
            ("exporter", .string("ktrace")),
            ("clock", .string("CLOCK_MONOTONIC")),
            ("startNs", .uint(t.startNs)),
            ("endNs", .uint(t.endNs)),
            ("samplePeriodNs", .uint(t.samplePeriodNs)),
            ("samples", .int(Int64(t.samples.count))),
            ("softirqSlices", .int(Int64(t.slices.count))),
            ("switches", .int(Int64(t.switches.count))),
        ] + (threadCalls.isEmpty ? [] : [("functionCalls", .int(Int64(threadCalls.reduce(0) { $0 + $1.calls.count })))])
          + (t.work.isEmpty ? [] : [("workItems", .int(Int64(t.work.count)))]))
        return "{\"traceEvents\":[\n" + (meta + events).joined(separator: ",\n")
            + "\n],\"displayTimeUnit\":\"ns\",\"otherData\":" + other.text + "}\n"
    }

    /// ns → µs text that every viewer reads back as exactly `ns`. Perfetto turns a fractional `ts`/`dur`
    /// into ns by truncating `value * 1000` as a double, so "1.005" can come back as 1004 ns and a child
    /// could end 1 ns after its parent. Where the plain 3-decimal form would round down that way, a
    /// fourth digit "1" (+0.1 ns) lifts it; readers that round instead still get `ns`.
    static func micros(_ ns: UInt64) -> String {
        let ip = ns / 1000, fr = ns % 1000
        if fr == 0 { return String(ip) } // integers are read exactly
        let digits = String(fr)
        let plain = String(ip) + "." + String(repeating: "0", count: 3 - digits.count) + digits
        return readsBack(ip: ip, frac: fr, scale: 1000, as: ns) ? plain : plain + "1"
    }

    /// `readsBack` without parsing text, for "ip.frac" with `frac` over `scale`: a correctly rounded
    /// parse of it is the IEEE quotient of the two exact integers (all below 2^53 here).
    static func readsBack(ip: UInt64, frac: UInt64, scale: UInt64, as ns: UInt64) -> Bool {
        let strtod = Double(ip * scale + frac) / Double(scale)
        let naive = Double(ip) + Double(frac) / Double(scale)
        return UInt64(strtod * 1000) == ns && UInt64(naive * 1000) == ns
    }

    /// Text form of the check, the reference the numeric one is tested against: whether both ways of reading a decimal (correctly rounded strtod, and Perfetto's own
    /// integer-part + fraction/10^k) then truncating ×1000 give `ns`.
    static func readsBack(_ s: String, as ns: UInt64) -> Bool {
        guard let d = Double(s) else { return false }
        let parts = s.split(separator: ".", maxSplits: 1)
        var naive = Double(parts[0]) ?? 0
        if parts.count == 2, let f = Double(parts[1]) {
            var div = 1.0
            for _ in parts[1] { div *= 10 }
            naive += f / div
        }
        return UInt64(d * 1000) == ns && UInt64(naive * 1000) == ns
    }
}
