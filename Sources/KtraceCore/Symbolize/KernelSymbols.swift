import FoundationEssentials
import Glibc

/// Kernel symbols from /proc/kallsyms: sorted once, then binary search per address.
///
/// kallsyms has no sizes, so a text symbol extends to the next listed address. To keep that guess
/// from swallowing non-code, every non-text entry (data, rodata, bss, absolute) and the end markers
/// `_etext`/`_einittext` act as barriers that end the symbol before them without naming anything.
/// Module (and bpf/ftrace trampoline) text is not followed by a marker, so the last symbol of a
/// module, or one followed by another module's symbol, extends at most `tailLimit` bytes.
public final class KernelSymbols: @unchecked Sendable {  // immutable after init
    /// Reach of a symbol with no same-module successor. Module text is allocated in whole pages, so
    /// beyond a page past its start an address is more likely other memory than a huge last function.
    static let tailLimit: UInt64 = 0x1000

    // One entry per named address, sorted: 11 bytes per symbol (CompactColumns.swift) plus its name's code
    // (SymbolNames.swift). A 121k-symbol kernel's table takes 2.6 MB, as ktrace's peak memory is a
    // benchmark target.
    private let starts: SortedAddresses
    private let sizes: NarrowColumn<UInt16>    // UInt32.max: unbounded
    private let nameOffsets: [UInt32]          // where each name's code starts in `names`
    private let nameLengths: NarrowColumn<UInt8>
    /// Names ("func" or "func [module]") as codes of their words (SymbolNames.swift).
    private let names: SymbolNames

    public var count: Int { starts.count }

    public convenience init(kallsyms: String) throws {
        try self.init(kallsymsBytes: Array(kallsyms.utf8), kptrRestrict: nil)
    }

    convenience init(kallsyms: String, kptrRestrict: String?) throws {
        try self.init(kallsymsBytes: Array(kallsyms.utf8), kptrRestrict: kptrRestrict)
    }

    /// `kptrRestrict` only feeds the error message; nil reads the live sysctl.
    convenience init(kallsymsBytes bytes: [UInt8], kptrRestrict: String?) throws {
        var parser = Parser()
        bytes.withUnsafeBufferPointer { parser.feed($0, final: true) }
        try self.init(consume parser, kptrRestrict: kptrRestrict)
    }

    /// Takes the parser's arrays for its table (`consuming`: a caller that hands its last use over, as
    /// `load` does, lets the table be built in them without a copy).
    init(_ parser: consuming Parser, kptrRestrict: String?) throws {
        guard !parser.address.isEmpty else { throw SymbolizeError("no symbols in kallsyms") }
        guard parser.anyNonZero else { throw SymbolizeError(KernelSymbols.hiddenMessage(kptrRestrict: kptrRestrict)) }
        (starts, sizes, nameOffsets, nameLengths) = parser.takeTable()
        parser.names.finish()
        names = parser.names
    }

    /// Accumulates kallsyms lines as they are read, keeping per line only an address, 4 bytes of rank,
    /// text flag and module, and the name of text symbols (not the 5 MB file).
    struct Parser {
        var address: [UInt64] = []
        var meta: [UInt32] = []       // module + 1 << 9 | isText << 8 | rank
        var nameOffset: [UInt32] = []
        var nameLength: [UInt16] = []
        var names = SymbolNames()
        var anyNonZero = false
        private var modules: [[UInt8]: Int] = [:]
        private var partial: [UInt8] = []  // a line split across reads

        /// Reserving generously costs address space only: untouched pages of large allocations are never
        /// resident, while growing by doubling would copy (and briefly double) each array.
        init(expectedLines: Int = 0) {
            address.reserveCapacity(expectedLines)
            meta.reserveCapacity(expectedLines)
            nameOffset.reserveCapacity(expectedLines)
            nameLength.reserveCapacity(expectedLines)
            names = SymbolNames(reservingCodeBytes: expectedLines * 16)
        }

        /// Parses the complete lines in `chunk`; the tail after the last newline waits for the next chunk
        /// unless `final`.
        mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, final: Bool) {
            var p = 0
            if !partial.isEmpty {
                guard let nl = chunk.firstIndex(of: 10) else {
                    partial.append(contentsOf: chunk)
                    if final { flushPartial() }
                    return
                }
                partial.append(contentsOf: chunk[0..<nl])
                flushPartial()
                p = nl + 1
            }
            while p < chunk.count {
                guard let nl = chunk[p...].firstIndex(of: 10) else {
                    partial.append(contentsOf: chunk[p...])
                    if final { flushPartial() }
                    return
                }
                line(UnsafeBufferPointer(rebasing: chunk[p..<nl]))
                p = nl + 1
            }
        }

