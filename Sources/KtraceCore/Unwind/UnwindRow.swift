/// One row of a compact unwind table: from `pc` up to the next row's `pc`, how to find the caller.
///
/// Layout (8 bytes, little-endian, 4-byte aligned; what a BPF array map of rows will hold):
///
/// ```c
/// struct kt_unwind_row {          /* proposal for bpf/ktrace.h; see docs/unwinding.md */
///     __u32 pc;                   /* first pc of the row, as an offset from the ELF's load base
///                                    (= the ELF virtual address; the mapping's bias is added per process) */
///     __u32 rule;                 /* bits  0-2:  KT_CFA_*   how to compute the CFA (the caller's rsp)
///                                    bits  3-4:  KT_RBP_*   where the caller's rbp is
///                                    bits  5-12: rbp slot   KT_RBP_SAVED: rbp is at CFA - 8 * slot
///                                    bits 13-31: cfa_off    CFA = <register> + cfa_off, bytes (< 512 KiB) */
/// };
/// #define KT_ROW_CFA(r)      ((r) & 7)
/// #define KT_ROW_RBP(r)      (((r) >> 3) & 3)
/// #define KT_ROW_RBP_SLOT(r) (((r) >> 5) & 0xff)
/// #define KT_ROW_CFA_OFF(r)  ((r) >> 13)
/// /* KT_CFA_*: */
/// #define KT_CFA_NONE         0   /* no FDE covers this pc (a gap between functions, or past the end) */
/// #define KT_CFA_RSP          1   /* CFA = rsp + cfa_off */
/// #define KT_CFA_RBP          2   /* CFA = rbp + cfa_off */
/// #define KT_CFA_PLT          3   /* .plt: CFA = rsp + cfa_off + ((rip & 15) >= 11 ? 8 : 0) */
/// #define KT_CFA_PLT_IBT      4   /* IBT .plt (-z ibtplt, CET): the same with 9 */
/// #define KT_CFA_END          5   /* outermost frame: the return address is undefined (_start, thread start) */
/// #define KT_CFA_UNSUPPORTED  6   /* CFA from another register or a DWARF expression, or cfa_off too big */
/// #define KT_CFA_RA_ELSEWHERE 7   /* the return address is not at CFA - 8 */
/// /* KT_RBP_*: */
/// #define KT_RBP_UNCHANGED    0   /* rbp is the caller's */
/// #define KT_RBP_SAVED        1   /* at CFA - 8 * slot */
/// #define KT_RBP_UNDEFINED    2   /* unknown from here on (DW_CFA_undefined) */
/// #define KT_RBP_UNSUPPORTED  3   /* saved where this format cannot say (a register, an expression, an odd offset) */
/// ```
///
/// The return address is always at CFA - 8 (x86-64 `call`); a row where DWARF says otherwise is
/// `raElsewhere`. The caller's rsp is always the CFA.
public struct UnwindRow: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum CFA: UInt8, Sendable {
        case uncovered = 0, rsp = 1, rbp = 2, plt = 3, pltIBT = 4, endOfStack = 5, unsupported = 6, raElsewhere = 7

