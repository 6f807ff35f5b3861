/// One span of a flame chart: `name` was on the stack at `depth` (0 = root) during [start, end) ns.
public struct FlameSpan: Sendable, Equatable {
    public var name: String
    public var depth: Int
    public var start: UInt64
    public var end: UInt64

    public init(name: String, depth: Int, start: UInt64, end: UInt64) {
        self.name = name; self.depth = depth; self.start = start; self.end = end
    }
}

/// Nested spans of one thread built from its time-ordered samples: consecutive samples with a common
/// frame prefix merge into one longer span per depth (a flame chart). A sample at ts covers [ts, ts+period).
/// A gap of more than 2 periods between two samples of a thread (or a sched_switch away from it, when
/// switches are given) closes all open spans at the last sample's end (or at the switch time).
///
/// Details the rule above leaves open:
/// - A span closed because the next sample's stack differs ends where that next sample starts, so a
///   jittery sampler still gives contiguous spans.
/// - A switch away counts when it falls strictly after the last sample and strictly before the next one
///   (a switch stamped at a sample's own time happened after that sample was taken), and within 2
///   periods of the last sample; later ones are covered by the gap rule. It may end a span before or
///   after the nominal [ts, ts+period) end: the switch time is what really happened.
/// - After a break, spans reopen at the next sample, not at the switch back in: the stack at switch-in
///   is not known.
/// - Zero-length spans (two samples with the same ts) are dropped.
public enum FlameChart {
    /// `samples`: ONE thread, sorted by ts. `switches`: any; only those switching this thread away are
    /// used (for tid 0, the per-CPU idle task, only those on the samples' CPU).
    /// Result sorted by (start, depth), so a parent comes before the children that start with it.
    public static func spans(samples: [TimelineSample], periodNs: UInt64, switches: [SwitchEvent] = []) -> [FlameSpan] {
        spans(samples: samples, periodNs: periodNs, away: awayTimes(of: samples, in: switches)[...])
    }

    /// `away`: sorted times this thread was switched away (see `awayTimes`).
    static func spans(samples: [TimelineSample], periodNs: UInt64, away: ArraySlice<UInt64>) -> [FlameSpan] {
        var out: [FlameSpan] = []
        for run in stretches(samples: samples, periodNs: periodNs, away: away) {
            var open: [(name: String, start: UInt64)] = []
            func close(downTo k: Int, at t: UInt64) {
                while open.count > k {
                    let s = open.removeLast()
                    if t > s.start { out.append(FlameSpan(name: s.name, depth: open.count, start: s.start, end: t)) }
                }
            }
            for i in run.range {
                let s = samples[i]
                let k = commonPrefixCount(open.lazy.map(\.name), s.frames)
                close(downTo: k, at: s.ts)
                for f in s.frames[k...] { open.append((f, s.ts)) }
            }
            close(downTo: 0, at: run.end)
        }
        // Same-depth spans never overlap, so (start, depth) is a total order.
        out.sort { ($0.start, $0.depth) < ($1.start, $1.depth) }
        return out
    }

    /// A stretch of one thread's samples with no gap or switch away inside; covers
    /// [samples[range.first].ts, end).
    struct Stretch: Equatable {
        var range: Range<Int>
        var end: UInt64
    }

    /// Sorted times at which the thread of `samples` was switched away. The idle task is tid 0 on every
    /// CPU: only its own CPU's switches concern it.
    static func awayTimes(of samples: [TimelineSample], in switches: [SwitchEvent]) -> [UInt64] {
        guard let first = samples.first else { return [] }
        return switches
            .filter { $0.prevTid == first.tid && (first.tid != 0 || $0.cpu == first.cpu) }
            .map(\.ts)
            .sorted()
    }

    /// Splits one thread's sorted samples where a gap or a switch away (`away`, sorted) interrupts them.
    static func stretches(samples: [TimelineSample], periodNs: UInt64, away: ArraySlice<UInt64>) -> [Stretch] {
        let p = max(periodNs, 1)
        var runs: [Stretch] = []
        var runStart = 0
        var j = away.startIndex // first switch not yet behind the current sample
        for i in samples.indices {
            let last = samples[i].ts
            while j < away.endIndex, away[j] <= last { j += 1 }
            let limit = last &+ 2 * p
            let next = i + 1 < samples.count ? samples[i + 1].ts : nil
            var end: UInt64? = nil
            if j < away.endIndex, away[j] <= limit, next.map({ away[j] < $0 }) ?? true {
                end = away[j]
            } else if let next, next < last || next - last <= 2 * p { // (unsorted input: keep going)
                end = nil // contiguous
            } else {
                end = last &+ p
            }
            if let end {
                runs.append(Stretch(range: runStart..<(i + 1), end: end))
                runStart = i + 1
            }
        }
        return runs
    }

    static func commonPrefixCount<A: Collection, B: Collection>(_ a: A, _ b: B) -> Int
    where A.Element == String, B.Element == String {
        var n = 0
        for (x, y) in zip(a, b) {
            guard x == y else { break }
            n += 1
        }
        return n
    }

