/// CIEs and FDEs of one `.eh_frame` or `.debug_frame` section (DWARF 5 §6.4.1, LSB's `.eh_frame`).
///
/// Parsing never trusts the file: every length is checked against the section, a CIE or FDE that does not
/// parse is counted in `problems` and skipped (its length still delimits it), and a length that runs
/// past the section ends the walk.
public enum CFISection: String, Sendable {
    case ehFrame = ".eh_frame"
    case debugFrame = ".debug_frame"
}

/// A Common Information Entry: what the FDEs that point at it share.
struct CIE {
    /// Offset of the entry's length field in its section.
    var offset: Int
    var version: UInt8
    var augmentation: String
    var codeAlignment: UInt64
    var dataAlignment: Int64
    /// The DWARF column holding the return address (16, rip, on x86-64).
    var returnColumn: UInt64
    /// `R`: how FDEs encode their addresses (absptr without it).
    var fdeEncoding: PointerEncoding = .absptr
    /// `L`: how FDEs encode their LSDA pointer (omitted without it).
    var lsdaEncoding: PointerEncoding = .omit
    /// `z`: FDEs carry an augmentation-data length.
    var hasAugmentationData = false
    /// `S`: the FDEs describe signal trampolines (the caller's pc is not a return address).
    var isSignalFrame = false
    var addressSize: UInt8 = 8
    /// The CIE's initial instructions, as offsets into the section.
    var instructions: Range<Int>
}

/// A Frame Description Entry: one function's (or code range's) CFA program.
struct FDE {
    var offset: Int
    var cieOffset: Int
    /// The code range, in the ELF's virtual addresses: [pcBegin, pcEnd).
    var pcBegin: UInt64
    var pcEnd: UInt64
    /// The CFA program, as offsets into the section.
    var instructions: Range<Int>
}

/// The parsed entries of one section.
struct CallFrameEntries {
    var section: CFISection
    var cies: [Int: CIE] = [:]
    var fdes: [FDE] = []
    /// What could not be parsed, one line per entry (at most `maxProblems` kept; `problemCount` counts all).
    var problems: [String] = []
    var problemCount = 0
    static let maxProblems = 20

    mutating func problem(_ s: String) {
        problemCount += 1
        if problems.count < Self.maxProblems { problems.append(s) }
    }

    /// - Parameters:
    ///   - bytes: the section's contents (the cursor offsets are section offsets).
    ///   - address: the section's virtual address (`sh_addr`), the base of pcrel pointers.
    init(bytes: UnsafeRawBufferPointer, section: CFISection, address: UInt64,
         textAddress: UInt64? = nil, dataAddress: UInt64? = nil) {
        self.section = section
        let bases = PointerEncoding.Bases(section: address, text: textAddress, data: dataAddress)
        var c = DWARFCursor(bytes)
        var pendingFDEs: [(offset: Int, cieOffset: Int, body: DWARFCursor)] = []
        // Each entry consumes at least 4 bytes, so this loop is bounded by the section size.
        while c.remaining >= 4 {
            let entryOffset = c.offset
            guard var length = c.u32().map(UInt64.init) else { break }
            if length == 0 {
                if section == .ehFrame { break }  // .eh_frame's terminator
                continue
            }
            var is64 = false
            if length == 0xffff_ffff {
                guard let l = c.u64() else { problem("entry at \(entryOffset): truncated 64-bit length"); break }
                length = l
                is64 = true
            }
            guard length <= UInt64(c.remaining) else {
                problem("entry at \(entryOffset): length \(length) runs past the section")
                break
            }
            let bodyStart = c.offset
            let entryEnd = bodyStart + Int(length)
            var body = DWARFCursor(bytes, offset: bodyStart, end: entryEnd)
            c.offset = entryEnd

            let idOffset = body.offset
            guard let id = is64 ? body.u64() : body.u32().map(UInt64.init) else {
                problem("entry at \(entryOffset): truncated id"); continue
            }
            let isCIE: Bool
            switch section {
            case .ehFrame: isCIE = id == 0
            case .debugFrame: isCIE = is64 ? id == UInt64.max : id == 0xffff_ffff
            }
            if isCIE {
                if let cie = Self.parseCIE(&body, offset: entryOffset, section: section, bases: bases) {
                    cies[entryOffset] = cie
                } else {
                    problem("CIE at \(entryOffset): malformed or unsupported augmentation")
                }
            } else {
                // .eh_frame: the distance back from this field to the CIE; .debug_frame: a section offset.
                let cieOffset: Int
                switch section {
                case .ehFrame:
                    guard id <= UInt64(idOffset) else { problem("FDE at \(entryOffset): CIE pointer before the section"); continue }
                    cieOffset = idOffset - Int(id)
                case .debugFrame:
                    guard id < UInt64(bytes.count) else { problem("FDE at \(entryOffset): CIE pointer past the section"); continue }
                    cieOffset = Int(id)
                }
                pendingFDEs.append((entryOffset, cieOffset, body))
            }
        }
        // FDEs after CIEs: a .debug_frame CIE may follow the FDEs that use it.
        for (offset, cieOffset, body) in pendingFDEs {
            guard let cie = cies[cieOffset] else { problem("FDE at \(offset): no CIE at \(cieOffset)"); continue }
            var b = body
            guard let fde = Self.parseFDE(&b, offset: offset, cie: cie, bases: bases) else {
                problem("FDE at \(offset): malformed"); continue
            }
            fdes.append(fde)
        }
    }

