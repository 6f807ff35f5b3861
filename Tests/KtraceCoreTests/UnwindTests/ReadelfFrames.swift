import Foundation
@testable import KtraceCore

/// `readelf --debug-dump=frames-interp` output, parsed: the peer the unwind tables are checked against.
/// Each FDE's rows as readelf prints them (CFA, rbp and ra columns); an FDE printed without rows has its
/// CIE's initial row.
struct ReadelfFrames {
    struct Row { var pc: UInt64; var cfa: String; var rbp: String; var ra: String; var rsp: String }
    struct FDE { var section: String; var begin, end: UInt64; var rows: [Row] }

    var fdes: [FDE] = []

    init(_ text: String) {
        var out: [FDE] = []
        var section = ""
        var cieRows: [String: Row] = [:]  // "section/offset" -> initial row
        var columns: [String] = []
        var current: (kind: String, key: String, fde: FDE?)? = nil

        func flush() {
            guard let c = current else { return }
            if var f = c.fde {
                if f.rows.isEmpty, let r = cieRows[c.key] { f.rows = [Row(pc: f.begin, cfa: r.cfa, rbp: r.rbp, ra: r.ra, rsp: r.rsp)] }
                out.append(f)
            }
            current = nil
        }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("Contents of the ") {
                flush()
                section = line.contains(".debug_frame") ? ".debug_frame" : ".eh_frame"
                continue
            }
            // A register column reads `r9 (r9)`: one token, `r9`.
            let f = line.split(separator: " ", omittingEmptySubsequences: true).filter { !$0.hasPrefix("(") }.map(String.init)
            if f.count >= 4, f[3] == "CIE", f[0].count == 8 {
                flush()
                current = ("CIE", "\(section)/\(f[0])", nil)
                continue
            }
            if f.count >= 6, f[3] == "FDE", let cie = f[4].split(separator: "=").last,
               let pcs = f[5].split(separator: "=").last?.split(separator: "."), pcs.count == 2,
               let b = UInt64(pcs[0], radix: 16), let e = UInt64(pcs[1], radix: 16) {
                flush()
                current = ("FDE", "\(section)/\(cie)", FDE(section: section, begin: b, end: e, rows: []))
                continue
            }
            if f.first == "LOC" { columns = f; continue }
            guard current != nil, f.count == columns.count, f.count >= 2, f[1] != "ZERO", let pc = UInt64(f[0], radix: 16) else { continue }
            func col(_ name: String) -> String { columns.firstIndex(of: name).map { f[$0] } ?? "u" }
            let row = Row(pc: pc, cfa: f[1], rbp: col("rbp"), ra: col("ra"), rsp: col("rsp"))
            if current!.kind == "CIE" {
                cieRows[current!.key] = row
            } else {
                if current!.fde!.rows.last?.pc == pc { current!.fde!.rows.removeLast() }
                current!.fde!.rows.append(row)
            }
        }
        flush()
        fdes = out
    }

    /// The compact rule readelf's row implies, or the set of rules it allows where frames-interp cannot
    /// tell (`exp` is a PLT expression or another one; `u` for rbp is "no rule" or DW_CFA_undefined).
    static func expected(_ r: Row, inPLT: Bool) -> (cfa: Set<UnwindRow.CFA>, cfaOffset: UInt32?, rbp: Set<UnwindRow.RBP>, rbpSlot: UInt8?) {
        if r.ra == "u" { return ([.endOfStack], nil, [], nil) }
        var cfa: UnwindRow.CFA, off: UInt32? = nil
        if r.cfa == "exp" {
            guard inPLT else { return ([.unsupported], nil, [], nil) }
            // Which PLT variant is not visible in frames-interp; the offset neither.
            return ([.plt, .pltIBT], nil, [.unchanged], nil)
        } else if let plus = r.cfa.firstIndex(of: "+"), let n = UInt32(r.cfa[r.cfa.index(after: plus)...]),
                  n <= UnwindRow.maxCFAOffset, ["rsp", "rbp"].contains(String(r.cfa[..<plus])) {
            cfa = r.cfa.hasPrefix("rsp") ? .rsp : .rbp
            off = n
        } else {
            return ([.unsupported], nil, [], nil)
        }
        guard r.rsp == "u" else { return ([.unsupported], nil, [], nil) }
        guard r.ra == "c-8" else { return ([.raElsewhere], nil, [], nil) }
        switch r.rbp {
        case "u", "s": return ([cfa], off, [.unchanged, .undefined], nil)
        default:
            if r.rbp.hasPrefix("c-"), let n = Int(r.rbp.dropFirst(2)), n % 8 == 0, n / 8 <= 255 {
                return ([cfa], off, [.saved], UInt8(n / 8))
            }
            return ([cfa], off, [.unsupported], nil)
        }
    }

    /// Looks up, in `table`, the first, last and middle pc of every readelf row of every FDE inside
    /// `code` (and covered by one FDE only), and returns the pcs checked and the mismatches found.
    func compare(with table: UnwindTable, code: [Range<UInt64>], plt: [Range<UInt64>],
                 maxMismatches: Int = 20) -> (checked: Int, mismatches: [String]) {
        let inCode = fdes.filter { f in f.end > f.begin && code.contains { $0.lowerBound <= f.begin && f.end <= $0.upperBound } }
        // Pcs more than one FDE claims: the table keeps one of them; readelf cannot say which.
        let sorted = inCode.sorted { $0.begin < $1.begin }
        var shared: [Range<UInt64>] = []
        var maxEnd: UInt64 = 0
        for f in sorted {
            if f.begin < maxEnd { shared.append(f.begin..<min(maxEnd, f.end)) }
            maxEnd = max(maxEnd, f.end)
        }
        var checked = 0
        var mismatches: [String] = []
        for f in inCode {
            for (i, r) in f.rows.enumerated() {
                let end = i + 1 < f.rows.count ? f.rows[i + 1].pc : f.end
                guard end > r.pc else { continue }
                let e = Self.expected(r, inPLT: plt.contains { $0.contains(r.pc) })
                for pc in Set([r.pc, end - 1, r.pc + (end - r.pc) / 2]) where !shared.contains(where: { $0.contains(pc) }) {
                    checked += 1
                    guard let got = table.lookup(pc) else {
                        if mismatches.count < maxMismatches { mismatches.append("\(f.section) 0x\(String(pc, radix: 16)): no row") }
                        continue
                    }
                    var ok = e.cfa.contains(got.cfa)
                    if let o = e.cfaOffset, got.cfaOffset != o { ok = false }
                    if got.cfa.isSupported, got.cfa != .endOfStack, !e.rbp.isEmpty {
                        if !e.rbp.contains(got.rbp) { ok = false }
                        if let s = e.rbpSlot, got.rbpSlot != s { ok = false }
                    }
                    if !ok, mismatches.count < maxMismatches {
                        mismatches.append("\(f.section) 0x\(String(pc, radix: 16)): readelf \(r.cfa) rbp=\(r.rbp) ra=\(r.ra) rsp=\(r.rsp), table \(got)")
                    }
                }
            }
        }
        return (checked, mismatches)
    }
}