    /// Swift's sort is not guaranteed stable; ties here must keep input order (the order events were seen).
    static func stableSorted<T>(_ a: [T], by less: (T, T) -> Bool) -> [T] {
        a.enumerated().sorted { x, y in
            less(x.element, y.element) || (!less(y.element, x.element) && x.offset < y.offset)
        }.map(\.element)
    }

    /// Index of the first element > x of a sorted array.
    static func index(after x: UInt64, in a: [UInt64]) -> Int {
        a.partitionPoint { $0 > x }
    }

    /// First element > x of a sorted array.
    static func first(after x: UInt64, in a: [UInt64]) -> UInt64? {
        let i = index(after: x, in: a)
        return i < a.count ? a[i] : nil
    }
}

// MARK: - shared by the exporters

/// Identity of a traced thread. The idle task (tid 0) exists once per CPU, so it is keyed by CPU too.
struct TimelineThreadKey: Hashable, Comparable {
    var pid: Int32
    var tid: Int32
    var cpu: Int // -1 unless tid == 0

    init(_ s: TimelineSample) {
        pid = s.pid; tid = s.tid; cpu = s.tid == 0 ? s.cpu : -1
    }

    static func < (a: TimelineThreadKey, b: TimelineThreadKey) -> Bool { (a.pid, a.tid, a.cpu) < (b.pid, b.tid, b.cpu) }

    var isIdle: Bool { tid == 0 }
}

struct TimelineThreadSamples {
    var key: TimelineThreadKey
    var samples: [TimelineSample]
    /// Track label, e.g. "nginx (1234)" or "swapper/3".
    var label: String { key.isIdle ? "swapper/\(key.cpu)" : "\(samples[0].comm) (\(key.tid))" }
}

extension TimelineSample {
    /// Frames as exported: a sample without any frame still shows that the thread ran.
    var exportFrames: [String] { frames.isEmpty ? ["[no stack]"] : frames }
}

extension Timeline {
    /// Samples per thread, each sorted by ts (stable), threads sorted by (pid, tid, cpu).
    func exportThreads() -> [TimelineThreadSamples] {
        var groups: [TimelineThreadKey: [TimelineSample]] = [:]
        for s in samples {
            var e = s
            e.frames = s.exportFrames
            groups[TimelineThreadKey(s), default: []].append(e)
        }
        return groups.keys.sorted().map { k in
            TimelineThreadSamples(key: k, samples: FlameChart.stableSorted(groups[k]!) { $0.ts < $1.ts })
        }
    }

    /// The recorded switches plus one inferred wherever a CPU's samples pass from one thread to another
    /// with no recorded switch away in between: the first thread stopped by then, at most one period
    /// after its last sample. Without this, a thread sampled on both sides of a short run of another
    /// thread would look like it ran throughout.
    func exportSwitches() -> [SwitchEvent] {
        let p = max(samplePeriodNs, 1)
        var recorded: [SwitchKey: [UInt64]] = [:]
        for s in switches { recorded[SwitchKey(cpu: s.cpu, tid: s.prevTid), default: []].append(s.ts) }
        for k in recorded.keys { recorded[k]!.sort() }
        var seen: [TimelineThreadKey: [UInt64]] = [:]
        for s in samples { seen[TimelineThreadKey(s), default: []].append(s.ts) }
        for k in seen.keys { seen[k]!.sort() }
        var out = switches
        var perCPU: [Int: [TimelineSample]] = [:]
        for s in samples { perCPU[s.cpu, default: []].append(s) }
        for (cpu, list) in perCPU {
            let sorted = FlameChart.stableSorted(list) { $0.ts < $1.ts }
            for (a, b) in zip(sorted, sorted.dropFirst()) where a.tid != b.tid {
                let ts = min(b.ts, a.ts &+ p)
                if let r = recorded[SwitchKey(cpu: cpu, tid: a.tid)], let n = FlameChart.first(after: a.ts, in: r), n <= b.ts { continue }
                // Sampled elsewhere meanwhile: it migrated and kept running, it did not stop.
                if let mine = seen[TimelineThreadKey(a)], let n = FlameChart.first(after: a.ts, in: mine), n <= b.ts { continue }
                out.append(SwitchEvent(ts: ts, cpu: cpu, prevPid: a.pid, prevTid: a.tid, prevComm: a.comm, prevState: -1,
                                       nextPid: b.pid, nextTid: b.tid, nextComm: b.comm))
            }
        }
        return out
    }

    /// Sorted switch-away times per thread (idle per CPU), so per-thread work stays linear overall.
    func exportAwayIndex(_ switches: [SwitchEvent]) -> TimelineAwayIndex {
        var times: [TimelineAwayIndex.Key: [UInt64]] = [:]
        for s in switches { times[.init(tid: s.prevTid, cpu: s.prevTid == 0 ? s.cpu : -1), default: []].append(s.ts) }
        for k in times.keys { times[k]!.sort() }
        return TimelineAwayIndex(times: times)
    }

