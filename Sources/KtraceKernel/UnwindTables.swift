import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

/// User stacks walked with unwind tables (`--unwind dwarf|auto`): the tables of the processes a recording
/// follows, built before the programs load (so the kernel's array is sized for them) and kept current while
/// it runs: a process that starts later, or maps a library later, has its tables loaded at the next refresh
/// (until then its stacks use frame pointers, and that is counted). Files are read through /proc/PID/root,
/// as symbolization reads them, so processes in containers work too.
final class UnwindTables {
    private var tables: UnwindTableSet
    private let target: ProfileConfig.Target
    /// Rows of `tables` already in the kernel.
    private var written = 0
    /// What the kernel holds per process.
    private var loaded: [Int32: [UnwindTableSet.Mapping]] = [:]
    private var lastRefreshNs: UInt64 = 0
    /// Processes with no mappings (kernel threads, zombies): their maps are not read again while their
    /// pid is there. A system-wide refresh read some 200 maps files a second, most of them kernel
    /// threads', and that was most of its cost (about 8 ms a second here with `-a`). Missed by it: a
    /// user-mode helper read in the instant before its exec, and a pid reused within a second of its
    /// zombie's reaping (frame pointers for those, counted as stacks without tables).
    private var noMappings: Set<Int32> = []
    /// Processes the kernel's map had no room for, and processes with more mappings with tables than it
    /// holds (frame pointers in the rest).
    private(set) var processesNotLoaded: Set<Int32> = []
    private(set) var mappingsDropped: Set<Int32> = []
    /// Rows that could not be written to the kernel (mappings pointing at them are left out).
    private(set) var rowWriteFailures = 0
    /// How long building and loading tables took, in total.
    private(set) var buildNs: UInt64 = 0

    /// Most processes followed with tables at once (kt_unwind_procs, preallocated: 2 KiB each): twice
    /// those found at the start, and 256 more.
    var maxProcesses: UInt32 { UInt32(min(pending.count * 2 + 256, 16384)) }

    /// Builds the tables of the processes `target` names now.
    init(target: ProfileConfig.Target, mode: UnwindTableSet.Mode) {
        self.target = target
        // Rows first (up to the most the array may hold), to size the kernel's array by what was found.
        var probe = UnwindTableSet(capacity: 1 << 23, maxMappings: Int(KT_UNWIND_MAPPINGS), mode: mode)
        let t0 = Kernel.monotonicNs()
        var first: [Int32: [UnwindTableSet.Mapping]] = [:], overfull: Set<Int32> = []
        var empty: Set<Int32> = []
        for pid in Self.processes(target) {
            guard let maps = try? ProcessMaps.read(pid: pid, executableOnly: true) else { continue }
            if maps.isEmpty { empty.insert(pid); continue }
            let (m, dropped) = probe.mappings(of: maps, root: "/proc/\(pid)/root", build: Self.build, rbpShare: Self.rbpShare)
            if dropped > 0 { overfull.insert(pid) }
            if !m.isEmpty { first[pid] = m }
        }
        // Room for what starts later: as much again, at least 256k rows (2 MiB), at most 8M (64 MiB).
        let rows = probe.rows(from: 0).count
        probe.capacity = min(max(rows * 2, rows + 262_144), 1 << 23)
        tables = probe
        pending = first
        noMappings = empty
        mappingsDropped = overfull
        buildNs = Kernel.monotonicNs() - t0
    }

    /// The first processes' mappings, written once the maps exist.
    private let pending: [Int32: [UnwindTableSet.Mapping]]

    var capacity: UInt32 { UInt32(tables.capacity) }

    /// Writes what the kernel does not hold yet: new rows, then the processes. Call after load.
    func push(_ handle: OpaquePointer) {
        writeRows(handle)
        for (pid, maps) in pending { setProcess(handle, pid, maps) }
    }

