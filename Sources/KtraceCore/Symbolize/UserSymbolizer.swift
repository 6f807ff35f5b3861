import FoundationEssentials
import Glibc

/// An object file mapped into a process: its path and GNU build id (hex; nil when it has none).
public struct MappedFile: Hashable, Sendable {
    public var path: String
    public var buildID: String?
    public init(path: String, buildID: String?) { self.path = path; self.buildID = buildID }
}

/// Names user-space instruction pointers of live (or recently live) processes.
///
/// Per process: a snapshot of /proc/PID/maps. Per mapped file: one parsed symbol table, shared by
/// every process mapping the same (device, inode, path). After the first sample of a library,
/// a lookup is two binary searches and a dictionary hit.
public final class UserSymbolizer: @unchecked Sendable {  // all state behind `lock`
    /// Symbols and address translation of one object file (or the vdso image).
    final class LoadedObject: Sendable {
        let segments: [ELFSegment]  // of the mapped file itself, not of its debug file
        let symbols: SymbolTable
        /// Where the symbols came from: ".symtab", "debug file" or ".dynsym" (for diagnostics).
        let source: String
        /// The file as the process names it, and its GNU build id (hex), for pprof's mappings.
        let file: MappedFile
        init(segments: [ELFSegment], symbols: SymbolTable, source: String, file: MappedFile) {
            self.segments = segments; self.symbols = symbols; self.source = source; self.file = file
        }
    }

    struct Region {
        var mapping: MemoryMapping
        var object: LoadedObject?
        var label: String  // for "[unknown] (label)"
    }

    struct ProcessState {
        var regions: [Region] = []  // sorted by start
        var lastRead: ContinuousClock.Instant?
        var refreshable = true      // false for mappings handed in by the caller
    }

    struct ObjectKey: Hashable { var device: String; var inode: UInt64; var path: String }

    /// A miss re-reads maps (the target may have dlopen()ed something) at most this often per process.
    static let refreshInterval: Duration = .seconds(1)

    private let debugFiles: DebugFileFinder
    private let lock = Lock()
    private var processes: [Int32: ProcessState] = [:]
    private var objects: [ObjectKey: LoadedObject?] = [:]  // nil: tried and failed; don't retry

    public init(debugRoots: [String] = ["/usr/lib/debug"]) {
        debugFiles = DebugFileFinder(debugRoots: debugRoots)
    }

    /// Snapshot /proc/PID/maps and load the executable files it names, before the target can exit.
    public func capture(pid: Int32) {
        lock.lock(); defer { lock.unlock() }
        if processes[pid] == nil { refresh(pid: pid) }
    }

    /// Use these mappings for `pid` instead of reading /proc (recorded maps, tests). Files are still
    /// looked up through /proc/PID/root first, then by plain path.
    public func capture(pid: Int32, mappings: [MemoryMapping]) {
        lock.lock(); defer { lock.unlock() }
        processes[pid] = ProcessState(regions: regions(pid: pid, mappings: mappings), lastRead: .now, refreshable: false)
    }

    /// Forget a process (e.g. on exit), keeping the shared per-file cache.
    public func forget(pid: Int32) {
        lock.lock(); defer { lock.unlock() }
        processes[pid] = nil
    }

    public func name(pid: Int32, address: UInt64) -> String {
        lock.lock(); defer { lock.unlock() }
        if processes[pid] == nil { refresh(pid: pid) }
        if let r = region(pid: pid, address: address) { return describe(r, address) }
        if let s = processes[pid], s.refreshable, s.lastRead.map({ .now - $0 >= Self.refreshInterval }) ?? true {
            refresh(pid: pid)
            if let r = region(pid: pid, address: address) { return describe(r, address) }
        }
        return "[unknown]"
    }

    /// The file mapped at `address` (nil: none, or not an ELF file ktrace could read).
    public func file(pid: Int32, address: UInt64) -> MappedFile? {
        lock.lock(); defer { lock.unlock() }
        return region(pid: pid, address: address)?.object?.file
    }

    /// The executable: the lowest file mapping, where the kernel's ELF loader puts it (below the
    /// interpreter and the libraries mmap()ed later).
    public func mainPath(pid: Int32) -> String? {
        lock.lock(); defer { lock.unlock() }
        if processes[pid] == nil { refresh(pid: pid) }
        return processes[pid]?.regions.first(where: { $0.mapping.path.hasPrefix("/") })?.mapping.filePath
    }

    /// Where the symbols of the file mapped at `address` come from, for diagnostics (nil: none loaded).
    public func symbolSource(pid: Int32, address: UInt64) -> String? {
        lock.lock(); defer { lock.unlock() }
        return region(pid: pid, address: address)?.object?.source
    }

