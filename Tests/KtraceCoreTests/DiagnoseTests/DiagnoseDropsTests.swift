import Foundation
import Testing
@testable import KtraceCore

/// Drops on `skb:kfree_skb`: how the kernel side's counts are named.
@Suite struct DiagnoseDropsTests {
    /// Reason names as the tracepoint prints them, from the enumerators of 6.18's enum skb_drop_reason.
    @Test func reasonNamesLoseTheirPrefix() {
        let names = DropNaming.reasonNames([("SKB_NOT_DROPPED_YET", 0), ("SKB_CONSUMED", 1), ("SKB_DROP_REASON_NOT_SPECIFIED", 2),
                                            ("SKB_DROP_REASON_NETFILTER_DROP", 12), ("SKB_DROP_REASON_SUBSYS_MASK", 0xffff_0000)])
        #expect(names == [0: "SKB_NOT_DROPPED_YET", 1: "SKB_CONSUMED", 2: "NOT_SPECIFIED", 12: "NETFILTER_DROP", 0xffff_0000: "SUBSYS_MASK"])
    }

    /// Two call sites in one function are one pair; what no name covers keeps its number; the pairs beyond
    /// the limit are summed, not lost. Fails if a kernel without reasons (nil) is shown a reason.
    @Test func pairsAreNamedSummedAndBounded() {
        let symbols: [UInt64: String] = [0x1000: "nf_hook_slow", 0x1010: "nf_hook_slow", 0x2000: "nf_conntrack_in [nf_conntrack]"]
        let raw = [
            DropNaming.Raw(reason: 12, location: 0x1000, count: 70), DropNaming.Raw(reason: 12, location: 0x1010, count: 30),
            DropNaming.Raw(reason: 0x10005, location: 0x2000, count: 40), DropNaming.Raw(reason: nil, location: 0xdead, count: 5),
            DropNaming.Raw(reason: 12, location: 0x2000, count: 0),
        ]
        let named = DropNaming.counts(raw, reasons: [12: "NETFILTER_DROP"], symbol: { symbols[$0] }, limit: 2)
        #expect(named.listed == [DropCount(reason: "NETFILTER_DROP", location: "nf_hook_slow", count: 100),
                                 DropCount(reason: "reason 65541", location: "nf_conntrack_in [nf_conntrack]", count: 40)])
        #expect(named.notListed == 5)
        let all = DropNaming.counts(raw, reasons: [:], symbol: { symbols[$0] })
        #expect(all.listed.last == DropCount(reason: nil, location: "0xdead", count: 5) && all.notListed == 0)
    }
}
