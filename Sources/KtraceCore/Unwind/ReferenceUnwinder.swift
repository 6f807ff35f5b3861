/// An executable mapping of a process and the table of the file it maps.
public struct UnwindMapping: Sendable {
    /// Runtime addresses [start, end) of the executable mapping.
    public var start, end: UInt64
    /// Runtime address minus ELF virtual address (0 for a non-PIE executable).
    public var bias: UInt64
    public var table: UnwindTable
    public init(start: UInt64, end: UInt64, bias: UInt64, table: UnwindTable) {
        self.start = start; self.end = end; self.bias = bias; self.table = table
    }
}

/// The user-space reference for the BPF unwinder: the same table, the same rules, the same stops.
/// A BPF implementation must produce the same frames from the same registers and memory.
public struct ReferenceUnwinder: Sendable {
    public enum Stop: Equatable, Sendable {
        /// A row said the return address is undefined (`_start`, a thread's start), or it read 0.
        case endOfStack
        /// The pc is in no mapping with a table (and frame pointers could not be used).
        case noMapping
        /// No FDE covers the pc (and frame pointers could not be used).
        case noRow
        /// The row's rule is not one the walk can follow, and frame pointers could not be used.
        case unsupported(UnwindRow.CFA)
        /// The CFA needs rbp, and rbp is not known here.
        case rbpUnknown
        /// Memory could not be read at this address.
        case readFailed(UInt64)
        /// The new stack pointer is not above the old one: a loop or garbage.
        case noProgress
        /// `maxFrames` reached: the stack is truncated.
        case maxDepth
    }

    public struct Result: Equatable, Sendable {
        /// The pc of each frame, innermost first (the first is the interrupted rip; later ones are
        /// return addresses as read from the stack).
        public var frames: [UInt64]
        public var stop: Stop
        /// How each frame after the first was found: true where frame pointers were used.
        public var viaFramePointer: [Bool]
    }

    public var mappings: [UnwindMapping]
    /// Where no table row applies (no mapping, or a gap between FDEs), follow the rbp chain
    /// (`[rbp]` the caller's rbp, `[rbp+8]` the return address), as perf does with frame pointers.
    public var framePointerFallback: Bool
    public var maxFrames: Int

    public init(mappings: [UnwindMapping], framePointerFallback: Bool = true, maxFrames: Int = 128) {
        self.mappings = mappings.sorted { $0.start < $1.start }
        self.framePointerFallback = framePointerFallback
        self.maxFrames = maxFrames
    }

    /// The row for a runtime pc, or nil when no mapping holds it.
    public func row(at pc: UInt64) -> UnwindRow?? {
        guard let m = mappings.last(where: { $0.start <= pc }), pc < m.end else { return nil }
        return .some(m.table.lookup(pc &- m.bias))
    }

    /// Walks from the interrupted registers. `read` returns the 8 bytes at an address (nil if unreadable).
    public func unwind(rip: UInt64, rsp: UInt64, rbp: UInt64?, read: (UInt64) -> UInt64?) -> Result {
        var frames: [UInt64] = [], viaFP: [Bool] = []
        var rip = rip, rsp = rsp, rbp = rbp
        func done(_ stop: Stop) -> Result { Result(frames: frames, stop: stop, viaFramePointer: viaFP) }

        while true {
            guard frames.count < maxFrames else { return done(.maxDepth) }
            frames.append(rip)
            // A return address points after the call: look up the call itself.
            let lookupPC = frames.count == 1 ? rip : rip &- 1
            let found = row(at: lookupPC)
            var cfa: UInt64 = 0
            var newRBP: UInt64?
            var usedFP = false
            // The row, if the walk can follow it: CFA from rsp, from a known rbp, or a PLT's.
            var table: UnwindRow?
            if let row = found ?? nil {
                switch row.cfa {
                case .rsp: cfa = rsp &+ UInt64(row.cfaOffset); table = row
                case .rbp:
                    if let bp = rbp { cfa = bp &+ UInt64(row.cfaOffset); table = row }
                case .plt, .pltIBT:
                    let threshold: UInt64 = row.cfa == .plt ? 11 : 9
                    cfa = rsp &+ UInt64(row.cfaOffset) &+ (rip & 15 >= threshold ? 8 : 0)
                    table = row
                case .endOfStack: return done(.endOfStack)
                case .uncovered, .unsupported, .raElsewhere: break
                }
            }
            if let row = table {
                switch row.rbp {
                case .unchanged: newRBP = rbp
                case .saved:
                    let at = cfa &- 8 &* UInt64(row.rbpSlot)
                    guard let v = read(at) else { return done(.readFailed(at)) }
                    newRBP = v
                case .undefined, .unsupported: newRBP = nil
                }
            } else {
                // No row, or one the walk cannot follow (an expression, the return address in a register
                // as in glibc's __vfork, rbp unknown): the frame pointer chain, as the BPF walker does.
                guard framePointerFallback else {
                    guard let row = found ?? nil, row.cfa != .uncovered else { return done(found == nil ? .noMapping : .noRow) }
                    return done(row.cfa == .rbp ? .rbpUnknown : .unsupported(row.cfa))
                }
                guard let bp = rbp else { return done(.rbpUnknown) }
                // rbp 0 ends the chain: the ABI has the outermost frame clear it (_start, a thread's start).
                guard bp != 0 else { return done(.endOfStack) }
                guard let v = read(bp) else { return done(.readFailed(bp)) }
                cfa = bp &+ 16
                newRBP = v
                usedFP = true
            }
            guard cfa > rsp else { return done(.noProgress) }
            guard let ra = read(cfa &- 8) else { return done(.readFailed(cfa &- 8)) }
            guard ra != 0 else { return done(.endOfStack) }
            viaFP.append(usedFP)
            rip = ra
            rsp = cfa
            rbp = newRBP
        }
    }
}
