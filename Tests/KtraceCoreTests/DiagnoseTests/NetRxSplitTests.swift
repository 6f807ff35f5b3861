import Foundation
import Testing
@testable import KtraceCore

/// The stage split on a small folded file whose shares are known by hand (Fixtures/diagnose/netrx-split.folded).
@Suite struct NetRxSplitTests {
    static func split() throws -> NetRxSplit {
        let text = try DiagnoseFixtures.text("netrx-split", "folded")
        return NetRxSplit(try FoldedProfile.parse(text))
    }

    /// 120 NET_RX samples: the 40 [softirq:timer] and 50 syscall samples are not NET_RX; the unmarked
    /// stack with net_rx_action is.
    @Test func selectsNetRxSamples() throws {
        let s = try Self.split()
        #expect(s.total == 120)
        #expect(s.skipped == 90)
    }

    /// Each sample goes to the stage of its deepest matching frame: ipt_do_table under br_nf_pre_routing is
    /// rule evaluation, tcp_mt (no stage) falls back to ipt_do_table, mystery_fn (no stage anywhere) is other.
    @Test func deepestStageWins() throws {
        let s = try Self.split()
        let samples = Dictionary(uniqueKeysWithValues: s.rows.map { ($0.stage, $0.samples) })
        #expect(samples == ["driver": 15, "gro": 10, "bridge": 0, "bridge_netfilter": 0, "netfilter_rules": 40, "conntrack": 20,
                            "nat": 0, "routing": 10, "tcp_listen": 5, "socket": 0, "transmit": 10, "other": 10])
        #expect(s.rows.map(\.samples).reduce(0, +) == s.total, "every NET_RX sample in exactly one stage")
        #expect(abs(s.share("netfilter_rules") - 40.0 / 120) < 1e-12)
    }

    /// Which frames the bridge decided on, from the functions br_handle_frame_finish called: 10 forwarded to
    /// a port, 30 passed up to the host (br_pass_frame_up a tail call, gone: netif_receive_skb right under
    /// it), 60 that only updated the forwarding table. The receive path below br_handle_frame, on every
    /// bridged frame's stack, decides nothing: counted as passed up, the part forwarded read 0.1, not 0.25.
    @Test func bridgeForwardedPartReadsOnlyWhatTheBridgeCalled() throws {
        let below = "ksoftirqd/0;[softirq:net_rx];net_rx_action;__napi_poll;process_backlog;__netif_receive_skb;"
            + "__netif_receive_skb_one_core;br_handle_frame;br_handle_frame_finish"
        let text = """
            \(below);br_forward;__br_forward;br_dev_queue_push_xmit 10
            \(below);netif_receive_skb;__netif_receive_skb_one_core;ip_rcv;ip_forward 30
            \(below);br_fdb_update 60
            """
        let split = NetRxSplit(try FoldedProfile.parse(text))
        #expect(abs(BridgeNetfilterRule.forwardedPart(split) - 0.25) < 1e-12)
    }

    /// Inclusive counts: samples with the stage anywhere on the stack.
    @Test func inclusiveCounts() throws {
        let s = try Self.split()
        #expect(s.row("bridge_netfilter")?.inclusiveSamples == 10)
        #expect(s.row("bridge")?.inclusiveSamples == 10)
        #expect(s.row("routing")?.inclusiveSamples == 40)   // ip_rcv in the conntrack, transmit and cgroup stacks
        #expect(s.row("driver")?.inclusiveSamples == 110)   // all but mystery_fn
    }

    /// Compiler suffixes and perf's _[k] are removed before matching; the top function is named without them.
    @Test func namesWithoutSuffixes() throws {
        let s = try Self.split()
        #expect(s.row("conntrack")?.topFunction == "__nf_conntrack_find_get")
        #expect(s.row("gro")?.topFunction == "dev_gro_receive")
        #expect(s.row("netfilter_rules")?.topFunction == "ipt_do_table")
    }

    /// The globs: suffix, prefix and infix patterns, and the near misses they must not take.
    @Test func globs() {
        #expect(FunctionGlob.matches("*_poll", "virtnet_poll"))
        #expect(!FunctionGlob.matches("*_poll", "ep_poll_callback"))
        #expect(FunctionGlob.matches("*_gro_*", "inet_gro_receive"))
        #expect(!FunctionGlob.matches("*_gro_*", "__cgroup_bpf_run_filter_skb"), "cgroup is not GRO")
        #expect(FunctionGlob.matches("nf_ct_*", "nf_ct_get_tuple"))
        #expect(FunctionGlob.matches("br_nf_*", "br_nf_pre_routing"))
        #expect(!FunctionGlob.matches("br_nf_*", "br_handle_frame"))
        #expect(FunctionGlob.functionName("finish_task_switch.isra.0_[k]") == "finish_task_switch")
    }

    /// Every stage has patterns and a meaning; ids are unique (they are JSON keys).
    @Test func stageTableIsWellFormed() {
        let ids = NetRxStage.table.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(!ids.contains(NetRxStage.otherID))
        for st in NetRxStage.table { #expect(!st.patterns.isEmpty && !st.meaning.isEmpty) }
        #expect(ids == ["driver", "gro", "bridge", "bridge_netfilter", "netfilter_rules", "conntrack", "nat", "routing", "tcp_listen",
                        "socket", "transmit"])
    }
}
