import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Failure to read or parse something the symbolizer needs; `message` is meant for the user.
public struct SymbolizeError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A code symbol from `.symtab` or `.dynsym`.
public struct ELFSymbol: Sendable, Equatable {
    public var name: String
    public var value: UInt64
    public var size: UInt64
    /// STB_LOCAL 0, STB_GLOBAL 1, STB_WEAK 2, STB_GNU_UNIQUE 10.
    public var binding: UInt8
    public init(name: String, value: UInt64, size: UInt64, binding: UInt8) {
        self.name = name; self.value = value; self.size = size; self.binding = binding
    }
}

/// A PT_LOAD program header: how file offsets map to virtual addresses.
public struct ELFSegment: Sendable, Equatable {
    public var offset, vaddr, filesz, memsz: UInt64
    public var flags: UInt32
    public var isExecutable: Bool { flags & 1 != 0 }  // PF_X
}

public struct ELFSection: Sendable, Equatable {
    public var name: String
    public var type: UInt32
    public var flags: UInt64
    public var addr, offset, size: UInt64
    public var link, info: UInt32
    public var entsize: UInt64
}

/// What symbolization needs from an ELF64 little-endian file, parsed once from its bytes.
/// The bytes are not retained: a mapped 100 MB binary costs only its symbol table afterwards.
public struct ELFFile: Sendable {
    public static let ET_EXEC: UInt16 = 2, ET_DYN: UInt16 = 3

    public let type: UInt16
    public let machine: UInt16
    public let sections: [ELFSection]
    public let loadSegments: [ELFSegment]
    /// NT_GNU_BUILD_ID payload, lowercase hex (the name used under /usr/lib/debug/.build-id/).
    public let buildID: String?
    /// `.gnu_debuglink`: file name of the separate debug file and the CRC-32 of its contents.
    public let debugLink: (name: String, crc: UInt32)?
    /// Function symbols of `.symtab` / `.dynsym` (empty when the section is absent).
    public let symtab: [ELFSymbol]
    public let dynsym: [ELFSymbol]
    /// The PLT's entries, named as perf names them ("clock_gettime@plt"): calls into shared libraries
    /// pass through them, so a sample can land there (burn, calling clock_gettime in its loop, under TCG).
    public let pltSymbols: [ELFSymbol]
    /// A `.symtab` section exists (a stripped binary has none; its debug file does).
    public let hasSymtab: Bool

    public init(path: String) throws {
        self = try withMappedFile(path) { try ELFFile(bytes: $0) }
    }

    public init(data: Data) throws {
        self = try data.withUnsafeBytes { try ELFFile(bytes: $0) }
    }

