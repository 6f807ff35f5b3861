import CKtrace
import Foundation
import KtraceCore

/// Loads /proc/kallsyms on its own thread while sampling runs, so symbolizing at the end does not wait
/// for it (the kernel alone takes ~50 ms to produce the file).
final class KernelSymbolsLoader: @unchecked Sendable {
    private var result: Result<KernelSymbols, Error>?
    private let done = DispatchSemaphore(value: 0)

    init() {
        Thread.detachNewThread { [self] in
            result = Result { try KernelSymbols.load() }
            done.signal()
        }
    }

    /// Waits for the load; reports a failure (e.g. hidden addresses) once.
    lazy var symbols: KernelSymbols? = {
        done.wait()
        switch result {
        case .success(let s): return s
        case .failure(let e): note("\(e)"); return nil
        case nil: return nil
        }
    }()
}

/// Reads stacks from the kernel's stack-id map and names their frames, once per stack id.
final class StackResolver {
    private let handle: OpaquePointer
    private let kernelSymbols: KernelSymbolsLoader?
    let userSymbols = UserSymbolizer()
    private var kernelCache: [UInt64: [String]] = [:]
    private var userCache: [UserKey: [String]] = [:]

    private struct UserKey: Hashable { let pid: Int32; let id: UInt64 }

    /// `kernelStacks`: whether kernel stacks are sampled, so kallsyms is worth loading.
    init(handle: OpaquePointer, kernelStacks: Bool) {
        self.handle = handle
        kernelSymbols = kernelStacks ? KernelSymbolsLoader() : nil
    }

    private var kernelNames: [UInt64: String] = [:]

    /// Kernel frames repeat across stacks: each address is looked up and turned into a String once.
    private func kernelName(_ ip: UInt64) -> String {
        if let n = kernelNames[ip] { return n }
        let n = kernelSymbols?.symbols?.name(for: ip) ?? "0x" + String(ip, radix: 16)
        kernelNames[ip] = n
        return n
    }

    /// Every frame but the leaf is a return address, which may already belong to the next function when
    /// the call was a function's last instruction: look up the call instruction instead.
    private func callSite(_ ip: UInt64, leaf: Bool) -> UInt64 { leaf || ip == 0 ? ip : ip - 1 }

    private func ips(_ id: UInt64) -> [UInt64]? {
        var buf = [UInt64](repeating: 0, count: Int(KT_MAX_STACK))
        let n = kt_profile_read_stack(handle, id, &buf, Int32(buf.count))
        return n < 0 ? nil : Array(buf.prefix(Int(n)))
    }

    /// Kernel part of a sample (KT_STACK_NONE: none taken; KT_STACK_LOST: lost, counted by BPF).
    func kernel(_ id: UInt64) -> StackComposer.Part {
        if id == KT_STACK_NONE { return .none }
        if let cached = kernelCache[id] { return .frames(cached) }
        guard let ips = ips(id) else { return .missing }
        let names = ips.enumerated().map { kernelName(callSite($1, leaf: $0 == 0)) }
        kernelCache[id] = names
        return .frames(names)
    }

    func user(pid: Int32, _ id: UInt64) -> StackComposer.Part {
        if id == KT_STACK_NONE { return .none }
        let key = UserKey(pid: pid, id: id)
        if let cached = userCache[key] { return .frames(cached) }
        guard let ips = ips(id) else { return .missing }
        let names = ips.enumerated().map { userSymbols.name(pid: pid, address: callSite($1, leaf: $0 == 0)) }
        userCache[key] = names
        return .frames(names)
    }
}