        private mutating func flushPartial() {
            let l = partial
            partial = []
            l.withUnsafeBufferPointer { line($0) }
        }

        /// "ffffffff81e66b00 t net_rx_action" or "... t name\t[module]"
        private mutating func line(_ buf: UnsafeBufferPointer<UInt8>) {
            let e = buf.count
            var q = 0, addr: UInt64 = 0, digits = 0
            while q < e, let d = KernelSymbols.hexValue(buf[q]) { addr = addr << 4 | UInt64(d); q += 1; digits += 1 }
            guard digits > 0, digits <= 16, q + 2 < e, buf[q] == 32, buf[q + 2] == 32 else { return }
            let type = buf[q + 1]
            let nameStart = q + 3
            q = nameStart
            while q < e, buf[q] != 9, buf[q] != 32 { q += 1 }
            guard q > nameStart else { return }
            let name = UnsafeBufferPointer(rebasing: buf[nameStart..<q])
            var module: UnsafeBufferPointer<UInt8>?
            var m = q
            while m < e, buf[m] == 9 || buf[m] == 32 { m += 1 }
            if m < e, buf[m] == UInt8(ascii: "["), let close = buf[m..<e].firstIndex(of: UInt8(ascii: "]")) {
                module = UnsafeBufferPointer(rebasing: buf[(m + 1)..<close])
            }
            anyNonZero = anyNonZero || addr != 0
            let isMarker = KernelSymbols.equals(name, "_etext") || KernelSymbols.equals(name, "_einittext")
            let isText = (type | 0x20 == UInt8(ascii: "t") || type | 0x20 == UInt8(ascii: "w")) && !isMarker
            var moduleID = 0
            if let module {
                let key = Array(module)
                moduleID = modules[key] ?? { let id = modules.count + 1; modules[key] = id; return id }()
            }
            address.append(addr)
            meta.append(UInt32(moduleID) << 9 | (isText ? 1 << 8 : 0) | UInt32(KernelSymbols.rank(name: name, type: type)))
            let offset = isText ? names.append(name, module: module) : names.count  // only text symbols are ever named
            nameOffset.append(UInt32(truncatingIfNeeded: offset))
            nameLength.append(UInt16(truncatingIfNeeded: min(names.count - offset, Int(UInt16.max))))
        }

        /// Sorted starts, sizes and names of the named addresses, built in the parser's own arrays: each is
        /// put in address order in place, then compacted, and `meta` becomes the sizes. Gathering into new
        /// arrays instead held both copies at once, 2.9 MB on a 121k-symbol kernel, and that moment was
        /// `stacks`' peak once the kernel's BTF was parsed with one copy (peak memory is a benchmark target).
        mutating func takeTable() -> (SortedAddresses, NarrowColumn<UInt16>, [UInt32], NarrowColumn<UInt8>) {
            // Modules come after vmlinux in kallsyms and are not globally ordered: sort by address, then
            // rank; input order breaks ties, so equal-rank names resolve the same way every run.
            var order = [Int32](0..<Int32(address.count))
            order.sort { a, b in
                let x = address[Int(a)], y = address[Int(b)]
                if x != y { return x < y }
                let r = meta[Int(a)] & 0xff, t = meta[Int(b)] & 0xff
                return r != t ? r < t : a < b
            }
            Self.gather(&address, by: &order)
            Self.gather(&meta, by: &order)
            Self.gather(&nameOffset, by: &order)
            Self.gather(&nameLength, by: &order)
            order = []
            // Entry w is written only after the groups at or before it were read (w <= i < j).
            let n = address.count
            var i = 0, w = 0
            while i < n {
                let addr = address[i]
                var j = i
                while j < n, address[j] == addr { j += 1 }
                // [i, j) share the address, best first; the first text one names it.
                if let best = (i..<j).first(where: { meta[$0] & 0x100 != 0 }) {
                    var end = addr &+ KernelSymbols.tailLimit
                    if j < n {
                        end = meta[j] >> 9 == meta[best] >> 9 ? address[j] : min(address[j], end)
                    }
                    let size = end < addr ? UInt32.max : UInt32(min(end - addr, UInt64(UInt32.max)))
                    (address[w], meta[w], nameOffset[w], nameLength[w]) = (addr, size, nameOffset[best], nameLength[best])
                    w += 1
                }
                i = j
            }
            // Into the narrow columns one at a time, each wide array let go once copied.
            let starts = SortedAddresses(address[..<w])
            address = []
            let sizes = NarrowColumn<UInt16>(meta[..<w])
            meta = []
            let lengths = NarrowColumn<UInt8>(nameLength[..<w])
            nameLength = []
            return (starts, sizes, Self.prefix(&nameOffset, w), lengths)
        }