    /// `symbols: false` leaves `symtab`, `dynsym` and `pltSymbols` empty: the unwinder needs headers and
    /// sections only, and reading a large binary's symbols was most of the time `--unwind auto` took to
    /// decide on ktrace's own (Swift, 100 MB) binary.
    public init(bytes: UnsafeRawBufferPointer, symbols: Bool = true) throws {
        let r = ByteReader(base: bytes)
        guard bytes.count >= 64, r.u32(0) == 0x464c_457f else { throw SymbolizeError("not an ELF file") }
        guard r.u8(4) == 2, r.u8(5) == 1 else { throw SymbolizeError("only ELF64 little-endian is supported") }
        type = r.u16(16) ?? 0
        machine = r.u16(18) ?? 0
        let phoff = r.u64(32) ?? 0, shoff = r.u64(40) ?? 0
        let phentsize = UInt64(r.u16(54) ?? 0), phnum = UInt64(r.u16(56) ?? 0)
        let shentsize = UInt64(r.u16(58) ?? 0)
        var shnum = UInt64(r.u16(60) ?? 0), shstrndx = UInt64(r.u16(62) ?? 0)

        // Program headers: PT_LOAD for address translation, PT_NOTE for a build-id without sections.
        var segments: [ELFSegment] = []
        var noteRanges: [(UInt64, UInt64)] = []
        if phentsize >= 56 {
            for i in 0..<phnum {
                let o = phoff &+ i &* phentsize
                guard r.has(o, 56), let pt = r.u32(o) else { break }
                let off = r.u64(o + 8)!, filesz = r.u64(o + 32)!
                if pt == 1 {
                    segments.append(ELFSegment(offset: off, vaddr: r.u64(o + 16)!, filesz: filesz,
                                               memsz: r.u64(o + 40)!, flags: r.u32(o + 4)!))
                } else if pt == 4 {
                    noteRanges.append((off, filesz))
                }
            }
        }
        loadSegments = segments

        // Section headers. e_shnum == 0 / e_shstrndx == SHN_XINDEX mean "look in section 0".
        var raw: [(nameOff: UInt32, s: ELFSection)] = []
        if shoff != 0, shentsize >= 64, r.has(shoff, 64) {
            if shnum == 0 { shnum = r.u64(shoff + 32)! }
            if shstrndx == 0xffff { shstrndx = UInt64(r.u32(shoff + 40)!) }
            for i in 0..<min(shnum, 1 << 20) {
                let o = shoff &+ i &* shentsize
                guard r.has(o, 64) else { break }
                raw.append((r.u32(o)!, ELFSection(
                    name: "", type: r.u32(o + 4)!, flags: r.u64(o + 8)!, addr: r.u64(o + 16)!,
                    offset: r.u64(o + 24)!, size: r.u64(o + 32)!, link: r.u32(o + 40)!,
                    info: r.u32(o + 44)!, entsize: r.u64(o + 56)!)))
            }
        }
        if shstrndx < UInt64(raw.count) {
            let strtab = raw[Int(shstrndx)].s
            for i in raw.indices {
                raw[i].s.name = r.cString(at: strtab.offset &+ UInt64(raw[i].nameOff),
                                          end: strtab.offset &+ strtab.size) ?? ""
            }
        }
        let sections = raw.map(\.s)
        self.sections = sections

        // Build-id: from note sections if present, else from PT_NOTE segments (e.g. images read from memory).
        let SHT_NOTE: UInt32 = 7, SHT_NOBITS: UInt32 = 8
        var ranges = sections.filter { $0.type == SHT_NOTE }.map { ($0.offset, $0.size) }
        if ranges.isEmpty { ranges = noteRanges }
        buildID = ranges.lazy.compactMap { r.gnuBuildID(notesAt: $0.0, size: $0.1) }.first

        if let s = sections.first(where: { $0.name == ".gnu_debuglink" && $0.type != SHT_NOBITS }),
           let name = r.cString(at: s.offset, end: s.offset &+ s.size), !name.isEmpty {
            let crcOff = s.offset + (UInt64(name.utf8.count) + 1 + 3) & ~3
            debugLink = r.has(crcOff, 4) && crcOff + 4 <= s.offset &+ s.size ? (name, r.u32(crcOff)!) : nil
        } else {
            debugLink = nil
        }

        let SHT_SYMTAB: UInt32 = 2, SHT_DYNSYM: UInt32 = 11
        hasSymtab = sections.contains { $0.type == SHT_SYMTAB }
        guard symbols else { symtab = []; dynsym = []; pltSymbols = []; return }
        symtab = sections.first { $0.type == SHT_SYMTAB }.map { r.functionSymbols($0, sections) } ?? []
        dynsym = sections.first { $0.type == SHT_DYNSYM }.map { r.functionSymbols($0, sections) } ?? []
        pltSymbols = r.pltSymbols(sections)
    }

    /// The virtual address (as used by st_value) of a file offset, through the PT_LOAD that contains it.
    /// This is perf's translation: it treats PIE, shared objects and fixed-address executables alike.
    public func virtualAddress(forFileOffset off: UInt64) -> UInt64? {
        ELFFile.virtualAddress(forFileOffset: off, in: loadSegments)
    }

    static func virtualAddress(forFileOffset off: UInt64, in loadSegments: [ELFSegment]) -> UInt64? {
        // Executable segments first: code is what stacks point at.
        for pass in [true, false] {
            for s in loadSegments where s.isExecutable == pass && off >= s.offset && off - s.offset < s.filesz {
                return s.vaddr &+ (off - s.offset)
            }
        }
        return nil
    }
}

