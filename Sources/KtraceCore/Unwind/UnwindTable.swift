/// The compact unwind table of one ELF file: rows sorted by `pc`, strictly increasing, no two adjacent
/// rows with the same rule, the last row `.uncovered` (the end of the last FDE). A pc below the first row is
/// covered by nothing. Offsets are ELF virtual addresses; a process adds its mapping's bias.
public struct UnwindTable: Sendable, Equatable {
    public private(set) var rows: [UnwindRow]

    public init(rows: [UnwindRow]) { self.rows = rows }

    /// The row in effect at `pc` (the last row whose pc <= pc); `.uncovered` rows included. nil below the
    /// first row or beyond 32 bits.
    public func lookup(_ pc: UInt64) -> UnwindRow? {
        guard pc <= UInt64(UInt32.max), let i = Self.index(of: UInt32(pc), in: rows) else { return nil }
        return rows[i]
    }

    /// The binary search BPF will run: at most `maxLookupSteps` iterations.
    static func index(of pc: UInt32, in rows: [UnwindRow]) -> Int? {
        var lo = 0, hi = rows.count  // invariant: rows[..<lo].pc <= pc, rows[hi...].pc > pc
        while lo < hi {
            let mid = (lo + hi) / 2
            if rows[mid].pc <= pc { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lo - 1
    }

    /// Iterations of the binary search for this table: ceil(log2(rows + 1)).
    public var maxLookupSteps: Int { Int.bitWidth - rows.count.leadingZeroBitCount }

    /// The table as BPF will read it: `rows.count * 8` bytes.
    public var encoded: [UInt8] { rows.flatMap(\.encoded) }

    /// Appends a row: a row at the pc of the last one replaces it, a row with the last one's rule merges.
    mutating func append(_ row: UnwindRow) {
        if let last = rows.last, last.pc >= row.pc {
            precondition(last.pc == row.pc, "rows out of order")
            rows.removeLast()
        }
        if let last = rows.last, last.sameRule(as: row) { return }
        rows.append(row)
    }

    /// Bytes of code per rule: what share of the FDE-covered range an unwinder can walk through.
    public var coverage: UnwindCoverage {
        var c = UnwindCoverage()
        for (i, r) in rows.enumerated() where i + 1 < rows.count {
            let span = UInt64(rows[i + 1].pc - r.pc)
            c.bytes[r.cfa, default: 0] += span
            if r.cfa.isSupported, r.rbp == .unsupported { c.rbpUnsupportedBytes += span }
        }
        c.rows = rows.count
        return c
    }
}

public struct UnwindCoverage: Sendable, Equatable, CustomStringConvertible {
    /// Code bytes per CFA rule (`.uncovered`: gaps between FDEs inside the table's span).
    public var bytes: [UnwindRow.CFA: UInt64] = [:]
    /// Bytes whose CFA rule is supported but whose rbp rule is not (rbp is lost past such a frame).
    public var rbpUnsupportedBytes: UInt64 = 0
    public var rows = 0

    /// Bytes some FDE covers.
    public var fdeBytes: UInt64 { bytes.filter { $0.key != .uncovered }.values.reduce(0, +) }
    /// Bytes with a rule the table can follow (rsp, rbp, PLT, end of stack).
    public var supportedBytes: UInt64 { bytes.filter { $0.key.isSupported }.values.reduce(0, +) }
    /// supportedBytes / fdeBytes (1 for an empty table).
    public var supportedShare: Double { fdeBytes == 0 ? 1 : Double(supportedBytes) / Double(fdeBytes) }

    public var description: String {
        let pct = (supportedShare * 10000).rounded() / 100
        let parts = [UnwindRow.CFA.rsp, .rbp, .plt, .pltIBT, .endOfStack, .unsupported, .raElsewhere]
            .compactMap { k in bytes[k].map { "\(k)=\($0)" } }.joined(separator: " ")
        return "\(rows) rows, \(fdeBytes) bytes in FDEs, \(pct)% supported (\(parts)); rbp lost in \(rbpUnsupportedBytes) bytes"
    }
}
