/// The drops the report lists once, whether or not a finding cites them: the largest pairs, and what the
/// others add up to.
public struct DropSummary: Sendable, Equatable {
    /// Pairs the report names.
    public static let shown = 5

    public var top: [DropCount]
    /// The drops of the pairs beyond `top`, listed in the input or not.
    public var others: UInt64
    /// Drops not counted by pair (`DiagnoseInput.dropsNotCounted`).
    public var notCounted: UInt64

    public var total: UInt64 { top.reduce(others + notCounted) { $0 + $1.count } }

    /// Nil when drops were not measured.
    init?(_ input: DiagnoseInput) {
        guard let drops = input.drops else { return nil }
        // Largest first whatever order a recorded input has; equal counts in its order.
        let ranked = drops.enumerated().sorted { ($0.1.count, $1.0) > ($1.1.count, $0.0) }.map(\.1)
        top = Array(ranked.prefix(Self.shown))
        others = ranked.dropFirst(Self.shown).reduce(input.dropsNotListed ?? 0) { $0 + $1.count }
        notCounted = input.dropsNotCounted ?? 0
    }
}

extension DropCount {
    /// "NETFILTER_DROP at nf_hook_slow"; the location alone where the kernel gives no reason.
    public var label: String {
        switch (reason, location) {
        case let (r?, l?): "\(r) at \(l)"
        case let (r?, nil): r
        case let (nil, l?): "at \(l)"
        case (nil, nil): "unknown"
        }
    }
}
