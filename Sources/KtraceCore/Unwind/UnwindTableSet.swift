/// The unwind tables of the processes a recording follows, laid out as the BPF unwinder reads them
/// (bpf/unwind.bpf.h): every file's rows once, as one slice of a single array (libc's table serves every
/// process), and per process its executable mappings that have a table, sorted by address.
///
/// Files are told apart by device and inode, as the kernel names them in /proc/PID/maps, so a file replaced
/// on disk gets a table of its own. A file whose table cannot be built, or does not fit, is refused with a
/// reason: its frames are found through frame pointers, and the summary says so.
public struct UnwindTableSet: Sendable {
    /// Which files get a table.
    public enum Mode: String, Sendable, CaseIterable {
        /// Every file with `.eh_frame`.
        case tables
        /// Only files built without frame pointers (most of their code finds its CFA from rsp): the others
        /// are walked through their frame pointers, which costs the kernel nothing to look up.
        case auto
    }

    /// One executable mapping with a table: what `struct kt_unwind_mapping` holds.
    public struct Mapping: Equatable, Sendable {
        public var start, end: UInt64
        /// Runtime address minus ELF virtual address.
        public var bias: UInt64
        public var first, count: UInt32
    }

    /// A file, as /proc/PID/maps names it.
    public struct FileKey: Hashable, Sendable {
        public var device: String
        public var inode: UInt64
    }

    enum FileState: Sendable {
        case table(first: UInt32, count: UInt32, segments: [ELFSegment])
        /// Walked through frame pointers: built with them (auto), or refused for `reason`.
        case framePointers(reason: String?)
    }

    /// Most rows the kernel's array holds; a table that does not fit is refused. Never below the rows
    /// already taken (set it once they are known, before the array is made).
    public var capacity: Int { didSet { capacity = max(capacity, rows.count) } }
    /// Most mappings with tables per process (KT_UNWIND_MAPPINGS).
    public let maxMappings: Int
    public let mode: Mode
    /// Every table's rows, in slice order. `rows[written...]` are not in the kernel yet.
    public private(set) var rows: [UnwindRow] = []
    var files: [FileKey: FileState] = [:]
    /// Files refused, by path: why (built without .eh_frame, too big, unreadable, malformed).
    public private(set) var refused: [String: String] = [:]
    /// Files left to their frame pointers by `auto`.
    public private(set) var framePointerFiles: Set<String> = []

    public init(capacity: Int, maxMappings: Int, mode: Mode) {
        self.capacity = capacity
        self.maxMappings = maxMappings
        self.mode = mode
    }

    /// The share of a table's code whose CFA comes from rbp above which a file counts as built with frame
    /// pointers (gcc -fno-omit-frame-pointer: every function but leaves and stubs; without: glibc 2.36 has
    /// 16.6%, nginx-light a few functions with alloca).
    public static let framePointerShare = 0.5

    /// The mappings of a process that have tables, sorted by start, at most `maxMappings` (`dropped`: how
    /// many more there were); files seen for the first time have their table built by `build` (given the
    /// path to read, under `root`, e.g. /proc/PID/root). `auto` asks `rbpShare` first, where given (a
    /// sample of the file's FDEs: `UnwindTableBuilder.rbpShare`), and builds no table for a file it finds
    /// built with frame pointers.
    public mutating func mappings(of maps: [MemoryMapping], root: String,
                                  build: (String) throws -> UnwindTableBuild,
                                  rbpShare: ((String) -> Double?)? = nil) -> (mappings: [Mapping], dropped: Int) {
        var out: [Mapping] = []
        for m in maps where m.isExecutable && m.inode != 0 && m.path.hasPrefix("/") {
            // The path of a deleted or replaced file now names another file, or none: its code is not what
            // is mapped (frame pointers there).
            if m.isDeleted {
                refused[m.filePath] = "deleted or replaced since it was mapped"
                continue
            }
            let key = FileKey(device: m.device, inode: m.inode)
            if files[key] == nil, let state = state(of: m.filePath, root: root, build: build, rbpShare: rbpShare) {
                files[key] = state
            }
            guard case .table(let first, let count, let segments)? = files[key],
                  let bias = Self.bias(of: m, segments: segments) else { continue }
            out.append(Mapping(start: m.start, end: m.end, bias: bias, first: first, count: count))
        }
        out.sort { $0.start < $1.start }
        let dropped = max(out.count - maxMappings, 0)
        out.removeLast(dropped)
        return (out, dropped)
    }

    /// Runtime address minus ELF virtual address for an executable mapping: from the executable PT_LOAD
    /// that holds its file offset. The kernel maps a segment from the page holding its first byte, so the
    /// mapping's offset may lie below p_offset (lld puts code at offset 0x570, vaddr 0x1570, mapped from
    /// offset 0): the page-aligned p_offset is what must not exceed it.
    static func bias(of m: MemoryMapping, segments: [ELFSegment]) -> UInt64? {
        let page: UInt64 = 4096
        for s in segments where s.isExecutable {
            let alignedOffset = s.offset & ~(page - 1)
            guard m.offset >= alignedOffset, m.offset < s.offset &+ s.filesz, s.vaddr >= s.offset - alignedOffset else { continue }
            // The ELF virtual address at file offset m.offset, by this segment's offset-to-address map.
            let vaddr = m.offset >= s.offset ? s.vaddr &+ (m.offset - s.offset) : s.vaddr &- (s.offset - m.offset)
            return m.start &- vaddr
        }
        return nil
    }

    /// Rows not yet written to the kernel, from `from` on: the caller writes them at that index.
    public func rows(from: Int) -> ArraySlice<UnwindRow> { rows[min(from, rows.count)...] }

    /// A file's state, or nil when it could not be opened now (a process that exited as its files were
    /// read): tried again through the next process that maps it.
    private mutating func state(of path: String, root: String, build: (String) throws -> UnwindTableBuild,
                                rbpShare: ((String) -> Double?)?) -> FileState? {
        if mode == .auto, let share = rbpShare?(root + path), share >= Self.framePointerShare {
            framePointerFiles.insert(path)
            return .framePointers(reason: nil)
        }
        let b: UnwindTableBuild
        do { b = try build(root + path) } catch {
            let reason = "\(error)"
            if reason.hasPrefix("cannot open") || reason.hasPrefix("cannot stat") || reason.hasPrefix("cannot map") {
                refused[path] = reason
                return nil
            }
            return refuse(path, reason)
        }
        let table = b.table
        guard !table.rows.isEmpty else { return refuse(path, "no .eh_frame or .debug_frame") }
        refused[path] = nil
        let coverage = table.coverage
        if mode == .auto, coverage.fdeBytes > 0,
           Double(coverage.bytes[.rbp] ?? 0) / Double(coverage.fdeBytes) >= Self.framePointerShare {
            framePointerFiles.insert(path)
            return .framePointers(reason: nil)
        }
        guard table.rows.count < 1 << 20 else { return refuse(path, "\(table.rows.count) rows, more than the unwinder searches") }
        guard rows.count + table.rows.count <= capacity else {
            return refuse(path, "no room for its \(table.rows.count) rows (\(rows.count) of \(capacity) used)")
        }
        let first = UInt32(rows.count)
        rows += table.rows
        return .table(first: first, count: UInt32(table.rows.count), segments: b.segments)
    }

    private mutating func refuse(_ path: String, _ reason: String) -> FileState {
        refused[path] = reason
        return .framePointers(reason: reason)
    }
}