    // MARK: - Internals (called with `lock` held)

    private func describe(_ r: Region, _ address: UInt64) -> String {
        // perf's translation: address -> file offset -> ELF virtual address via the PT_LOAD holding it.
        if let obj = r.object,
           let vaddr = ELFFile.virtualAddress(forFileOffset: address - r.mapping.start &+ r.mapping.offset, in: obj.segments),
           let name = obj.symbols.lookup(vaddr) {
            return name
        }
        return "[unknown] (\(r.label))"
    }

    private func region(pid: Int32, address: UInt64) -> Region? {
        guard let regions = processes[pid]?.regions else { return nil }
        let lo = regions.partitionPoint { $0.mapping.start > address }
        guard lo > 0, regions[lo - 1].mapping.contains(address) else { return nil }
        return regions[lo - 1]
    }

    private func refresh(pid: Int32) {
        var state = processes[pid] ?? ProcessState()
        state.lastRead = .now
        if let maps = try? ProcessMaps.read(pid: pid) {
            var fresh = regions(pid: pid, mappings: maps)
            // Keep old mappings the new snapshot no longer covers (dlclose, munmap): samples taken
            // before the change still point there.
            for old in state.regions where !fresh.contains(where: {
                $0.mapping.start < old.mapping.end && old.mapping.start < $0.mapping.end
            }) { fresh.append(old) }
            state.regions = fresh.sorted { $0.mapping.start < $1.mapping.start }
        }
        processes[pid] = state
    }

    private func regions(pid: Int32, mappings: [MemoryMapping]) -> [Region] {
        var vdso: LoadedObject??  // read once per snapshot
        return mappings.sorted { $0.start < $1.start }.map { m in
            let clean = m.filePath
            let label = clean.isEmpty ? "[anon]" : (clean.hasPrefix("[") ? clean : String(clean.split(separator: "/").last ?? Substring(clean)))
            var object: LoadedObject?
            if m.isExecutable, clean.hasPrefix("/") {
                object = loadFile(pid: pid, mapping: m, path: clean)
            } else if m.isExecutable, clean == "[vdso]" {
                if vdso == nil { vdso = .some(loadVDSO(pid: pid, mapping: m)) }
                object = vdso!
            }
            return Region(mapping: m, object: object, label: label)
        }
    }

    private func loadFile(pid: Int32, mapping m: MemoryMapping, path: String) -> LoadedObject? {
        let key = ObjectKey(device: m.device, inode: m.inode, path: path)
        if let cached = objects[key] { return cached }
        let root = "/proc/\(pid)/root"
        var candidates = [root + path, path]
        if m.isDeleted {
            // The file was replaced or removed after mapping (package upgrade): only map_files still
            // reaches the mapped inode; the paths might hold a different build.
            candidates = ["/proc/\(pid)/map_files/\(String(m.start, radix: 16))-\(String(m.end, radix: 16))"]
        }
        var loaded: LoadedObject?
        for c in candidates {
            guard let elf = try? ELFFile(path: c) else { continue }
            loaded = makeObject(elf, binaryPath: path, rootPrefix: root)
            break
        }
        objects[key] = .some(loaded)
        return loaded
    }

    private func makeObject(_ elf: ELFFile, binaryPath: String, rootPrefix: String?) -> LoadedObject {
        let file = MappedFile(path: binaryPath, buildID: elf.buildID)
        if !elf.symtab.isEmpty {
            return LoadedObject(segments: elf.loadSegments, symbols: SymbolTable(elf.symtab), source: ".symtab", file: file)
        }
        // Stripped: its debug file's .symtab has the same virtual addresses and the local functions.
        if let debug = debugFiles.find(for: elf, binaryPath: binaryPath, rootPrefix: rootPrefix), !debug.symtab.isEmpty {
            return LoadedObject(segments: elf.loadSegments, symbols: SymbolTable(debug.symtab), source: "debug file", file: file)
        }
        return LoadedObject(segments: elf.loadSegments, symbols: SymbolTable(elf.dynsym), source: ".dynsym", file: file)
    }

    /// The vdso is not a file: parse the image the kernel mapped into the target.
    private func loadVDSO(pid: Int32, mapping m: MemoryMapping) -> LoadedObject? {
        guard let data = readProcessMemory(pid: pid, address: m.start, count: Int(clamping: m.end - m.start)),
              let elf = try? ELFFile(data: data) else { return nil }
        return makeObject(elf, binaryPath: "[vdso]", rootPrefix: nil)
    }
}
