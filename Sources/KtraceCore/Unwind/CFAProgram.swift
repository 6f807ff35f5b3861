/// x86-64 DWARF register numbers the unwinder cares about (System V psABI, figure 3.36).
enum DWARFRegister {
    static let rbp: UInt64 = 6
    static let rsp: UInt64 = 7
    static let rip: UInt64 = 16  // the return-address column
}

/// How the CFA (the caller's rsp) is computed at some pc.
public enum CFARule: Equatable, Sendable {
    /// `reg + offset` (reg is a DWARF register number: 7 rsp, 6 rbp).
    case register(UInt64, offset: Int64)
    /// The PLT expression binutils emits for `.plt` (threshold 11) and the IBT `.plt` (threshold 9):
    /// `rsp + rspOffset + ((rip & 15) >= threshold ? 8 : 0)`.
    case plt(rspOffset: Int64, threshold: UInt8)
    /// Any other DWARF expression (signal frames, hand-written assembly): not evaluated.
    case expression
    /// No CFA rule was given (a CIE or FDE that never defines one).
    case undefined
}

/// Where a register of the caller is found (DWARF 5 §6.4.1).
public enum RegisterRule: Equatable, Sendable {
    /// No rule given: callee-saved registers keep their value (what every unwinder assumes).
    case unspecified
    case undefined
    case sameValue
    /// Saved at CFA + offset.
    case offset(Int64)
    /// The value is CFA + offset.
    case valOffset(Int64)
    /// Held in another register.
    case register(UInt64)
    case expression
    case valExpression
}

/// One row of the CFI table as DWARF defines it, restricted to what x86-64 unwinding needs.
public struct CFIRow: Equatable, Sendable {
    /// First pc (ELF virtual address) the row applies to.
    public var pc: UInt64
    public var cfa: CFARule
    public var rbp: RegisterRule
    public var ra: RegisterRule
    /// A rule for rsp itself (normally none: the caller's rsp is the CFA).
    public var rsp: RegisterRule
}

/// Interprets a CIE's initial instructions and an FDE's CFA program into rows.
struct CFAProgram {
    struct State: Equatable {
        var cfa: CFARule = .undefined
        var rbp: RegisterRule = .unspecified
        var ra: RegisterRule = .unspecified
        var rsp: RegisterRule = .unspecified
    }

    enum Failure: Error, Equatable {
        case truncated
        case unknownOpcode(UInt8)
        case badLocation
        case stateStack
    }

    /// Deepest remember_state nesting accepted (GCC never nests more than a few).
    static let maxStateDepth = 64

    let cie: CIE
    let bytes: UnsafeRawBufferPointer
    let bases: PointerEncoding.Bases

    /// The state the CIE's initial instructions leave (the start of every FDE using it).
    func initialState() throws(Failure) -> State {
        var rows: [CFIRow] = []
        var state = State()
        try run(cie.instructions, initial: State(), state: &state, pc: 0, end: UInt64.max, rows: &rows)
        return state
    }

    /// The FDE's rows: the first at `fde.pcBegin`, each later one where the program advanced. A program
    /// that fails part way keeps the rows before the failure and throws; the caller decides what the
    /// rest of the range gets.
    func rows(for fde: FDE, initial: State, into rows: inout [CFIRow]) throws(Failure) {
        var state = initial
        try run(fde.instructions, initial: initial, state: &state, pc: fde.pcBegin, end: fde.pcEnd, rows: &rows)
    }

