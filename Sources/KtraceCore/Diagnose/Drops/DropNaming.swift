/// Turns what the kernel side counted on `skb:kfree_skb` (a reason number and a text address per pair)
/// into `DropCount`s: reasons named from the running kernel's enum skb_drop_reason, locations by kernel
/// symbol, pairs that name the same reason and function summed.
public enum DropNaming {
    /// How many pairs `DiagnoseInput.drops` keeps; the drops of the others go to `dropsNotListed`.
    public static let listed = 50

    /// include/net/dropreason-core.h builds every reason as `SKB_DROP_REASON_##reason`, and the tracepoint
    /// prints it without the prefix (`NETFILTER_DROP`): so does ktrace.
    static let prefix = "SKB_DROP_REASON_"

    /// One pair as the kernel side counted it.
    public struct Raw: Sendable {
        /// nil where the kernel's tracepoint has no reason.
        public var reason: UInt32?
        public var location: UInt64
        public var count: UInt64

        public init(reason: UInt32?, location: UInt64, count: UInt64) {
            self.reason = reason; self.location = location; self.count = count
        }
    }

    /// enum skb_drop_reason's enumerators, by value, without the prefix (names without it, such as
    /// SKB_CONSUMED, kept whole). A value named twice keeps its first name.
    public static func reasonNames(_ enumerators: [(name: String, value: UInt32)]) -> [UInt32: String] {
        var names: [UInt32: String] = [:]
        for (name, value) in enumerators where names[value] == nil {
            names[value] = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
        }
        return names
    }

    /// The pairs named and summed, largest first (equal counts by reason, then location), the first
    /// `limit` of them, and the drops of the rest. A reason the enum does not name (a subsystem's: its
    /// id in the upper 16 bits) is shown as its number; an address no symbol covers, in hex.
    public static func counts(_ raw: [Raw], reasons: [UInt32: String], symbol: (UInt64) -> String?,
                              limit: Int = listed) -> (listed: [DropCount], notListed: UInt64) {
        struct Key: Hashable { var reason: String?, location: String }
        var sums: [Key: UInt64] = [:]
        for r in raw where r.count > 0 {
            let reason = r.reason.map { reasons[$0] ?? "reason \($0)" }
            let location = symbol(r.location) ?? "0x" + String(r.location, radix: 16)
            sums[Key(reason: reason, location: location), default: 0] += r.count
        }
        let sorted = sums.sorted { a, b in
            (a.value, b.key.reason ?? "", b.key.location) > (b.value, a.key.reason ?? "", a.key.location)
        }
        let rows = sorted.prefix(limit).map { DropCount(reason: $0.key.reason, location: $0.key.location, count: $0.value) }
        return (rows, sorted.dropFirst(limit).reduce(0) { $0 + $1.value })
    }
}