        /// a[i] = a[order[i]] for every i, in place, following the permutation's cycles; a visited entry
        /// of `order` is marked by its complement while it runs, and restored after.
        static func gather<T>(_ a: inout [T], by order: inout [Int32]) {
            for start in order.indices where order[start] >= 0 {
                let first = a[start]
                var i = start
                while true {
                    let from = Int(order[i])
                    order[i] = ~order[i]
                    if from == start { a[i] = first; break }
                    a[i] = a[from]
                    i = from
                }
            }
            for i in order.indices { order[i] = ~order[i] }
        }

        /// The first `count` elements. Copied into an array of their own only when much of the array is
        /// left over (kernels that list data symbols, which are never named): the copy costs a moment
        /// with both, the leftover pages stay resident.
        private static func prefix<T>(_ a: inout [T], _ count: Int) -> [T] {
            if count < a.count - a.count / 8 { return Array(a[..<count]) }
            a.removeSubrange(count...)
            return a
        }
    }

    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
        bytes.count == s.utf8CodeUnitCount && memcmp(bytes.baseAddress!, s.utf8Start, bytes.count) == 0
    }

    /// Among names at one address: real functions before section markers (`_stext` shares its
    /// address with the first function), then global, weak, local; then fewer leading underscores.
    private static func rank(name: UnsafeBufferPointer<UInt8>, type: UInt8) -> Int {
        var underscores = 0
        while underscores < name.count, name[underscores] == UInt8(ascii: "_") { underscores += 1 }
        var marker = false
        if underscores > 0 {
            let prefix = { (p: StaticString) in
                name.count >= p.utf8CodeUnitCount && memcmp(name.baseAddress!, p.utf8Start, p.utf8CodeUnitCount) == 0
            }
            marker = equals(name, "_text") || equals(name, "_stext") || equals(name, "_sinittext")
                || prefix("__start_") || prefix("__stop_")
        }
        let binding = type | 0x20 == UInt8(ascii: "w") ? 1 : (type < UInt8(ascii: "a") ? 0 : 2)
        return (marker ? 100 : 0) + binding * 10 + min(underscores, 9)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }

    static func hiddenMessage(kptrRestrict: String?) -> String {
        let value = kptrRestrict ?? (try? String(contentsOfFile: "/proc/sys/kernel/kptr_restrict", encoding: .utf8))
        let n = value?.trimmed ?? "?"
        var msg = "kernel addresses are hidden (/proc/sys/kernel/kptr_restrict=\(n)): run as root or set kernel.kptr_restrict=0"
        if n == "0" {
            // Seen in practice: kptr_restrict=0 still hides addresses from users without CAP_SYSLOG
            // unless perf_event_paranoid <= 1.
            msg += " (already 0: without root, kernel.perf_event_paranoid must also be <= 1)"
        }
        return msg
    }

    /// Reads kallsyms in 64 KiB pieces straight into the parser: the file itself is never held whole.
    public static func load(path: String = "/proc/kallsyms") throws -> KernelSymbols {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SymbolizeError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var parser = Parser(expectedLines: 1 << 18)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SymbolizeError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            chunk.withUnsafeBufferPointer { parser.feed(UnsafeBufferPointer(rebasing: $0[0..<n]), final: n == 0) }
            if n == 0 { break }
        }
        return try KernelSymbols(consume parser, kptrRestrict: nil)
    }

    /// The address of a vmlinux symbol by name (a linear scan: for the odd lookup, not per event).
    public func address(of name: String) -> UInt64? {
        guard let want = names.code(of: Array(name.utf8)) else { return nil }
        for i in 0..<nameLengths.count where nameLengths[i] == want.count {
            let offset = Int(nameOffsets[i])
            if names.codes[offset..<offset + want.count].elementsEqual(want) { return starts[i] }
        }
        return nil
    }

    /// "func" for vmlinux, "func [module]" for module symbols.
    public func name(for address: UInt64) -> String? {
        guard let i = starts.lastIndex(atOrBelow: address) else { return nil }
        let size = sizes[i]
        guard size == UInt32.max || address - starts[i] < size else { return nil }
        let offset = Int(nameOffsets[i])
        return names.name(offset: offset, length: Int(nameLengths[i]))
    }
}
