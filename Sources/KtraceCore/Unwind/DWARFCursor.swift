/// A bounds-checked forward reader over one section's bytes, for CFI parsing.
///
/// Every read returns nil past `end` instead of trapping: `.eh_frame` comes from any file on the machine,
/// including files an unprivileged user crafted. LEB128 values longer than 10 bytes are refused.
struct DWARFCursor {
    let bytes: UnsafeRawBufferPointer
    /// Current offset into `bytes`.
    var offset: Int
    /// One past the last byte this cursor may read (an entry's end, or the section's).
    var end: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { max(0, end - offset) }
    var atEnd: Bool { offset >= end }

    mutating func skip(_ n: Int) -> Bool {
        guard n >= 0, n <= remaining else { return false }
        offset += n
        return true
    }

    mutating func u8() -> UInt8? {
        guard offset < end else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func u16() -> UInt16? { fixed(UInt16.self) }
    mutating func u32() -> UInt32? { fixed(UInt32.self) }
    mutating func u64() -> UInt64? { fixed(UInt64.self) }

    private mutating func fixed<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type) -> T? {
        let n = MemoryLayout<T>.size
        guard n <= remaining else { return nil }
        defer { offset += n }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func uleb() -> UInt64? {
        var result: UInt64 = 0, shift: UInt64 = 0
        for _ in 0..<10 {
            guard let b = u8() else { return nil }
            if shift < 64 { result |= UInt64(b & 0x7f) << shift }
            shift += 7
            if b & 0x80 == 0 { return result }
        }
        return nil
    }

    mutating func sleb() -> Int64? {
        var result: Int64 = 0, shift: Int64 = 0
        for _ in 0..<10 {
            guard let b = u8() else { return nil }
            if shift < 64 { result |= Int64(b & 0x7f) << shift }
            shift += 7
            if b & 0x80 == 0 {
                if shift < 64, b & 0x40 != 0 { result |= Int64(-1) << shift }
                return result
            }
        }
        return nil
    }

    /// A NUL-terminated string (the CIE augmentation), at most `limit` bytes.
    mutating func cString(limit: Int = 64) -> String? {
        var chars: [UInt8] = []
        while let b = u8() {
            if b == 0 { return String(decoding: chars, as: UTF8.self) }
            chars.append(b)
            if chars.count > limit { return nil }
        }
        return nil
    }

    /// The bytes of a DWARF block (a ULEB length then that many bytes), as a sub-cursor.
    mutating func block() -> DWARFCursor? {
        guard let n = uleb(), n <= UInt64(remaining) else { return nil }
        let sub = DWARFCursor(bytes, offset: offset, end: offset + Int(n))
        offset += Int(n)
        return sub
    }
}

/// `DW_EH_PE_*`: how `.eh_frame` (and `.eh_frame_hdr`) encode a pointer. Low nibble: the format;
/// bits 4-6: what it is relative to; bit 7: indirect (the value is where the pointer is stored).
struct PointerEncoding: Equatable {
    var raw: UInt8

    static let absptr = PointerEncoding(raw: 0x00)
    static let omit = PointerEncoding(raw: 0xff)

    var isOmitted: Bool { raw == 0xff }
    var format: UInt8 { raw & 0x0f }
    var application: UInt8 { raw & 0x70 }
    var isIndirect: Bool { raw & 0x80 != 0 }

    /// Bases that relative encodings add: the section's own address (pcrel), `.text` (textrel) and
    /// the data base (datarel: `.eh_frame_hdr`'s own address there, `.got` in `.eh_frame`).
    struct Bases {
        /// Virtual address of the section's first byte (a pcrel value adds this plus its offset).
        var section: UInt64
        var text: UInt64?
        var data: UInt64?
    }

    /// Reads one encoded pointer; nil when truncated or when the encoding is one this parser refuses
    /// (funcrel, unknown formats). An indirect pointer yields the address where it is stored: only
    /// personality routines are indirect, and the unwinder never follows them.
    func read(_ c: inout DWARFCursor, bases: Bases) -> UInt64? {
        guard !isOmitted else { return nil }
        let at = UInt64(c.offset)
        var value: UInt64
        switch format {
        case 0x00: guard let v = c.u64() else { return nil }; value = v                    // absptr (8 on x86-64)
        case 0x01: guard let v = c.uleb() else { return nil }; value = v                   // uleb128
        case 0x02: guard let v = c.u16() else { return nil }; value = UInt64(v)            // udata2
        case 0x03: guard let v = c.u32() else { return nil }; value = UInt64(v)            // udata4
        case 0x04: guard let v = c.u64() else { return nil }; value = v                    // udata8
        case 0x09: guard let v = c.sleb() else { return nil }; value = UInt64(bitPattern: v)
        case 0x0a: guard let v = c.u16() else { return nil }; value = UInt64(bitPattern: Int64(Int16(bitPattern: v)))
        case 0x0b: guard let v = c.u32() else { return nil }; value = UInt64(bitPattern: Int64(Int32(bitPattern: v)))
        case 0x0c: guard let v = c.u64() else { return nil }; value = v                    // sdata8
        default: return nil
        }
        switch application {
        case 0x00: break                                                  // absolute
        case 0x10: value = value &+ bases.section &+ at                   // pcrel
        case 0x20: guard let t = bases.text else { return nil }; value = value &+ t   // textrel
        case 0x30: guard let d = bases.data else { return nil }; value = value &+ d   // datarel
        default: return nil                                               // funcrel, aligned
        }
        return value
    }
}
