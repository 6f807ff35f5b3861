/// `.eh_frame_hdr` (PT_GNU_EH_FRAME): the linker's sorted index of `.eh_frame`'s FDEs, as
/// (initial location, FDE address) pairs. ktrace reads every FDE anyway; the index serves as a
/// cross-check of the FDE walk, and to find `.eh_frame` in an image without section headers.
struct EHFrameHeader {
    /// Address of `.eh_frame`.
    var ehFrame: UInt64
    /// (pc, FDE address), sorted by pc as the linker wrote them.
    var entries: [(pc: UInt64, fde: UInt64)]

    /// - Parameters:
    ///   - bytes: the section's contents; `address`: its virtual address (the base of pcrel and datarel).
    init?(bytes: UnsafeRawBufferPointer, address: UInt64) {
        var c = DWARFCursor(bytes)
        guard c.u8() == 1, let ptrEnc = c.u8(), let countEnc = c.u8(), let tableEnc = c.u8() else { return nil }
        let bases = PointerEncoding.Bases(section: address, text: nil, data: address)
        guard let eh = PointerEncoding(raw: ptrEnc).read(&c, bases: bases) else { return nil }
        ehFrame = eh
        entries = []
        let count = PointerEncoding(raw: countEnc)
        guard !count.isOmitted, !PointerEncoding(raw: tableEnc).isOmitted,
              let n = count.read(&c, bases: bases) else { return }
        // Each entry takes at least 2 bytes: never reserve more than the section could hold.
        entries.reserveCapacity(Int(min(n, UInt64(c.remaining / 2))))
        for _ in 0..<n {
            guard let pc = PointerEncoding(raw: tableEnc).read(&c, bases: bases),
                  let fde = PointerEncoding(raw: tableEnc).read(&c, bases: bases) else { return nil }
            entries.append((pc, fde))
        }
    }
}
