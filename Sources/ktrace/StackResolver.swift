import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

/// Loads /proc/kallsyms on its own thread while sampling runs, so symbolizing at the end does not wait
/// for it (the kernel alone takes ~50 ms to produce the file).
final class KernelSymbolsLoader: @unchecked Sendable {  // `result` is written by the thread before join
    private var result: Result<KernelSymbols, Error>?
    private var thread = pthread_t()
    private var running = false

    init() {
        let context = Unmanaged.passRetained(self).toOpaque()
        running = pthread_create(&thread, nil, { context in
            let loader = Unmanaged<KernelSymbolsLoader>.fromOpaque(context!).takeRetainedValue()
            loader.result = Result { try KernelSymbols.load() }
            kt_trim_heap()  // the parse's freed memory sits in this thread's malloc arena otherwise
            return nil
        }, context) == 0
        if !running {
            Unmanaged<KernelSymbolsLoader>.fromOpaque(context).release()
            result = Result { try KernelSymbols.load() }
        }
    }

    /// Waits for the load; reports a failure (e.g. hidden addresses) once.
    lazy var symbols: KernelSymbols? = {
        if running { pthread_join(thread, nil); running = false }
        switch result {
        case .success(let s): return s
        case .failure(let e): note("\(e)"); return nil
        case nil: return nil
        }
    }()
}

/// Reads stacks from the kernel's stack-id map and names their frames, once per stack id. Names are
/// interned in one table, so a stack is an array of small ids until text is written.
final class StackResolver {
    private let handle: OpaquePointer
    private let kernelSymbols: KernelSymbolsLoader?
    let userSymbols = UserSymbolizer()
    private(set) var table = FrameTable()
    private var kernelNameIDs: [UInt64: Int32] = [:]    // by call-site address
    private var annotatedNameIDs: [UInt64: Int32] = [:] // the same, "_[k]"-suffixed
    private var annotatedIDs: [Int32: Int32] = [:]      // kernel frame -> the same with "_[k]"
    private var userNameIDs: [UserKey: Int32] = [:]     // by (pid, call-site address)
    private var kernelCache: [UInt64: [Int32]] = [:]    // by stack id
    private var annotatedCache: [UInt64: [Int32]] = [:]
    private var userCache: [UserKey: [Int32]] = [:]

    private struct UserKey: Hashable { let pid: Int32; let id: UInt64 }

    private let demangle: Bool
    private var demangled: [String: String] = [:]

    /// `kernelStacks`: whether kernel stacks are sampled, so kallsyms is worth loading.
    init(handle: OpaquePointer, kernelStacks: Bool, demangle: Bool = true) {
        self.handle = handle
        self.demangle = demangle
        kernelSymbols = kernelStacks ? KernelSymbolsLoader() : nil
    }

    /// C++ and Swift names as people read them, once per distinct symbol.
    private func readable(_ name: String) -> String {
        guard demangle, name.hasPrefix("_Z") || name.hasPrefix("$s") || name.hasPrefix("_$s") || name.hasPrefix("$S")
                || name.hasPrefix("_T0") else { return name }
        if let d = demangled[name] { return d }
        var buf = [CChar](repeating: 0, count: 4096)
        let d = kt_demangle(name, &buf, buf.count) == 1
            ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : name
        demangled[name] = d
        return d
    }

    func id(_ name: String) -> Int32 { table.id(name) }

    /// Kernel frames repeat across stacks: each address is looked up and named once.
    private func kernelNameID(_ ip: UInt64) -> Int32 {
        if let n = kernelNameIDs[ip] { return n }
        let n = table.id(kernelSymbols?.symbols?.name(for: ip) ?? "0x" + String(ip, radix: 16))
        kernelNameIDs[ip] = n
        return n
    }

    private func annotatedNameID(_ ip: UInt64) -> Int32 {
        if let n = annotatedNameIDs[ip] { return n }
        let n = annotated(kernelNameID(ip))
        annotatedNameIDs[ip] = n
        return n
    }

    func annotated(_ frame: Int32) -> Int32 {
        if let a = annotatedIDs[frame] { return a }
        let a = table.id(StackComposer.annotated(kernelFrame: table[frame]))
        annotatedIDs[frame] = a
        return a
    }

    /// Every frame but the leaf is a return address, which may already belong to the next function when
    /// the call was a function's last instruction: look up the call instruction instead.
    private func callSite(_ ip: UInt64, leaf: Bool) -> UInt64 { leaf || ip == 0 ? ip : ip - 1 }

    /// Frames of the stored stacks, read in batches by `prefetch`: offset and count in `pool`, by stack id
    /// (kernel and user stacks are kept in separate maps, so ids are per map).
    private var pool: [UInt64] = []
    private var stored: [StoredKey: (offset: Int32, count: Int32)] = [:]
    private struct StoredKey: Hashable { let user: Bool; let id: UInt64 }

