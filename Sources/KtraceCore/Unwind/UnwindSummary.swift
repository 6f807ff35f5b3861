/// How user stacks were walked with unwind tables, from the BPF counters and the tables loaded: one line
/// on stderr, so a stack that ended early or a file left to frame pointers is never silent.
public struct UnwindSummary: Sendable, Equatable {
    /// User stacks walked (`--unwind dwarf|auto`).
    public var stacks: UInt64 = 0
    /// Of those, in processes with no tables loaded (yet): frame pointers only.
    public var withoutTables: UInt64 = 0
    /// Frames found through a table row, and through frame pointers where no row applied.
    public var tableFrames: UInt64 = 0
    public var framePointerFrames: UInt64 = 0
    /// Stacks cut at `maxFrames`.
    public var truncated: UInt64 = 0
    /// Stacks that ended before their end: a read failed, a rule a row cannot hold, no progress up the stack.
    public var stopped: UInt64 = 0
    public var maxFrames = 64
    /// Files refused a table, by path, with the reason: their frames use frame pointers.
    public var refused: [String: String] = [:]
    /// Files left to frame pointers by `auto` (built with them).
    public var framePointerFiles = 0
    /// Processes the kernel's table of processes had no room for, and processes with more mappings with
    /// tables than it holds (the rest: frame pointers).
    public var processesNotLoaded = 0
    public var mappingsDropped = 0
    /// Writes of rows into the kernel that failed (their files' mappings were left to frame pointers).
    public var rowWriteFailures = 0
    /// Processes that had tables, rows in the kernel, and the time taken to build and load them.
    public var processes = 0
    public var rows = 0
    public var buildMs = 0.0

    public init() {}

    /// "user stacks: 2395 walked with unwind tables (31 processes, 52,310 rows, built in 40 ms); frames:
    /// 96.1% from tables, 3.9% frame pointers; 3 cut at 64 frames; 12 ended early (...)".
    public var line: String {
        var t = "user stacks: \(stacks) walked with unwind tables (\(processes) processes, \(rows) rows, built in \(fixed(buildMs, 0)) ms)"
        let frames = tableFrames + framePointerFrames
        if frames > 0 {
            t += "; frames after the first: \(pct(tableFrames, frames)) from tables, \(pct(framePointerFrames, frames)) through frame pointers"
        }
        if withoutTables > 0 { t += "; \(withoutTables) in processes whose tables were not loaded yet (frame pointers)" }
        if truncated > 0 { t += "; \(truncated) cut at \(maxFrames) frames" }
        if stopped > 0 {
            t += "; \(stopped) ended early (a stack read failed, a rule the tables cannot follow with no frame pointer to fall back on, or no progress up the stack)"
        }
        if processesNotLoaded > 0 { t += "; \(processesNotLoaded) processes got no tables (their table full): frame pointers" }
        if mappingsDropped > 0 { t += "; \(mappingsDropped) processes with more than 64 mappings with tables: frame pointers in the rest" }
        if rowWriteFailures > 0 { t += "; \(rowWriteFailures) writes of table rows into the kernel failed: frame pointers in those files" }
        if framePointerFiles > 0 { t += "; \(framePointerFiles) files built with frame pointers walked through them" }
        if !refused.isEmpty {
            let shown = refused.sorted { $0.key < $1.key }.prefix(3).map { "\($0.key): \($0.value)" }
            t += "; no table for \(refused.count) files, frame pointers there (\(shown.joined(separator: "; "))\(refused.count > 3 ? "; …" : ""))"
        }
        return t
    }

    private func pct(_ a: UInt64, _ b: UInt64) -> String { "\(fixed(Double(a) / Double(b) * 100, 1))%" }
}
