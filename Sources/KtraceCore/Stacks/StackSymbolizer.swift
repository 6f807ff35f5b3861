/// Where the stored stacks come from: the kernel's stack maps (the session layer), or a recording.
public protocol StackSource: AnyObject {
    /// Frames of one stored stack, leaf first; nil when the map does not have it. A user stack cut at the
    /// unwinder's depth limit ends with `StackSymbolizer.cutMark`.
    func frames(ofStack id: UInt64, user: Bool) -> [UInt64]?
    /// Every stack stored in one map so far (many per syscall), leaf first.
    func forEachStack(user: Bool, _ body: (UInt64, ArraySlice<UInt64>) -> Void)
}

/// Names user-space addresses of one process.
public protocol UserFrameNaming: AnyObject {
    /// The function's name, or a placeholder in brackets: `[nginx+0x4f21a]`, `[anon+0x1a0]`.
    func name(pid: Int32, address: UInt64) -> String
    /// The name, and for a frame without one, why (nil: named, or no reason known).
    func frame(pid: Int32, address: UInt64) -> (name: String, unnamed: UnnamedFrame?)
    /// Read a process's memory maps now (it may exit before its stacks are named).
    func capture(pid: Int32)
    /// The file mapped at `address` (pprof's mappings).
    func file(pid: Int32, address: UInt64) -> MappedFile?
    /// The path of the process's executable (pprof lists it first).
    func mainPath(pid: Int32) -> String?
}

extension UserFrameNaming {
    public func frame(pid: Int32, address: UInt64) -> (name: String, unnamed: UnnamedFrame?) { (name(pid: pid, address: address), nil) }
    public func file(pid: Int32, address: UInt64) -> MappedFile? { nil }
    public func mainPath(pid: Int32) -> String? { nil }
}

extension UserSymbolizer: UserFrameNaming {}

/// Names the frames of stored stacks, once per stack id, into the one interned form (`FrameTable`).
/// The rules live here: a return address is looked up at its call instruction (`ip - 1`); an unknown
/// user frame is not cached (a later dlopen or JIT may name it); many unnamed stacks are read from the
/// maps in batches rather than one lookup each.
public final class StackSymbolizer {
    private let source: StackSource
    private let kernelSymbols: KernelSymbolsLoader?
    public let userNames: UserFrameNaming
    private let demangle: Bool
    public private(set) var table = FrameTable()
    /// The file each user frame was found in, by frame id (the first file, should two share a name).
    public private(set) var userFrameFiles: [Int32: MappedFile] = [:]
    /// Why each unnamed user frame has no name, by frame id (the first reason met, should two share a
    /// placeholder).
    public private(set) var unnamedFrames: [Int32: UnnamedFrame] = [:]
    /// The executables of the processes whose user stacks were named.
    public private(set) var mainPaths: Set<String> = []
    private var pidsSeen: Set<Int32> = []

    private var kernelNameIDs: [UInt64: Int32] = [:]  // by call-site address
    private var workIDs: [UInt64: Int32] = [:]        // [work:FN] frames by function address
    private var userNameIDs: [UserKey: Int32] = [:]   // by (pid, call-site address)
    private var kernelCache: [UInt64: [Int32]] = [:]  // by stack id
    private var userCache: [UserKey: [Int32]] = [:]
    private var demangled: [String: String] = [:]
    private struct UserKey: Hashable { let pid: Int32; let id: UInt64 }

    /// `kernelSymbols` nil: kernel stacks are not sampled (frames would read as addresses).
    public init(source: StackSource, kernelSymbols: KernelSymbolsLoader?, userNames: UserFrameNaming, demangle: Bool = true) {
        self.source = source
        self.kernelSymbols = kernelSymbols
        self.userNames = userNames
        self.demangle = demangle
    }

    // MARK: Frames that are not functions

    public func comm(_ name: String) -> Int32 { table.id(StackComposer.commFrame(name), kind: .user) }
    public func softirq(_ v: SoftirqVector) -> Int32 { table.id(StackComposer.softirqFrame(v), kind: .pseudo) }
    /// A bracketed frame that is not a function: `[off-cpu]`, `[state:D]`.
    public func pseudo(_ name: String) -> Int32 { table.id(name, kind: .pseudo) }
    /// A frame of a waker's stack, drawn apart from the sleeper's.
    public func waker(_ name: String) -> Int32 { table.id(name, kind: .waker) }
    /// `[work:FUNCTION]` for a work function's address, named with kallsyms.
    public func work(_ function: UInt64) -> Int32 {
        if let n = workIDs[function] { return n }
        let n = table.id(StackComposer.workFrame(kernelFunctionName(function)), kind: .pseudo)
        workIDs[function] = n
        return n
    }
    /// A kernel text address's function name (kallsyms), or its hex when it has none.
    public func kernelFunctionName(_ address: UInt64) -> String {
        kernelSymbols?.symbols?.name(for: address) ?? "0x" + String(address, radix: 16)
    }
    public var missingUser: Int32 { table.id(StackComposer.missingUser, kind: .pseudo) }
    /// The address a stack source puts after the last frame of a user stack cut short (no user address).
    public static let cutMark: UInt64 = 0xffff_ffff_ffff_fffe
    /// `[truncated]`'s frame id, once a stack has been cut.
    public private(set) var truncatedFrame: Int32?
    /// Marks a lost kernel part, so it stands with the kernel frames (and is coloured as them).
    public var missingKernel: Int32 { table.id(StackComposer.missingKernel, kind: .kernel) }