    /// Reads every stack stored so far, 256 per syscall, so naming them costs no syscall per stack
    /// (thousands of stacks: one lookup each took longer than all the naming). `unnamed`: how many stack
    /// ids the caller still has to name; for a few, one lookup each is cheaper than reading the maps.
    func prefetch(unnamed: Int = .max) {
        guard unnamed > 64 else { return }
        let batch = 256, width = Int(KT_MAX_STACK)
        var ids = [UInt64](repeating: 0, count: batch), ips = [UInt64](repeating: 0, count: batch * width)
        for user in [false, true] {
            var cursor = kt_stack_cursor()
            while cursor.done == 0 {
                let n = Int(kt_profile_read_stacks(handle, user ? 1 : 0, &cursor, &ids, &ips, Int32(batch)))
                guard n >= 0 else { break }  // the stacks not read are looked up one by one
                for i in 0..<n where stored[StoredKey(user: user, id: ids[i])] == nil {
                    let frames = ips[(i * width)..<((i + 1) * width)]
                    let count = frames.firstIndex(of: 0).map { $0 - i * width } ?? width
                    stored[StoredKey(user: user, id: ids[i])] = (Int32(pool.count), Int32(count))
                    pool.append(contentsOf: frames.prefix(count))
                }
            }
        }
    }

    /// The prefetched frames are only needed until their stacks are named (names are cached by id).
    func dropFrames() {
        pool = []
        stored = [:]
    }

    /// Whether this stack id's names are cached already (`prefetch` need not read it).
    func isNamed(kernel id: UInt64) -> Bool { id == KT_STACK_NONE || kernelCache[id] != nil || annotatedCache[id] != nil }
    func isNamed(user id: UInt64, pid: Int32) -> Bool { id == KT_STACK_NONE || userCache[UserKey(pid: pid, id: id)] != nil }

    private func ips(_ id: UInt64, user: Bool) -> ArraySlice<UInt64>? {
        if let s = stored[StoredKey(user: user, id: id)] { return pool[Int(s.offset)..<Int(s.offset + s.count)] }
        var buf = [UInt64](repeating: 0, count: Int(KT_MAX_STACK))
        let n = kt_profile_read_stack(handle, user ? 1 : 0, id, &buf, Int32(buf.count))
        return n < 0 ? nil : buf.prefix(Int(n))
    }

    /// Kernel part of a sample as name ids, `_[k]`-suffixed if `annotated` (KT_STACK_NONE: none taken;
    /// KT_STACK_LOST: lost, counted by BPF).
    func kernelFrames(_ id: UInt64, annotated: Bool = false) -> StackPart<Int32> {
        if id == KT_STACK_NONE { return .none }
        if let cached = annotated ? annotatedCache[id] : kernelCache[id] { return .frames(cached) }
        guard let ips = ips(id, user: false) else { return .missing }
        let first = ips.startIndex
        let frames = ips.indices.map { i in
            let ip = callSite(ips[i], leaf: i == first)
            return annotated ? annotatedNameID(ip) : kernelNameID(ip)
        }
        if annotated { annotatedCache[id] = frames } else { kernelCache[id] = frames }
        return .frames(frames)
    }

    func userFrames(pid: Int32, _ id: UInt64) -> StackPart<Int32> {
        if id == KT_STACK_NONE { return .none }
        let key = UserKey(pid: pid, id: id)
        if let cached = userCache[key] { return .frames(cached) }
        guard let ips = ips(id, user: true) else { return .missing }
        let first = ips.startIndex
        let frames = ips.indices.map { i -> Int32 in
            let at = UserKey(pid: pid, id: callSite(ips[i], leaf: i == first))
            if let n = userNameIDs[at] { return n }
            let name = userSymbols.name(pid: pid, address: at.id)
            let n = table.id(readable(name))
            // Not an unknown one: a later read of the maps (dlopen, JIT) may still name it.
            if !name.hasPrefix("[unknown]") { userNameIDs[at] = n }
            return n
        }
        userCache[key] = frames
        return .frames(frames)
    }

    private func names(_ part: StackPart<Int32>) -> StackComposer.Part {
        switch part {
        case .frames(let f): .frames(f.map { table[$0] })
        case .none: .none
        case .missing: .missing
        }
    }

    /// The same parts as names, for the timeline and JSON.
    func kernel(_ id: UInt64) -> StackComposer.Part { names(kernelFrames(id)) }
    func user(pid: Int32, _ id: UInt64) -> StackComposer.Part { names(userFrames(pid: pid, id)) }
}
