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

    // One entry per named address, sorted. ~20 bytes per symbol plus its name: the table for a 120k-symbol
    // kernel stays near 5 MB, as ktrace's peak memory is a benchmark target.
    private let starts: [UInt64]
    private let sizes: [UInt32]       // UInt32.max: unbounded
    private let nameRefs: [UInt64]    // offset << 16 | length into nameBytes
    /// Names ("func" or "func [module]") packed in one buffer: no per-symbol allocation at startup.
    private let nameBytes: [UInt8]

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
        try self.init(parser, kptrRestrict: kptrRestrict)
    }

    init(_ parser: Parser, kptrRestrict: String?) throws {
        guard !parser.address.isEmpty else { throw SymbolizeError("no symbols in kallsyms") }
        guard parser.anyNonZero else { throw SymbolizeError(KernelSymbols.hiddenMessage(kptrRestrict: kptrRestrict)) }
        (starts, sizes, nameRefs) = parser.table()
        nameBytes = parser.nameBytes
    }

    /// Accumulates kallsyms lines as they are read, keeping per line only an address, 4 bytes of rank,
    /// text flag and module, and the name of text symbols (not the 5 MB file).
    struct Parser {
        var address: [UInt64] = []
        var meta: [UInt32] = []       // module + 1 << 9 | isText << 8 | rank
        var nameOffset: [UInt32] = []
        var nameLength: [UInt16] = []
        var nameBytes: [UInt8] = []
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
            nameBytes.reserveCapacity(expectedLines * 32)
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
            let offset = nameBytes.count
            if isText {  // only text symbols are ever named
                nameBytes.append(contentsOf: name)
                if let module {
                    nameBytes.append(contentsOf: " [".utf8)
                    nameBytes.append(contentsOf: module)
                    nameBytes.append(UInt8(ascii: "]"))
                }
            }
            nameOffset.append(UInt32(truncatingIfNeeded: offset))
            nameLength.append(UInt16(truncatingIfNeeded: min(nameBytes.count - offset, Int(UInt16.max))))
        }

        /// Sorted starts, sizes and name references of the named addresses.
        func table() -> ([UInt64], [UInt32], [UInt64]) {
            // Modules come after vmlinux in kallsyms and are not globally ordered: sort by address, then
            // rank; input order breaks ties, so equal-rank names resolve the same way every run.
            var order = [Int32](0..<Int32(address.count))
            order.sort { a, b in
                let x = address[Int(a)], y = address[Int(b)]
                if x != y { return x < y }
                let r = meta[Int(a)] & 0xff, t = meta[Int(b)] & 0xff
                return r != t ? r < t : a < b
            }
            var starts: [UInt64] = [], sizes: [UInt32] = [], refs: [UInt64] = []
            starts.reserveCapacity(order.count)
            sizes.reserveCapacity(order.count)
            refs.reserveCapacity(order.count)
            var i = 0
            while i < order.count {
                let addr = address[Int(order[i])]
                var j = i
                while j < order.count, address[Int(order[j])] == addr { j += 1 }
                // order[i..<j] share the address, best first; the first text one names it.
                if let best = order[i..<j].first(where: { meta[Int($0)] & 0x100 != 0 }).map(Int.init) {
                    var end = addr &+ KernelSymbols.tailLimit
                    if j < order.count {
                        let next = Int(order[j])
                        end = meta[next] >> 9 == meta[best] >> 9 ? address[next] : min(address[next], end)
                    }
                    starts.append(addr)
                    sizes.append(end < addr ? .max : UInt32(min(end - addr, UInt64(UInt32.max))))
                    refs.append(UInt64(nameOffset[best]) << 16 | UInt64(nameLength[best]))
                }
                i = j
            }
            return (starts, sizes, refs)
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
        return try KernelSymbols(parser, kptrRestrict: nil)
    }

    /// The address of a vmlinux symbol by name (a linear scan: for the odd lookup, not per event).
    public func address(of name: String) -> UInt64? {
        let want = Array(name.utf8)
        for (i, ref) in nameRefs.enumerated() where Int(ref & 0xffff) == want.count {
            let offset = Int(ref >> 16)
            if nameBytes[offset..<offset + want.count].elementsEqual(want) { return starts[i] }
        }
        return nil
    }

    /// "func" for vmlinux, "func [module]" for module symbols.
    public func name(for address: UInt64) -> String? {
        let lo = starts.partitionPoint { $0 > address }
        guard lo > 0 else { return nil }
        let size = sizes[lo - 1]
        guard size == .max || address - starts[lo - 1] < UInt64(size) else { return nil }
        let ref = nameRefs[lo - 1], offset = Int(ref >> 16)
        return String(decoding: nameBytes[offset..<offset + Int(ref & 0xffff)], as: UTF8.self)
    }
}
