import Foundation
import Testing
@testable import KtraceCore

/// Drops on `skb:kfree_skb`: how the kernel side's counts are named, which findings cite them, and the
/// report's list of them.
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

    /// A cause takes a drop by its reason; by its location only where the kernel gave no reason or left it
    /// NOT_SPECIFIED (the two cases where the location is all there is). Fails if a location overrides a
    /// reason that says otherwise.
    @Test func causesMatchByReasonElseByLocation() {
        let netfilter = DropCause.netfilter
        #expect(netfilter.matches(DropCount(reason: "NETFILTER_DROP", location: "nft_do_chain", count: 1)))
        #expect(netfilter.matches(DropCount(reason: nil, location: "nf_hook_slow", count: 1)))
        #expect(netfilter.matches(DropCount(reason: "NOT_SPECIFIED", location: "nf_conntrack_in [nf_conntrack]", count: 1)))
        #expect(!netfilter.matches(DropCount(reason: "NO_SOCKET", location: "nf_hook_slow", count: 1)))
        #expect(!netfilter.matches(DropCount(reason: nil, location: "tcp_v4_rcv", count: 1)))
        #expect(DropCause.cpuBacklog.matches(DropCount(reason: nil, location: "enqueue_to_backlog.isra.0", count: 1)))
        #expect(!DropCause.listenOverflow.matches(DropCount(reason: nil, location: "tcp_v4_rcv", count: 1)))
    }

    /// The conntrack scenario's netfilter drops back its finding, counted apart from the conntrack counter.
    @Test func conntrackFullCitesNetfilterDrops() throws {
        let f = try #require(try DiagnoseFixtures.diagnosis("conntrack-tiny-table").findings.first)
        #expect(f.id == "net.conntrack_full")
        let e = try #require(f.evidence.first { $0.source == DiagnoseSource.kfreeSkb })
        #expect(e.value == 38_100 && e.text.contains("(NETFILTER_DROP)"), "\(e.text)")
    }

    /// Backlog drops cite CPU_BACKLOG, or enqueue_to_backlog on a kernel without reasons; the same drops
    /// in the summary. Fails if the drops change the share (they are counted by softnet_stat already).
    @Test func backlogDropsCiteTheirReasonOrLocation() throws {
        var input = try DiagnoseFixtures.input("cpu-bound-control")
        input.softnet = [SoftnetCPU(cpu: 0, processed: 90_000, dropped: 1_200, timeSqueeze: 0)]
        for drops in [[DropCount(reason: "CPU_BACKLOG", location: "enqueue_to_backlog", count: 1_200)],
                      [DropCount(reason: nil, location: "enqueue_to_backlog", count: 1_200)]] {
            input.drops = drops + [DropCount(reason: "NO_SOCKET", location: "__udp4_lib_rcv", count: 9)]
            let d = Diagnosis(input)
            let f = try #require(d.findings.first { $0.id == "net.backlog_drops" })
            #expect(f.share == Share(1, of: .packetsLost))
            let e = try #require(f.evidence.first { $0.source == DiagnoseSource.kfreeSkb })
            #expect(e.value == 1_200 && e.text == "packets dropped at a full input backlog (\(drops[0].label))", "\(e.text)")
            #expect(d.drops?.top.first == drops[0] && d.drops?.total == 1_209)
        }
    }

    /// TCP_LISTEN_OVERFLOW backs an accept-queue overflow.
    @Test func listenOverflowCitesItsReason() throws {
        var input = try DiagnoseFixtures.input("listener-no-syncookies")
        var nss = try #require(input.namespaces)
        let i = try #require(nss.firstIndex { $0.name == "ktlab-sfs" })
        nss[i].counters?["TcpExt.ListenOverflows"] = 800
        input.namespaces = nss
        input.drops = [DropCount(reason: "TCP_LISTEN_OVERFLOW", location: "tcp_v4_rcv", count: 800)]
        let f = try #require(Diagnosis(input).findings.first { $0.id == "net.listen_overflow" })
        #expect(f.evidence.contains { $0.source == DiagnoseSource.kfreeSkb && $0.value == 800 })
    }

    /// Recorded on 6.18 with `--save-input`: an iptables DROP rule for UDP port 9 in a throwaway namespace
    /// and 100 packets sent to it within `ktrace diagnose -d 2` (the rule's counter said 100). The drops
    /// are listed with their reason and location, and no finding claims them: conntrack dropped nothing.
    /// Fails if a rule's DROP is taken for a full conntrack table.
    @Test func dropRuleIsListedNotClaimed() throws {
        let d = try DiagnoseFixtures.diagnosis("netfilter-drop-rule")
        #expect(d.drops?.top == [DropCount(reason: "NETFILTER_DROP", location: "nft_do_chain", count: 100)] && d.drops?.total == 100)
        #expect(!d.findings.contains { $0.evidence.contains { $0.source == DiagnoseSource.kfreeSkb } })
        #expect(d.ruledOut.contains { $0.id == "net.conntrack_full" })
        #expect(DiagnoseText.render(d).hasSuffix(
            "\nDrops by reason and location (tracepoint skb:kfree_skb, 100 packets): NETFILTER_DROP at nft_do_chain 100\n"))
    }

    /// The report lists the largest pairs once, what the rest add up to, and what was not counted by pair;
    /// "none" when drops were read and there were none; nothing when they were not read.
    @Test func reportListsTheLargestDrops() throws {
        var input = DiagnoseInput(windowSeconds: 2)
        input.drops = (1...7).map { DropCount(reason: "R\($0)", location: "f\($0)", count: UInt64(10 * $0)) }
        input.dropsNotListed = 3
        input.dropsNotCounted = 2
        let d = Diagnosis(input)
        let s = try #require(d.drops)
        #expect(s.top.map(\.count) == [70, 60, 50, 40, 30] && s.others == 20 + 10 + 3 && s.total == 285)
        #expect(DiagnoseText.render(d).hasSuffix("\nDrops by reason and location (tracepoint skb:kfree_skb, 285 packets): R7 at f7 70, "
            + "R6 at f6 60, R5 at f5 50, R4 at f4 40, R3 at f3 30, others 33, not counted by pair (table full or program skipped) 2\n"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(DiagnoseJSON.render(d).utf8)) as? [String: Any])
        let drops = try #require(json["drops"] as? [String: Any])
        #expect(drops["packets"] as? Int == 285 && drops["others"] as? Int == 33 && drops["not_counted"] as? Int == 2)
        #expect((drops["top"] as? [[String: Any]])?.first?["reason"] as? String == "R7")

        input = DiagnoseInput(windowSeconds: 2)
        input.drops = []
        #expect(DiagnoseText.render(Diagnosis(input)).hasSuffix("\nDrops by reason and location (tracepoint skb:kfree_skb): none\n"))
        input.drops = nil
        #expect(!DiagnoseText.render(Diagnosis(input)).contains("Drops"))
    }
}