/// Bounds-checked little-endian reads: malformed or truncated files yield nil, never a trap.
struct ByteReader {
    let base: UnsafeRawBufferPointer

    func has(_ off: UInt64, _ n: UInt64) -> Bool {
        off <= UInt64(base.count) && n <= UInt64(base.count) - off
    }
    func u8(_ o: UInt64) -> UInt8? { has(o, 1) ? base[Int(o)] : nil }
    func u16(_ o: UInt64) -> UInt16? {
        has(o, 2) ? UInt16(littleEndian: base.loadUnaligned(fromByteOffset: Int(o), as: UInt16.self)) : nil
    }
    func u32(_ o: UInt64) -> UInt32? {
        has(o, 4) ? UInt32(littleEndian: base.loadUnaligned(fromByteOffset: Int(o), as: UInt32.self)) : nil
    }
    func u64(_ o: UInt64) -> UInt64? {
        has(o, 8) ? UInt64(littleEndian: base.loadUnaligned(fromByteOffset: Int(o), as: UInt64.self)) : nil
    }

    /// NUL-terminated string starting at `at`, not reading at or past `end` (nor past the buffer).
    func cString(at: UInt64, end: UInt64) -> String? { cString(at: at, end: end, cutAt: nil) }

    /// The NUL-terminated string at `at`, ending before `end`; with `cutAt`, only what comes before the
    /// first such byte, unless that is the string's first.
    func cString(at: UInt64, end: UInt64, cutAt: UInt8?) -> String? {
        let limit = min(end, UInt64(base.count))
        guard at < limit, let start = base.baseAddress?.advanced(by: Int(at)) else { return nil }
        guard let nul = memchr(start, 0, Int(limit - at)) else { return nil }
        var n = start.distance(to: UnsafeRawPointer(nul))
        if let cutAt, n > 1, start.load(as: UInt8.self) != cutAt, let cut = memchr(start, Int32(cutAt), n) {
            n = start.distance(to: UnsafeRawPointer(cut))
        }
        return String(decoding: UnsafeRawBufferPointer(start: start, count: n), as: UTF8.self)
    }

    func gnuBuildID(notesAt start: UInt64, size: UInt64) -> String? {
        var o = start
        let end = start &+ size
        while o &+ 12 <= end, let namesz = u32(o), let descsz = u32(o + 4), let type = u32(o + 8) {
            let nameOff = o + 12
            let descOff = nameOff + (UInt64(namesz) + 3) & ~3
            let next = descOff + (UInt64(descsz) + 3) & ~3
            guard next <= end, has(descOff, UInt64(descsz)) else { return nil }
            // NT_GNU_BUILD_ID = 3, owner "GNU\0".
            if type == 3, namesz == 4, u32(nameOff) == 0x0055_4e47, descsz > 0 {
                let bytes = UnsafeRawBufferPointer(rebasing: base[Int(descOff)..<Int(descOff) + Int(descsz)])
                return hexString(bytes)
            }
            o = next
        }
        return nil
    }