        /// The rule lets an unwinder go on (or, for `endOfStack`, stop correctly).
        public var isSupported: Bool { [.rsp, .rbp, .plt, .pltIBT, .endOfStack].contains(self) }
    }
    public enum RBP: UInt8, Sendable {
        case unchanged = 0, saved = 1, undefined = 2, unsupported = 3
    }

    /// Largest CFA offset a row holds (19 bits).
    public static let maxCFAOffset: UInt32 = (1 << 19) - 1
    public static let size = 8

    public var pc: UInt32
    public var cfa: CFA
    /// Bytes added to the CFA register (0...maxCFAOffset).
    public var cfaOffset: UInt32
    public var rbp: RBP
    /// In units of 8 bytes below the CFA (`.saved` only).
    public var rbpSlot: UInt8

    public init(pc: UInt32, cfa: CFA, cfaOffset: UInt32 = 0, rbp: RBP = .unchanged, rbpSlot: UInt8 = 0) {
        precondition(cfaOffset <= Self.maxCFAOffset)
        self.pc = pc; self.cfa = cfa; self.cfaOffset = cfaOffset; self.rbp = rbp; self.rbpSlot = rbpSlot
    }

    /// Same rule (everything but `pc`): adjacent rows with the same rule merge.
    public func sameRule(as o: UnwindRow) -> Bool { rule == o.rule }

    /// The packed `rule` word.
    public var rule: UInt32 {
        UInt32(cfa.rawValue) | UInt32(rbp.rawValue) << 3 | UInt32(rbpSlot) << 5 | cfaOffset << 13
    }

    /// The 8 bytes BPF reads.
    public var encoded: [UInt8] {
        let r = rule
        return (0..<4).map { UInt8(truncatingIfNeeded: pc >> ($0 * 8)) } + (0..<4).map { UInt8(truncatingIfNeeded: r >> ($0 * 8)) }
    }

    public init?(encoded b: some Collection<UInt8>) {
        let a = Array(b)
        guard a.count == Self.size else { return nil }
        let word = { (i: Int) -> UInt32 in UInt32(a[i]) | UInt32(a[i + 1]) << 8 | UInt32(a[i + 2]) << 16 | UInt32(a[i + 3]) << 24 }
        let r = word(4)
        guard let cfa = CFA(rawValue: UInt8(r & 7)), let rbp = RBP(rawValue: UInt8(r >> 3 & 3)) else { return nil }
        self.init(pc: word(0), cfa: cfa, cfaOffset: r >> 13, rbp: rbp, rbpSlot: UInt8(r >> 5 & 0xff))
    }

    /// readelf-like: `0x1139 rsp+16 rbp=c-16`.
    public var description: String {
        let c: String
        switch cfa {
        case .rsp: c = "rsp+\(cfaOffset)"
        case .rbp: c = "rbp+\(cfaOffset)"
        case .plt: c = "plt(rsp+\(cfaOffset),11)"
        case .pltIBT: c = "plt(rsp+\(cfaOffset),9)"
        case .uncovered: c = "none"
        case .endOfStack: c = "end"
        case .unsupported: c = "unsupported"
        case .raElsewhere: c = "ra-elsewhere"
        }
        let r: String
        switch rbp {
        case .unchanged: r = "u"
        case .saved: r = "c-\(Int(rbpSlot) * 8)"
        case .undefined: r = "undef"
        case .unsupported: r = "?"
        }
        return "0x\(String(pc, radix: 16)) \(c) rbp=\(r)"
    }
}

extension UnwindRow {
    /// The compact form of a DWARF row.
    init(pc: UInt32, _ row: CFIRow) {
        self.init(pc: pc, cfa: .unsupported)
        // An undefined return address marks the outermost frame, whatever the CFA.
        if row.ra == .undefined { cfa = .endOfStack; return }
        let offsets = 0...Int64(Self.maxCFAOffset)
        switch row.cfa {
        case .register(DWARFRegister.rsp, let off) where offsets.contains(off):
            cfa = .rsp; cfaOffset = UInt32(off)
        case .register(DWARFRegister.rbp, let off) where offsets.contains(off):
            cfa = .rbp; cfaOffset = UInt32(off)
        case .plt(let off, let threshold) where offsets.contains(off):
            cfa = threshold == 11 ? .plt : .pltIBT; cfaOffset = UInt32(off)
        default:
            return
        }
        // A rule for rsp itself breaks "the caller's rsp is the CFA".
        guard row.rsp == .unspecified else { cfa = .unsupported; cfaOffset = 0; return }
        guard row.ra == .offset(-8) else { cfa = .raElsewhere; cfaOffset = 0; return }
        switch row.rbp {
        case .unspecified, .sameValue: rbp = .unchanged
        case .undefined: rbp = .undefined
        case .offset(let off) where off < 0 && off % 8 == 0 && -off / 8 <= 255:
            rbp = .saved; rbpSlot = UInt8(-off / 8)
        default: rbp = .unsupported
        }
    }
}
