import CKtrace
import KtraceCore

/// diagnose's count of packets freed as dropped (`skb:kfree_skb`) per drop reason and location, attached
/// while this object lives and counting from `start()`.
final class DropsSession {
    private let handle: OpaquePointer

    init(attach: AttachKind) throws(KernelError) {
        var h: OpaquePointer?
        try cCall { kt_drops_open(&h, attach.cValue, $0, $1) }
        guard let h else { throw KernelError("kt_drops_open returned no handle") }
        handle = h
    }

    deinit { kt_drops_close(handle) }

    func start() throws(KernelError) {
        let rc = kt_drops_start(handle)
        if rc != 0 { throw KernelError("starting the drop count: \(errnoText(rc))") }
    }

    /// Every pair counted since `start()`, and the drops not counted by pair.
    func read() throws(KernelError) -> (pairs: [DropNaming.Raw], notCounted: UInt64) {
        let cap = Int(kt_drops_capacity(handle))
        var keys = [kt_drop_key](repeating: kt_drop_key(), count: cap)
        var counts = [UInt64](repeating: 0, count: cap)
        let n = kt_drops_read(handle, &keys, &counts, Int32(cap))
        if n < 0 { throw KernelError("reading the drop counts: \(errnoText(n))") }
        var stats = kt_drops_stats(), skipped: UInt64 = 0
        let rc = kt_drops_read_stats(handle, &stats, &skipped)
        if rc != 0 { throw KernelError("reading the drop counters: \(errnoText(rc))") }
        let pairs = (0..<Int(n)).map { i in
            DropNaming.Raw(reason: keys[i].reason == KT_DROP_NO_REASON ? nil : keys[i].reason, location: keys[i].location, count: counts[i])
        }
        return (pairs, stats.table_full + skipped)
    }

    /// The running kernel's drop reasons by number (its BTF's enum skb_drop_reason; empty before 5.17).
    static func reasonNames() -> [UInt32: String] {
        var enumerators: [(name: String, value: UInt32)] = []
        var name: UnsafePointer<CChar>?, value: UInt32 = 0
        while kt_btf_enumerator("skb_drop_reason", Int32(enumerators.count), &name, &value) == 0, let name {
            enumerators.append((String(cString: name), value))
        }
        return DropNaming.reasonNames(enumerators)
    }
}