    private func run(_ range: Range<Int>, initial: State, state: inout State, pc start: UInt64, end: UInt64,
                     rows: inout [CFIRow]) throws(Failure) {
        var c = DWARFCursor(bytes, offset: range.lowerBound, end: range.upperBound)
        var loc = start
        var stack: [State] = []
        let daf = cie.dataAlignment
        let ra = cie.returnColumn

        func emit() { rows.append(CFIRow(pc: loc, cfa: state.cfa, rbp: state.rbp, ra: state.ra, rsp: state.rsp)) }
        func advance(to newLoc: UInt64) throws(Failure) {
            guard newLoc >= loc else { throw .badLocation }
            if newLoc > loc { emit() }
            loc = newLoc
        }
        func set(_ reg: UInt64, _ rule: RegisterRule) {
            switch reg {
            case DWARFRegister.rbp: state.rbp = rule
            case DWARFRegister.rsp: state.rsp = rule
            case ra: state.ra = rule
            default: break
            }
        }
        func restore(_ reg: UInt64) {
            switch reg {
            case DWARFRegister.rbp: state.rbp = initial.rbp
            case DWARFRegister.rsp: state.rsp = initial.rsp
            case ra: state.ra = initial.ra
            default: break
            }
        }
        func uleb() throws(Failure) -> UInt64 { guard let v = c.uleb() else { throw .truncated }; return v }
        func sleb() throws(Failure) -> Int64 { guard let v = c.sleb() else { throw .truncated }; return v }
        func scaled(_ v: Int64) -> Int64 { v.multipliedReportingOverflow(by: daf).partialValue }
        func delta(_ d: UInt64) throws(Failure) {
            let (step, o1) = d.multipliedReportingOverflow(by: cie.codeAlignment)
            let (to, o2) = loc.addingReportingOverflow(step)
            guard !o1, !o2 else { throw .badLocation }
            try advance(to: to)
        }
        func cfaOffset(_ off: Int64) {
            if case .register(let r, _) = state.cfa { state.cfa = .register(r, offset: off) }
            else if case .plt = state.cfa { state.cfa = .expression }
        }

        // Each instruction consumes at least one byte: bounded by the program's length.
        while !c.atEnd, loc < end {
            guard let op = c.u8() else { throw .truncated }
            switch op >> 6 {
            case 1: try delta(UInt64(op & 0x3f)); continue                                      // advance_loc
            case 2: set(UInt64(op & 0x3f), .offset(scaled(Int64(bitPattern: try uleb())))); continue  // offset
            case 3: restore(UInt64(op & 0x3f)); continue                                        // restore
            default: break
            }
            switch op {
            case 0x00: break                                                                   // nop
            case 0x01:                                                                         // set_loc
                guard let to = cie.fdeEncoding.read(&c, bases: bases) else { throw .truncated }
                try advance(to: to)
            case 0x02: guard let d = c.u8() else { throw .truncated }; try delta(UInt64(d))    // advance_loc1
            case 0x03: guard let d = c.u16() else { throw .truncated }; try delta(UInt64(d))   // advance_loc2
            case 0x04: guard let d = c.u32() else { throw .truncated }; try delta(UInt64(d))   // advance_loc4
            case 0x05: let r = try uleb(); set(r, .offset(scaled(Int64(bitPattern: try uleb()))))  // offset_extended
            case 0x06: restore(try uleb())                                                     // restore_extended
            case 0x07: set(try uleb(), .undefined)                                             // undefined
            case 0x08: set(try uleb(), .sameValue)                                             // same_value
            case 0x09: let r = try uleb(); set(r, .register(try uleb()))                       // register
            case 0x0a:                                                                         // remember_state
                guard stack.count < Self.maxStateDepth else { throw .stateStack }
                stack.append(state)
            case 0x0b:                                                                         // restore_state
                guard let s = stack.popLast() else { throw .stateStack }
                // The CFA rule is part of the state (DWARF 5); GCC relies on this.
                state = s
            case 0x0c: let r = try uleb(); state.cfa = .register(r, offset: Int64(bitPattern: try uleb()))  // def_cfa
            case 0x0d:                                                                         // def_cfa_register
                let r = try uleb()
                if case .register(_, let off) = state.cfa { state.cfa = .register(r, offset: off) }
                else { state.cfa = .register(r, offset: 0) }
            case 0x0e: cfaOffset(Int64(bitPattern: try uleb()))                                // def_cfa_offset
            case 0x0f:                                                                         // def_cfa_expression
                guard let block = c.block() else { throw .truncated }
                state.cfa = Self.recognise(block)
            case 0x10: let r = try uleb(); guard c.block() != nil else { throw .truncated }; set(r, .expression)
            case 0x11: let r = try uleb(); set(r, .offset(scaled(try sleb())))                 // offset_extended_sf
            case 0x12: let r = try uleb(); state.cfa = .register(r, offset: scaled(try sleb())) // def_cfa_sf
            case 0x13: cfaOffset(scaled(try sleb()))                                           // def_cfa_offset_sf
            case 0x14: let r = try uleb(); set(r, .valOffset(scaled(Int64(bitPattern: try uleb()))))
            case 0x15: let r = try uleb(); set(r, .valOffset(scaled(try sleb())))
            case 0x16: let r = try uleb(); guard c.block() != nil else { throw .truncated }; set(r, .valExpression)
            case 0x2e: _ = try uleb()                                                          // GNU_args_size
            case 0x2f: let r = try uleb(); set(r, .offset(-scaled(Int64(bitPattern: try uleb()))))  // GNU_negative_offset_extended
            default: throw .unknownOpcode(op)
            }
        }
        if loc < end { emit() }
    }

    /// The CFA expressions x86-64 `.plt` sections carry (binutils' `elf_x86_64_eh_frame_lazy_plt` and
    /// `elf_x86_64_eh_frame_lazy_ibt_plt`): `DW_OP_breg7 N; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and;
    /// DW_OP_litK; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus` with K 11 (16-byte entries: push at byte 6,
    /// jmp from byte 11) or 9 (IBT: endbr64, push, jmp from byte 9). Anything else is `.expression`.
    static func recognise(_ block: DWARFCursor) -> CFARule {
        var b = block
        guard b.u8() == 0x77, let n = b.sleb(), b.u8() == 0x80, b.sleb() == 0, b.u8() == 0x3f, b.u8() == 0x1a,
              let lit = b.u8(), lit == 0x39 || lit == 0x3b,
              b.u8() == 0x2a, b.u8() == 0x33, b.u8() == 0x24, b.u8() == 0x22, b.atEnd else { return .expression }
        return .plt(rspOffset: n, threshold: lit - 0x30)
    }
}