    private static func parseCIE(_ b: inout DWARFCursor, offset: Int, section: CFISection,
                                 bases: PointerEncoding.Bases) -> CIE? {
        guard let version = b.u8(), [1, 3, 4].contains(version), let aug = b.cString() else { return nil }
        var addressSize: UInt8 = 8
        if version == 4 {
            guard let a = b.u8(), let seg = b.u8(), a == 8 || a == 4, seg == 0 else { return nil }
            addressSize = a
        }
        guard let caf = b.uleb(), let daf = b.sleb() else { return nil }
        let ra: UInt64?
        if version == 1 { ra = b.u8().map(UInt64.init) } else { ra = b.uleb() }
        guard let returnColumn = ra else { return nil }
        var cie = CIE(offset: offset, version: version, augmentation: aug, codeAlignment: caf,
                      dataAlignment: daf, returnColumn: returnColumn, addressSize: addressSize,
                      instructions: 0..<0)
        if aug.hasPrefix("z") {
            cie.hasAugmentationData = true
            guard var data = b.block() else { return nil }
            for ch in aug.utf8.dropFirst() {
                switch ch {
                case UInt8(ascii: "R"):
                    guard let e = data.u8() else { return nil }
                    cie.fdeEncoding = PointerEncoding(raw: e)
                case UInt8(ascii: "L"):
                    guard let e = data.u8() else { return nil }
                    cie.lsdaEncoding = PointerEncoding(raw: e)
                case UInt8(ascii: "P"):
                    // The personality routine: read (to move past it) and dropped.
                    guard let e = data.u8() else { return nil }
                    guard PointerEncoding(raw: e).read(&data, bases: bases) != nil else { return nil }
                case UInt8(ascii: "S"): cie.isSignalFrame = true
                case UInt8(ascii: "B"): break  // AArch64 BTI; harmless elsewhere
                default: return nil
                }
            }
        } else if !aug.isEmpty {
            return nil  // "eh" and other pre-`z` augmentations: their layout is unknown
        }
        cie.instructions = b.offset..<b.end
        return cie
    }

    private static func parseFDE(_ b: inout DWARFCursor, offset: Int, cie: CIE,
                                 bases: PointerEncoding.Bases) -> FDE? {
        let begin: UInt64, range: UInt64
        if cie.hasAugmentationData || cie.fdeEncoding != .absptr {
            guard let pc = cie.fdeEncoding.read(&b, bases: bases) else { return nil }
            // The range uses the same format, never relative to anything.
            let rangeEncoding = PointerEncoding(raw: cie.fdeEncoding.format)
            guard let r = rangeEncoding.read(&b, bases: bases) else { return nil }
            begin = pc; range = r
        } else if cie.addressSize == 4 {
            guard let pc = b.u32(), let r = b.u32() else { return nil }
            begin = UInt64(pc); range = UInt64(r)
        } else {
            guard let pc = b.u64(), let r = b.u64() else { return nil }
            begin = pc; range = r
        }
        if cie.hasAugmentationData {
            guard b.block() != nil else { return nil }  // the LSDA pointer lives here; not needed
        }
        let (end, overflow) = begin.addingReportingOverflow(range)
        guard !overflow else { return nil }
        return FDE(offset: offset, cieOffset: cie.offset, pcBegin: begin, pcEnd: end, instructions: b.offset..<b.end)
    }
}