    /// A symbol per PLT entry, "NAME@plt". x86-64: the i-th relocation of .rela.plt has the i-th 16-byte
    /// entry of .plt.sec (IBT PLTs), or without it of .plt after its 16-byte header; JUMP_SLOT relocations
    /// name theirs from .dynsym (others, IRELATIVE, keep their slot unnamed). Bounded by the sections' sizes.
    func pltSymbols(_ sections: [ELFSection]) -> [ELFSymbol] {
        let SHT_RELA: UInt32 = 4, R_X86_64_JUMP_SLOT: UInt64 = 7, entry: UInt64 = 16
        guard let rela = sections.first(where: { $0.name == ".rela.plt" && $0.type == SHT_RELA }),
              rela.link < sections.count else { return [] }
        let dynsym = sections[Int(rela.link)]
        guard dynsym.link < sections.count else { return [] }
        let strtab = sections[Int(dynsym.link)]
        let plt: ELFSection, header: UInt64
        if let sec = sections.first(where: { $0.name == ".plt.sec" }) {
            (plt, header) = (sec, 0)
        } else if let lazy = sections.first(where: { $0.name == ".plt" }) {
            (plt, header) = (lazy, entry)
        } else {
            return []
        }
        let relEnt = rela.entsize >= 24 ? rela.entsize : 24, symEnt = dynsym.entsize >= 24 ? dynsym.entsize : 24
        let entries = plt.size > header ? (plt.size - header) / entry : 0
        var out: [ELFSymbol] = []
        for i in 0..<min(rela.size / relEnt, entries, 1 << 20) {
            let o = rela.offset &+ i &* relEnt
            guard has(o, 24), let info = u64(o + 8) else { break }
            guard info & 0xffff_ffff == R_X86_64_JUMP_SLOT else { continue }
            let so = dynsym.offset &+ (info >> 32) &* symEnt
            guard has(so, 24), var name = cString(at: strtab.offset &+ UInt64(u32(so)!), end: strtab.offset &+ strtab.size),
                  !name.isEmpty else { continue }
            if let at = name.utf8.firstIndex(of: UInt8(ascii: "@")), at != name.utf8.startIndex { name = String(name[..<at]) }
            out.append(ELFSymbol(name: name + "@plt", value: plt.addr &+ header &+ i &* entry, size: entry, binding: 1))
        }
        return out
    }

    /// STT_FUNC and STT_GNU_IFUNC symbols, plus STT_NOTYPE with a size in an executable section
    /// (assembly routines without `.type`). Undefined, absolute and common symbols are skipped.
    func functionSymbols(_ sec: ELFSection, _ sections: [ELFSection]) -> [ELFSymbol] {
        guard sec.type != 8, sec.link < sections.count else { return [] }  // SHT_NOBITS: nothing in file
        let strtab = sections[Int(sec.link)]
        let entsize = sec.entsize >= 24 ? sec.entsize : 24
        let n = sec.size / entsize
        var out: [ELFSymbol] = []
        out.reserveCapacity(Int(min(n, 1 << 20)))
        for i in 0..<n {
            let o = sec.offset &+ i &* entsize
            guard has(o, 24) else { break }
            let info = base[Int(o) + 4], shndx = u16(o + 6)!
            let type = info & 0xf, binding = info >> 4
            guard shndx != 0, shndx < 0xff00 || shndx == 0xffff else { continue }
            switch type {
            case 2, 10: break  // STT_FUNC, STT_GNU_IFUNC
            case 0:            // STT_NOTYPE
                guard u64(o + 16)! > 0, Int(shndx) < sections.count,
                      sections[Int(shndx)].flags & 0x4 != 0 else { continue }  // SHF_EXECINSTR
            default: continue
            }
            // .symtab spells symbol versions into the name ("clock_nanosleep@@GLIBC_2.17"); .dynsym keeps
            // them in .gnu.version. Drop them so a function has one name whichever table we read. On the
            // bytes, before a String is made: symbols were most of the time spent naming a large binary.
            guard let name = cString(at: strtab.offset &+ UInt64(u32(o)!), end: strtab.offset &+ strtab.size,
                                     cutAt: UInt8(ascii: "@")), !name.isEmpty else { continue }
            out.append(ELFSymbol(name: name, value: u64(o + 8)!, size: u64(o + 16)!, binding: binding))
        }
        return out
    }
}

/// CRC-32 (IEEE, as zlib and `.gnu_debuglink` use it).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        }
        return c ^ 0xffff_ffff
    }
}

/// The whole file mapped read-only for the duration of `body`. Mapped, not read: a debug file can be
/// hundreds of MB and only the headers, symbol and string tables get touched. (Package upgrades
/// replace files by rename, so a mapped inode is not truncated under us.)
func withMappedFile<T>(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SymbolizeError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw SymbolizeError("cannot stat \(path): \(String(cString: strerror(errno)))") }
    guard st.st_mode & S_IFMT == S_IFREG else { throw SymbolizeError("\(path) is not a regular file") }
    let size = Int(st.st_size)
    guard size > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
        throw SymbolizeError("cannot map \(path): \(String(cString: strerror(errno)))")
    }
    defer { munmap(p, size) }
    return try body(UnsafeRawBufferPointer(start: p, count: size))
}