    /// At most once a second: processes that appeared or exited, and mappings that changed. At most 200 ms
    /// of work per call (the rest at the next), so that a recording's own polling (timeline's ring buffer)
    /// is never held up for long by a large new binary.
    func refresh(_ handle: OpaquePointer) {
        let now = Kernel.monotonicNs()
        guard now - lastRefreshNs >= 1_000_000_000 else { return }
        lastRefreshNs = now
        let pids = Set(Self.processes(target))
        noMappings.formIntersection(pids)
        for gone in loaded.keys where !pids.contains(gone) {
            _ = kt_profile_unwind_proc(handle, UInt32(bitPattern: gone), nil)
            loaded[gone] = nil
        }
        // Processes not loaded yet first, then the others (libraries mapped since), each group by pid. Past
        // the budget the rest wait for the next call, which starts over in the same order: a refresh that
        // always runs out (many new large binaries) leaves the highest pids to frame pointers, counted as
        // stacks without tables.
        let order = pids.filter { loaded[$0] == nil && !noMappings.contains($0) }.sorted() + pids.filter { loaded[$0] != nil }.sorted()
        for pid in order {
            if Kernel.monotonicNs() - now > 200_000_000 { break }
            guard let maps = try? ProcessMaps.read(pid: pid, executableOnly: true) else { continue }
            if maps.isEmpty, loaded[pid] == nil { noMappings.insert(pid); continue }
            let (m, dropped) = tables.mappings(of: maps, root: "/proc/\(pid)/root", build: Self.build, rbpShare: Self.rbpShare)
            if dropped > 0 { mappingsDropped.insert(pid) }
            writeRows(handle)
            if (loaded[pid] ?? []) != m { setProcess(handle, pid, m) }
        }
        buildNs += Kernel.monotonicNs() - now
    }

    /// What the summary says about files: refused ones and why, and those left to frame pointers.
    var refused: [String: String] { tables.refused }
    var framePointerFiles: Set<String> { tables.framePointerFiles }
    var rowsLoaded: Int { written }
    /// Processes that had tables loaded at some point.
    private(set) var processesSeen: Set<Int32> = []

    private func writeRows(_ handle: OpaquePointer) {
        let new = tables.rows(from: written)
        guard !new.isEmpty else { return }
        let rows = new.map { kt_unwind_row(pc: $0.pc, rule: $0.rule) }
        if kt_profile_unwind_rows(handle, UInt32(written), rows, UInt32(rows.count)) == 0 {
            written += rows.count
        } else {
            rowWriteFailures += 1
        }
    }

    /// Gives the kernel a process's mappings with tables (only those whose rows it holds), or removes its
    /// entry when none is left: a process without one is walked by the kernel's own frame-pointer walk.
    private func setProcess(_ handle: OpaquePointer, _ pid: Int32, _ all: [UnwindTableSet.Mapping]) {
        let maps = all.filter { Int($0.first) + Int($0.count) <= written }
        guard !maps.isEmpty else {
            if loaded.removeValue(forKey: pid) != nil { _ = kt_profile_unwind_proc(handle, UInt32(bitPattern: pid), nil) }
            return
        }
        var p = kt_unwind_proc()
        p.n = UInt32(min(maps.count, Int(KT_UNWIND_MAPPINGS)))
        withUnsafeMutableBytes(of: &p.m) { raw in
            let slots = raw.bindMemory(to: kt_unwind_mapping.self)
            for (i, m) in maps.prefix(slots.count).enumerated() {
                slots[i] = kt_unwind_mapping(start: m.start, end: m.end, bias: m.bias, first: m.first, count: m.count)
            }
        }
        if kt_profile_unwind_proc(handle, UInt32(bitPattern: pid), &p) == 0 {
            loaded[pid] = maps
            processesSeen.insert(pid)
        } else if loaded[pid] == nil {
            processesNotLoaded.insert(pid)
        }
    }

    private static func build(_ path: String) throws -> UnwindTableBuild {
        try UnwindTableBuilder.build(path: path, debugRoots: ["/usr/lib/debug"])
    }
    /// A file that cannot be read here is left to `build`, which says why.
    private static func rbpShare(_ path: String) -> Double? { try? UnwindTableBuilder.rbpShare(path: path) }

    /// The processes a target names now: its pids, the processes of its threads, those with a matching
    /// thread name, or every process with a user address space.
    static func processes(_ target: ProfileConfig.Target) -> [Int32] {
        switch target {
        case .processes(let pids): return pids
        case .threads(let tids): return Array(Set(tids.compactMap(threadGroup)))
        case .comm(let text, let prefix):
            guard let pattern = try? CommPattern(text + (prefix ? "*" : "")) else { return [] }
            return allProcesses().filter { pid in
                threads(of: pid).contains { processName($0).map(pattern.matches) ?? false }
            }
        case .all: return allProcesses()
        }
    }

    /// Every pid in /proc; kernel threads have no mappings and are skipped where maps are read.
    private static func allProcesses() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    }

    private static func threads(of pid: Int32) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).compactMap { Int32($0) }
    }

    private static func threadGroup(_ tid: Int32) -> Int32? {
        guard let s = try? String(contentsOfFile: "/proc/\(tid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }) else { return nil }
        return Int32(line.dropFirst(5).trimmed)
    }
}
