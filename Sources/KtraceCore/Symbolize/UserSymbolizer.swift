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
    }

    struct ProcessState {
        var regions: [Region] = []  // sorted by start
        var lastRead: ContinuousClock.Instant?
        var refreshable = true      // false for mappings handed in by the caller
        /// /proc/PID/maps could not be read because the process is gone.
        var exited = false
        /// The pid in the process's own namespace (a container's perf map is named by it).
        var nsPid: Int32?
        var uid: UInt32?
        var perfMap: PerfMap?
        var perfMapFile: PerfMapFile?
        var perfMapChecked: ContinuousClock.Instant?
    }

    struct ObjectKey: Hashable { var device: String; var inode: UInt64; var path: String }

    /// A miss re-reads maps (the target may have dlopen()ed something) at most this often per process.
    static let refreshInterval: Duration = .seconds(1)

    private let debugFiles: DebugFileFinder
    private let perfMapDirectory: String
    private let packages: PackageOwners
    private let lock = Lock()
    private var processes: [Int32: ProcessState] = [:]
    private var objects: [ObjectKey: LoadedObject?] = [:]  // nil: tried and failed; don't retry
    private var packageOf: [String: String?] = [:]         // "pid|path": the dpkg package owning it

    /// `perfMapDirectory`: where JITs write perf-PID.map (as the process sees it); `dpkgInfo`: dpkg's
    /// database of installed files (read through the process's root).
    public init(debugRoots: [String] = ["/usr/lib/debug"], perfMapDirectory: String = "/tmp",
                dpkgInfo: String = "/var/lib/dpkg/info") {
        debugFiles = DebugFileFinder(debugRoots: debugRoots)
        self.perfMapDirectory = perfMapDirectory
        packages = PackageOwners(infoDir: dpkgInfo)
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

    /// The function's name, or for an unnamed frame its mapping and offset (`[nginx+0x4f21a]`).
    public func name(pid: Int32, address: UInt64) -> String { frame(pid: pid, address: address).name }

    /// The function's name, or the placeholder of an unnamed frame and why it has no name.
    public func frame(pid: Int32, address: UInt64) -> (name: String, unnamed: UnnamedFrame?) {
        lock.lock(); defer { lock.unlock() }
        if processes[pid] == nil { refresh(pid: pid) }
        var r = region(pid: pid, address: address)
        if r == nil, let s = processes[pid], s.refreshable, s.lastRead.map({ .now - $0 >= Self.refreshInterval }) ?? true {
            refresh(pid: pid)
            r = region(pid: pid, address: address)
        }
        if let r, let name = symbol(r, address) { return (name, nil) }
        // JIT code: the process's perf map, as perf consults it for addresses no file names.
        if let name = perfMap(pid: pid)?.lookup(address) { return (name, nil) }
        let u = unnamed(pid: pid, r, address)
        return (u.name, u)
    }

    /// The file mapped at `address` (nil: none, or not an ELF file ktrace could read): the perf map for
    /// JIT code it names, `[anon]` for other anonymous executable memory.
    public func file(pid: Int32, address: UInt64) -> MappedFile? {
        lock.lock(); defer { lock.unlock() }
        let r = region(pid: pid, address: address)
        if let f = r?.object?.file { return f }
        if let s = processes[pid], let m = s.perfMap, m.lookup(address) != nil, let f = s.perfMapFile {
            return MappedFile(path: displayedPerfMap(pid: pid, s) ?? f.path, buildID: nil)
        }
        if let m = r?.mapping, m.isExecutable, m.path.isEmpty || m.path.hasPrefix("[anon:") { return MappedFile(path: "[anon]", buildID: nil) }
        return nil
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

    private func symbol(_ r: Region, _ address: UInt64) -> String? {
        // perf's translation: address -> file offset -> ELF virtual address via the PT_LOAD holding it.
        guard let obj = r.object,
              let vaddr = ELFFile.virtualAddress(forFileOffset: address - r.mapping.start &+ r.mapping.offset, in: obj.segments)
        else { return nil }
        return obj.symbols.lookup(vaddr)
    }

    /// The placeholder of a frame no symbol names, and the reason, from what is mapped there.
    private func unnamed(pid: Int32, _ r: Region?, _ address: UInt64) -> UnnamedFrame {
        guard let r else {
            if processes[pid]?.exited == true {
                return UnnamedFrame(name: UnnamedFrame.exitedName, reason: UnnamedReason(kind: .processExited))
            }
            return UnnamedFrame(name: UnnamedFrame.unmappedName, reason: UnnamedReason(kind: .unmapped))
        }
        let m = r.mapping, path = m.filePath
        if path.hasPrefix("/") {
            let offset = address - m.start &+ m.offset
            let name = UnnamedFrame.inFile(path, offset: offset, deleted: m.isDeleted)
            guard m.isExecutable else { return UnnamedFrame(name: name, reason: UnnamedReason(kind: .notCode, file: path)) }
            guard let obj = r.object else {
                return UnnamedFrame(name: name, reason: UnnamedReason(kind: m.isDeleted ? .fileDeleted : .unreadable, file: path))
            }
            let vaddr = ELFFile.virtualAddress(forFileOffset: offset, in: obj.segments)
            guard obj.source == ".dynsym" else {
                return UnnamedFrame(name: name, reason: UnnamedReason(kind: .noSymbol, file: path, buildID: obj.file.buildID), fileAddress: vaddr)
            }
            return UnnamedFrame(name: name, reason: UnnamedReason(kind: .stripped, file: path, buildID: obj.file.buildID,
                                                                  package: package(of: path, pid: pid)),
                                fileAddress: vaddr)
        }
        let name = UnnamedFrame.inRegion(path, offset: address - m.start)
        if path.isEmpty || path.hasPrefix("[anon:") {
            guard m.isExecutable else { return UnnamedFrame(name: name, reason: UnnamedReason(kind: .notCode, file: path.isEmpty ? "[anon]" : path)) }
            if path.hasPrefix("[anon:") { return UnnamedFrame(name: name, reason: UnnamedReason(kind: .anonymous, file: path)) }
            let s = processes[pid]
            let expected = s.flatMap { displayedPerfMap(pid: pid, $0) } ?? "\(perfMapDirectory)/perf-\(pid).map"
            if s?.perfMap != nil { return UnnamedFrame(name: name, reason: UnnamedReason(kind: .anonymous, perfMap: expected)) }
            let exe = s?.regions.first(where: { $0.mapping.path.hasPrefix("/") })?.mapping.filePath
            return UnnamedFrame(name: name, reason: UnnamedReason(kind: .jitWithoutPerfMap, perfMap: expected,
                                                                  runtimeHint: UnnamedReason.runtimeHint(executable: exe)))
        }
        // [vdso], [vsyscall], [stack], [heap]
        return UnnamedFrame(name: name, reason: UnnamedReason(kind: m.isExecutable ? .noSymbol : .notCode, file: path))
    }

    /// dpkg's owner of a file the process maps, looked up once per process and path.
    private func package(of path: String, pid: Int32) -> String? {
        let key = "\(pid)|\(path)"
        if let known = packageOf[key] { return known }
        let root = "/proc/\(pid)/root"
        let found = packages.owner(of: path, root: access(root + "/", F_OK) == 0 ? root : "")
        packageOf[key] = .some(found)
        return found
    }

    // MARK: perf maps

    /// The perf map as the process names it: /tmp/perf-NSPID.map.
    private func displayedPerfMap(pid: Int32, _ s: ProcessState) -> String? {
        "\(perfMapDirectory)/perf-\(s.nsPid ?? pid).map"
    }

    /// The process's perf map, read when first needed and again when the file changed (at most every
    /// `refreshInterval`): through its root first (a container's /tmp), then this machine's /tmp (the
    /// file outlives the process).
    private func perfMap(pid: Int32) -> PerfMap? {
        guard var s = processes[pid] else { return nil }
        let now = ContinuousClock.now
        if let checked = s.perfMapChecked, now - checked < Self.refreshInterval { return s.perfMap }
        s.perfMapChecked = now
        if s.nsPid == nil, !s.exited { (s.nsPid, s.uid) = Self.status(pid: pid) }
        let name = "/perf-\(s.nsPid ?? pid).map"
        let candidates = ["/proc/\(pid)/root" + perfMapDirectory + name, perfMapDirectory + "/perf-\(pid).map"]
        if let f = candidates.lazy.compactMap(PerfMapFile.current).first, s.perfMapFile.map({ !$0.sameVersion(f) }) ?? true {
            // Written by the JIT in the process: its owner or root, never another user's planted file.
            let owners: Set<UInt32>? = s.uid.map { [0, $0] } ?? (s.exited ? nil : [0])
            if let map = PerfMap.load(f.path, owners: owners) {
                s.perfMap = map
                s.perfMapFile = f
            }
        }
        processes[pid] = s
        return s.perfMap
    }

    /// NSpid's innermost pid and the real uid, from /proc/PID/status.
    static func status(pid: Int32) -> (nsPid: Int32?, uid: UInt32?) {
        guard let data = readWholeFile("/proc/\(pid)/status") else { return (nil, nil) }
        var ns: Int32?, uid: UInt32?
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("NSpid:") { ns = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int32($0) } }
            if line.hasPrefix("Uid:") { uid = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { UInt32($0) } }
        }
        return (ns, uid)
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
        let maps = try? ProcessMaps.read(pid: pid)
        if maps == nil, access("/proc/\(pid)", F_OK) != 0 { state.exited = true }
        if let maps {
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
            var object: LoadedObject?
            if m.isExecutable, clean.hasPrefix("/") {
                object = loadFile(pid: pid, mapping: m, path: clean)
            } else if m.isExecutable, clean == "[vdso]" {
                if vdso == nil { vdso = .some(loadVDSO(pid: pid, mapping: m)) }
                object = vdso!
            }
            return Region(mapping: m, object: object)
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
        // The PLT's entries in every case: .symtab does not name them either (perf synthesizes NAME@plt too).
        if !elf.symtab.isEmpty {
            return LoadedObject(segments: elf.loadSegments, symbols: SymbolTable(elf.symtab + elf.pltSymbols), source: ".symtab", file: file)
        }
        // Stripped: its debug file's .symtab has the same virtual addresses and the local functions.
        if let debug = debugFiles.find(for: elf, binaryPath: binaryPath, rootPrefix: rootPrefix), !debug.symtab.isEmpty {
            return LoadedObject(segments: elf.loadSegments, symbols: SymbolTable(debug.symtab + elf.pltSymbols), source: "debug file", file: file)
        }
        return LoadedObject(segments: elf.loadSegments, symbols: SymbolTable(elf.dynsym + elf.pltSymbols), source: ".dynsym", file: file)
    }

    /// The vdso is not a file: parse the image the kernel mapped into the target.
    private func loadVDSO(pid: Int32, mapping m: MemoryMapping) -> LoadedObject? {
        guard let data = readProcessMemory(pid: pid, address: m.start, count: Int(clamping: m.end - m.start)),
              let elf = try? ELFFile(data: data) else { return nil }
        return makeObject(elf, binaryPath: "[vdso]", rootPrefix: nil)
    }
}
