/// Thresholds shared by several rules. Each says where its number comes from; a rule's own thresholds
/// sit in the rule's file, documented the same way. docs/diagnose.md lists them all.
public enum DiagnoseThreshold {
    /// A CPU this busy is a bottleneck candidate: Brendan Gregg, "The USE Method"
    /// (brendangregg.com/usemethod.html): "high utilization (eg, beyond 70%) can begin to be a problem".
    public static let highUtilisation = 0.70

    /// "Most of": a cause must account for more than half of its symptom to be named as the cause of it.
    /// A definition (a majority), not a tuned number.
    public static let majority = 0.5

    /// "Most of" a quantity spread over `n` parts, judged against an even split: the part must exceed
    /// 1/n by a majority of what lies between an even split and all of it (n = 2: 75%; n = 4: 62.5%;
    /// n = 8: 56.25%). A plain majority is no concentration among two: the larger of two halves always
    /// has it (52% on one of two CPUs is a spread receive path). The same definition, relative to n.
    public static func concentrated(among n: Int) -> Double {
        let even = 1.0 / Double(max(n, 1))
        return even + majority * (1 - even)
    }

    /// Below this share of its basis an explanation is ruled out with its number rather than offered as
    /// a change worth making. ktrace's own floor, not from a source: 5% of a CPU, of the drops or of the
    /// load is within what one run's noise moves.
    public static let minimumShare = 0.05

    /// A receive-path stage is a finding when it takes at least twice an even split of NET_RX over the
    /// stages (2/11, about 18%). No source gives a number for this: the rule is relative to the NET_RX
    /// time measured, by ktrace's choice.
    public static let stageShare = 2.0 / Double(NetRxStage.table.count)
}