    /// Softirq slices per CPU, sorted, with any partial overlap (which one CPU cannot really have; lost
    /// events can fake it) clipped so every track stays properly nested. `clipped` is what was cut.
    func exportSlicesByCPU() -> [Int: [(slice: SoftirqSlice, start: UInt64, end: UInt64, clipped: UInt64)]] {
        var perCPU: [Int: [SoftirqSlice]] = [:]
        for s in slices { perCPU[s.cpu, default: []].append(s) }
        var out: [Int: [(slice: SoftirqSlice, start: UInt64, end: UInt64, clipped: UInt64)]] = [:]
        for (cpu, list) in perCPU {
            let sorted = FlameChart.stableSorted(list) { ($0.ts, $1.dur) < ($1.ts, $0.dur) }
            var rows: [(slice: SoftirqSlice, start: UInt64, end: UInt64, clipped: UInt64)] = []
            var lastEnd: UInt64 = 0
            for s in sorted {
                var start = s.ts
                let end = s.ts &+ s.dur
                if start < lastEnd && end > lastEnd { start = lastEnd }
                rows.append((s, start, end, start - s.ts))
                lastEnd = max(lastEnd, end)
            }
            out[cpu] = rows
        }
        return out
    }

    /// A CPU's task runs from the switches: [switch in, next switch on that CPU), the first one from the
    /// window start and the last one to the window end. The idle task is left out.
    func exportRunsByCPU() -> [Int: [(pid: Int32, tid: Int32, comm: String, start: UInt64, end: UInt64, endState: Int64?)]] {
        var perCPU: [Int: [SwitchEvent]] = [:]
        for s in switches { perCPU[s.cpu, default: []].append(s) }
        var out: [Int: [(pid: Int32, tid: Int32, comm: String, start: UInt64, end: UInt64, endState: Int64?)]] = [:]
        for (cpu, list) in perCPU {
            let sorted = FlameChart.stableSorted(list) { $0.ts < $1.ts }
            var rows: [(pid: Int32, tid: Int32, comm: String, start: UInt64, end: UInt64, endState: Int64?)] = []
            var cur: (pid: Int32, tid: Int32, comm: String, start: UInt64)? = nil
            for (i, s) in sorted.enumerated() {
                if i == 0 { cur = (s.prevPid, s.prevTid, s.prevComm, min(startNs, s.ts)) }
                if let c = cur, c.tid != 0, s.ts > c.start {
                    rows.append((c.pid, c.tid, c.comm, c.start, s.ts, s.prevState))
                }
                cur = (s.nextPid, s.nextTid, s.nextComm, s.ts)
            }
            if let c = cur, c.tid != 0, endNs > c.start { rows.append((c.pid, c.tid, c.comm, c.start, endNs, nil)) }
            out[cpu] = rows
        }
        return out
    }

    /// Every CPU that appears anywhere, ascending.
    var exportCPUs: [Int] {
        Set(samples.map(\.cpu)).union(slices.map(\.cpu)).union(switches.map(\.cpu)).sorted()
    }

    /// Process names by tgid: the group leader's comm when seen, else the first comm seen.
    func exportProcessNames() -> [Int32: String] {
        var leader: [Int32: String] = [:]
        var first: [Int32: String] = [:]
        func see(_ pid: Int32, _ tid: Int32, _ comm: String) {
            if pid == tid, leader[pid] == nil { leader[pid] = comm }
            if first[pid] == nil { first[pid] = comm }
        }
        for s in samples { see(s.pid, s.tid, s.comm) }
        for s in switches {
            see(s.prevPid, s.prevTid, s.prevComm)
            see(s.nextPid, s.nextTid, s.nextComm)
        }
        var out = first.merging(leader) { _, l in l }
        out[0] = "swapper"
        return out
    }

    /// Window-relative ns; times before the window start clamp to 0 (monotonic, so nesting survives).
    func relNs(_ ts: UInt64) -> UInt64 { ts > startNs ? ts - startNs : 0 }
}

struct TimelineAwayIndex {
    struct Key: Hashable {
        var tid: Int32
        var cpu: Int
    }
    var times: [Key: [UInt64]]

    /// The switch-away times that can matter to `samples` (one thread, sorted): from the first sample
    /// to 2 periods after the last.
    func away(for samples: [TimelineSample], periodNs: UInt64) -> ArraySlice<UInt64> {
        guard let first = samples.first, let last = samples.last,
              let all = times[Key(tid: first.tid, cpu: first.tid == 0 ? first.cpu : -1)] else { return [] }
        let lo = FlameChart.index(after: first.ts, in: all)
        let hi = FlameChart.index(after: last.ts &+ 2 * max(periodNs, 1), in: all)
        return all[lo..<max(lo, hi)]
    }
}

private struct SwitchKey: Hashable {
    var cpu: Int
    var tid: Int32
}
