import CKtrace
import KtraceCore

/// Reads stacks from the kernel's stack-id map and names their frames, once per stack id.
final class StackResolver {
    private let handle: OpaquePointer
    private var kernelSymbols: KernelSymbols?
    private var kernelLoaded = false
    let userSymbols = UserSymbolizer()
    private var kernelCache: [Int32: [String]] = [:]
    private var userCache: [UInt64: [String]] = [:]

    init(handle: OpaquePointer) { self.handle = handle }

    private func kernelName(_ ip: UInt64) -> String {
        if !kernelLoaded {
            kernelLoaded = true
            do { kernelSymbols = try KernelSymbols.load() } catch { note("\(error)") }
        }
        return kernelSymbols?.name(for: ip) ?? "0x" + String(ip, radix: 16)
    }

    /// Every frame but the leaf is a return address, which may already belong to the next function when
    /// the call was a function's last instruction: look up the call instruction instead.
    private func callSite(_ ip: UInt64, leaf: Bool) -> UInt64 { leaf || ip == 0 ? ip : ip - 1 }

    private func ips(_ id: Int32) -> [UInt64]? {
        var buf = [UInt64](repeating: 0, count: Int(KT_MAX_STACK))
        let n = kt_profile_read_stack(handle, id, &buf, Int32(buf.count))
        return n < 0 ? nil : Array(buf.prefix(Int(n)))
    }

    /// Kernel part of a sample (-1: none taken; other negative ids are lost stacks, counted by BPF).
    func kernel(_ id: Int32) -> StackComposer.Part {
        if id == -1 { return .none }
        if let cached = kernelCache[id] { return .frames(cached) }
        guard id >= 0, let ips = ips(id) else { return .missing }
        let names = ips.enumerated().map { kernelName(callSite($1, leaf: $0 == 0)) }
        kernelCache[id] = names
        return .frames(names)
    }

    func user(pid: Int32, _ id: Int32) -> StackComposer.Part {
        if id == -1 { return .none }
        let key = UInt64(UInt32(bitPattern: pid)) << 32 | UInt64(UInt32(bitPattern: id))
        if let cached = userCache[key] { return .frames(cached) }
        guard id >= 0, let ips = ips(id) else { return .missing }
        let names = ips.enumerated().map { userSymbols.name(pid: pid, address: callSite($1, leaf: $0 == 0)) }
        userCache[key] = names
        return .frames(names)
    }
}
