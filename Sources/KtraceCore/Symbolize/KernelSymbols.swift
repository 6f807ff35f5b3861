import Foundation

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

    private let starts: [UInt64]
    private let ends: [UInt64]
    /// Names ("func" or "func [module]") packed in one buffer: no per-symbol allocation at startup.
    private let nameBytes: [UInt8]
    private let nameOffsets: [UInt32]  // count + 1 entries

    public var count: Int { starts.count }

    public convenience init(kallsyms: String) throws {
        try self.init(kallsymsBytes: Array(kallsyms.utf8), kptrRestrict: nil)
    }

    convenience init(kallsyms: String, kptrRestrict: String?) throws {
        try self.init(kallsymsBytes: Array(kallsyms.utf8), kptrRestrict: kptrRestrict)
    }

    /// Parses the bytes in place (no String copy of the ~5 MB file). `kptrRestrict` only feeds the
    /// error message; nil reads the live sysctl.
    init(kallsymsBytes bytes: [UInt8], kptrRestrict: String?) throws {
        // Plain values only, so sorting ~100k of them stays cheap; names stay in the input buffer.
        struct Entry { var address: UInt64; var rank: UInt64; var nameStart: Int; var nameEnd: Int; var module: Int32; var isText: Bool }
        var entries: [Entry] = []
        var modules: [[UInt8]] = [], moduleIndex: [[UInt8]: Int32] = [:]
        var anyNonZero = false
        var starts: [UInt64] = [], ends: [UInt64] = [], nameBytes: [UInt8] = [], nameOffsets: [UInt32] = [0]
        bytes.withUnsafeBufferPointer { buf in
            let n = buf.count
            var p = 0
            while p < n {
                var e = p
                while e < n, buf[e] != 10 { e += 1 }
                defer { p = e + 1 }
                // "ffffffff81e66b00 t net_rx_action" or "... t name\t[module]"
                var q = p, address: UInt64 = 0, digits = 0
                while q < e, let d = KernelSymbols.hexValue(buf[q]) { address = address << 4 | UInt64(d); q += 1; digits += 1 }
                guard digits > 0, digits <= 16, q + 2 < e, buf[q] == 32, buf[q + 2] == 32 else { continue }
                let type = buf[q + 1]
                let nameStart = q + 3
                q = nameStart
                while q < e, buf[q] != 9, buf[q] != 32 { q += 1 }
                guard q > nameStart else { continue }
                let name = UnsafeBufferPointer(rebasing: buf[nameStart..<q])
                var module: Int32 = -1
                var m = q
                while m < e, buf[m] == 9 || buf[m] == 32 { m += 1 }
                if m < e, buf[m] == UInt8(ascii: "["), let close = buf[m..<e].firstIndex(of: UInt8(ascii: "]")) {
                    let key = Array(buf[(m + 1)..<close])
                    if let idx = moduleIndex[key] { module = idx } else {
                        module = Int32(modules.count); moduleIndex[key] = module; modules.append(key)
                    }
                }
                anyNonZero = anyNonZero || address != 0
                let isMarker = KernelSymbols.equals(name, "_etext") || KernelSymbols.equals(name, "_einittext")
                let isText = (type | 0x20 == UInt8(ascii: "t") || type | 0x20 == UInt8(ascii: "w")) && !isMarker
                // Input order breaks ties, so equal-rank names resolve the same way every run.
                let rank = UInt64(KernelSymbols.rank(name: name, type: type)) << 32 | UInt64(entries.count)
                entries.append(Entry(address: address, rank: rank, nameStart: nameStart, nameEnd: q, module: module, isText: isText))
            }
            guard anyNonZero else { return }

            // Modules come after vmlinux in kallsyms and are not globally ordered: sort everything by address.
            entries.sort { $0.address != $1.address ? $0.address < $1.address : $0.rank < $1.rank }
            starts.reserveCapacity(entries.count)
            ends.reserveCapacity(entries.count)
            nameOffsets.reserveCapacity(entries.count + 1)
            var i = 0
            while i < entries.count {
                let address = entries[i].address
                var j = i
                while j < entries.count, entries[j].address == address { j += 1 }
                // entries[i..<j] share the address, best first; the first text one names it.
                if let best = entries[i..<j].first(where: \.isText) {
                    var end = address &+ KernelSymbols.tailLimit
                    if j < entries.count {
                        end = entries[j].module == best.module ? entries[j].address : min(entries[j].address, end)
                    }
                    starts.append(address)
                    ends.append(end < address ? .max : end)
                    nameBytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[best.nameStart..<best.nameEnd]))
                    if best.module >= 0 {
                        nameBytes.append(contentsOf: " [".utf8)
                        nameBytes.append(contentsOf: modules[Int(best.module)])
                        nameBytes.append(UInt8(ascii: "]"))
                    }
                    nameOffsets.append(UInt32(truncatingIfNeeded: nameBytes.count))
                }
                i = j
            }
        }
        guard !entries.isEmpty else { throw SymbolizeError("no symbols in kallsyms") }
        guard anyNonZero else { throw SymbolizeError(KernelSymbols.hiddenMessage(kptrRestrict: kptrRestrict)) }
        self.starts = starts
        self.ends = ends
        self.nameBytes = nameBytes
        self.nameOffsets = nameOffsets
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
        let n = value?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        var msg = "kernel addresses are hidden (/proc/sys/kernel/kptr_restrict=\(n)): run as root or set kernel.kptr_restrict=0"
        if n == "0" {
            // Seen in practice: kptr_restrict=0 still hides addresses from users without CAP_SYSLOG
            // unless perf_event_paranoid <= 1.
            msg += " (already 0: without root, kernel.perf_event_paranoid must also be <= 1)"
        }
        return msg
    }

    public static func load(path: String = "/proc/kallsyms") throws -> KernelSymbols {
        // /proc/kallsyms reports size 0: reserve for a typical 5 MB so the buffer is not copied as it grows.
        guard let bytes = readWholeFileBytes(path, expected: 8 << 20) else {
            throw SymbolizeError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return try KernelSymbols(kallsymsBytes: bytes, kptrRestrict: nil)
    }

    /// "func" for vmlinux, "func [module]" for module symbols.
    public func name(for address: UInt64) -> String? {
        var lo = 0, hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, address < ends[lo - 1] else { return nil }
        return String(decoding: nameBytes[Int(nameOffsets[lo - 1])..<Int(nameOffsets[lo])], as: UTF8.self)
    }
}