    // MARK: Stacks

    /// Every frame but the leaf is a return address, which may already belong to the next function when
    /// the call was a function's last instruction: look up the call instruction instead.
    static func callSite(_ ip: UInt64, leaf: Bool) -> UInt64 { leaf || ip == 0 ? ip : ip - 1 }

    public func kernel(_ ref: StackRef) -> StackPart<Int32> {
        guard case .stored(let id) = ref else { return ref == .none ? .none : .missing }
        if let cached = kernelCache[id] { return .frames(cached) }
        guard let ips = ips(id, user: false) else { return .missing }
        let first = ips.startIndex
        let frames = ips.indices.map { i in kernelNameID(Self.callSite(ips[i], leaf: i == first)) }
        kernelCache[id] = frames
        return .frames(frames)
    }

    public func user(pid: Int32, _ ref: StackRef) -> StackPart<Int32> {
        guard case .stored(let id) = ref else { return ref == .none ? .none : .missing }
        let key = UserKey(pid: pid, id: id)
        if let cached = userCache[key] { return .frames(cached) }
        guard let ips = ips(id, user: true) else { return .missing }
        if pidsSeen.insert(pid).inserted, let main = userNames.mainPath(pid: pid) { mainPaths.insert(main) }
        let first = ips.startIndex
        let frames = ips.indices.map { i -> Int32 in
            if ips[i] == Self.cutMark {
                let n = table.id(StackComposer.truncatedUser, kind: .pseudo)
                truncatedFrame = n
                return n
            }
            let at = UserKey(pid: pid, id: Self.callSite(ips[i], leaf: i == first))
            if let n = userNameIDs[at] { return n }
            let named = userNames.frame(pid: pid, address: at.id)
            let name = named.unnamed == nil ? readable(named.name) : named.name
            let n = table.id(name, kind: FrameKind.user(named: name))
            if userFrameFiles[n] == nil, let file = userNames.file(pid: pid, address: at.id) { userFrameFiles[n] = file }
            // Not an unnamed one: a later read of the maps (dlopen, JIT, a perf map) may still name it.
            if let u = named.unnamed {
                if unnamedFrames[n] == nil { unnamedFrames[n] = u }
            } else if !name.hasPrefix("[unknown]") {
                userNameIDs[at] = n
            }
            return n
        }
        userCache[key] = frames
        return .frames(frames)
    }

    /// Kernel frames repeat across stacks: each address is looked up and named once.
    private func kernelNameID(_ ip: UInt64) -> Int32 {
        if let n = kernelNameIDs[ip] { return n }
        let n = table.id(kernelSymbols?.symbols?.name(for: ip) ?? "0x" + String(ip, radix: 16), kind: .kernel)
        kernelNameIDs[ip] = n
        return n
    }

    /// Demangled once per distinct symbol.
    private func readable(_ name: String) -> String {
        guard demangle, Demangler.scheme(of: name) != nil else { return name }
        if let d = demangled[name] { return d }
        let d = Demangler.demangle(name) ?? name
        demangled[name] = d
        return d
    }

    // MARK: Reading the maps

    /// Frames read in batches by `prefetch`: offset and count in `pool`, by stack id (kernel and user
    /// stacks are kept in separate maps, so ids are per map).
    private var pool: [UInt64] = []
    private var stored: [StoredKey: (offset: Int32, count: Int32)] = [:]
    private struct StoredKey: Hashable { let user: Bool; let id: UInt64 }

    /// Stack ids the caller still has to name above which reading whole maps beats one lookup each
    /// (thousands of stacks: one lookup each took longer than all the naming).
    public static let prefetchThreshold = 64

    /// Reads every stack stored so far, when `unnamed` stacks are left to name.
    public func prefetch(unnamed: Int = .max) {
        guard unnamed > Self.prefetchThreshold else { return }
        for user in [false, true] {
            source.forEachStack(user: user) { id, frames in
                let key = StoredKey(user: user, id: id)
                guard stored[key] == nil else { return }
                stored[key] = (Int32(pool.count), Int32(frames.count))
                pool.append(contentsOf: frames)
            }
        }
    }

    /// The prefetched frames are only needed until their stacks are named (names are cached by id).
    public func dropFrames() {
        pool = []
        stored = [:]
    }

    /// Whether this stack's names are cached already (`prefetch` need not read it).
    public func isNamed(kernel ref: StackRef) -> Bool {
        guard case .stored(let id) = ref else { return true }
        return kernelCache[id] != nil
    }

    public func isNamed(user ref: StackRef, pid: Int32) -> Bool {
        guard case .stored(let id) = ref else { return true }
        return userCache[UserKey(pid: pid, id: id)] != nil
    }

    private func ips(_ id: UInt64, user: Bool) -> ArraySlice<UInt64>? {
        if let s = stored[StoredKey(user: user, id: id)] { return pool[Int(s.offset)..<Int(s.offset + s.count)] }
        return source.frames(ofStack: id, user: user).map { $0[...] }
    }
}
