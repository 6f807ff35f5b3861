import Foundation
import Testing
@testable import KtraceCore

/// The lab scenarios of issue 19 as recorded inputs: each plants one cause, and the diagnosis must rank
/// it first, with the change naming the real device, namespace or process.
@Suite struct DiagnoseScenarioTests {
    /// The seed case: a SYN flood with RPS steering veth-cli's receive to CPU 0. Fails if the rule does
    /// not name the device and namespace the RPS mask is on, or ranks the SYN cookies above the saturated CPU.
    @Test func seedIsRxOnOneCPU() throws {
        let d = try DiagnoseFixtures.diagnosis("synflood-rps-one-cpu")
        let f = try #require(d.findings.first)
        #expect(f.id == "net.rx_one_cpu")
        #expect(f.share.basis == .cpu && f.share.cpu == 0)
        #expect(abs(f.share.value - 0.934) < 0.001)
        #expect(f.cause.contains("veth-cli") && f.cause.contains("netns ktlab-host"))
        #expect(f.tries.first?.command == "ip netns exec ktlab-host sh -c 'echo 3 > /sys/class/net/veth-cli/queues/rx-0/rps_cpus'")
        #expect(f.confirm.command == "ktrace softirq -C 1 5" && f.confirm.expect == .down)
        // The flood is real too, absorbed by cookies in the container's namespace: second, for its CPU cost.
        #expect(d.findings.map(\.id) == ["net.rx_one_cpu", "net.syn_flood"])
        let syn = d.findings[1]
        #expect(syn.cause.contains("never complete the handshake") && syn.cause.contains("netns ktlab-ctr"))
        // The SYN-ACKs enter the bridge and are passed up to the host, whose hooks they meet anyway.
        #expect(d.ruledOut.contains { $0.id == "net.bridge_netfilter" })
        #expect(d.ruledOut.contains { $0.id == "net.conntrack_cost" })
    }

    /// A long chain of unmatched rules on the forwarding path, recorded on 6.18 from `lab.sh up` and
    /// `lab.sh rules 14` (5000 rules in a chain jumped to first from the host's FORWARD, SYNs paced at
    /// u500). Fails if the chain is not named with its rule count, or the change is not in its namespace
    /// and chain, or the SYN-ACKs the bridge passes up to the host (br_pass_frame_up a tail call, gone
    /// from their stacks) are taken for frames it forwards between ports.
    @Test func longChainIsNetfilterRules() throws {
        let d = try DiagnoseFixtures.diagnosis("netfilter-long-chain")
        let f = try #require(d.findings.first)
        #expect(f.id == "net.netfilter_rules")
        #expect(f.cause.contains("5000 rules of filter ktlab_rules in netns ktlab-host"))
        #expect(f.tries.first?.command
            == "ip netns exec ktlab-host iptables -w -t filter -I ktlab_rules 1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")
        #expect(f.confirm.command == "ktrace diagnose -d 5" && f.confirm.number.hasPrefix("CPU 0's time in netfilter rules"))
        #expect(d.ruledOut.contains { $0.id == "net.bridge_netfilter" }, "\(d.findings.map(\.id))")
    }

    /// A tiny conntrack table: every lost packet is a conntrack drop. Fails if the limit is not raised from
    /// the measured one.
    @Test func tinyTableIsConntrackFull() throws {
        let d = try DiagnoseFixtures.diagnosis("conntrack-tiny-table")
        let f = try #require(d.findings.first)
        #expect(f.id == "net.conntrack_full")
        #expect(f.share == Share(1, of: .packetsLost))
        #expect(f.tries.first?.command == "sysctl -w net.netfilter.nf_conntrack_max=512 && sysctl -w net.netfilter.nf_conntrack_buckets=512")
        #expect(f.tries.dropFirst().first?.command == "ip netns exec ktlab-host iptables -w -t raw -I PREROUTING -i veth-cli -j CT --notrack")
        #expect(f.confirm.expect == .zero)
    }

    /// A listener without SYN cookies and a small backlog, flooded by sources that never answer: recorded
    /// on 6.18 from `lab.sh synflood 12` (nginx, backlog 16, tcp_syncookies=0, SYNs every 500 us).
    @Test func listenerWithoutCookiesIsSynFlood() throws {
        let d = try DiagnoseFixtures.diagnosis("listener-no-syncookies")
        let f = try #require(d.findings.first)
        #expect(f.id == "net.syn_flood")
        #expect(f.share == Share(1, of: .packetsLost))
        #expect(f.cause.contains("tcp_syncookies=0") && f.cause.contains("nginx (pid 19185) listening on 10.231.4.1:80 with backlog 16"))
        #expect(f.tries.first?.command == "ip netns exec ktlab-sfs sysctl -w net.ipv4.tcp_syncookies=1")
        #expect(f.tries.dropFirst().first?.command
            == "ip netns exec ktlab-sfs sysctl -w net.ipv4.tcp_max_syn_backlog=256", "somaxconn (4096) is not what caps a backlog of 16")
        #expect(f.tries.dropFirst().first?.change.contains("nginx asks for a backlog of only 16") == true)
        #expect(f.tries.count == 2, "NET_RX is a few percent of a CPU: no RPS change")
        #expect(d.ruledOut.contains { $0.id == "net.listen_overflow" })
    }

    /// Namespace churn: cleanup_net dominates the kworkers, queued by many short-lived `ip` processes of
    /// one cgroup. Fails if the queuers are reported per pid (141 entries of 1) instead of as one churner.
    @Test func netnsChurnIsKworkerWork() throws {
        let d = try DiagnoseFixtures.diagnosis("netns-churn")
        let f = try #require(d.findings.first)
        #expect(f.id == "kworker.work")
        #expect(f.cause.hasPrefix("Network namespaces are being destroyed"))
        #expect(f.cause.contains("ip (141 processes, e.g. pid 7001, cgroup /user.slice/user-0.slice/session-3.scope)"))
        #expect(f.tries.first?.command == "ktrace stacks --comm 'ip' --event tracepoint:workqueue:workqueue_queue_work -d 10")
        #expect(f.confirm.command == "ktrace kthreads 5 1 --comm 'kworker*'")
    }

    /// A D-state load on a slowed device: the load is the waiters, grouped by wait channel.
    @Test func dStateIsLoadUninterruptible() throws {
        let d = try DiagnoseFixtures.diagnosis("d-state-load")
        let f = try #require(d.findings.first)
        #expect(f.id == "load.uninterruptible")
        #expect(f.share.basis == .loadAverage && abs(f.share.value - 32.0 / 33.2) < 1e-9)
        #expect(f.cause.contains("20 wait in folio_wait_bit_common"))
        #expect(f.cause.contains("kernel stack filemap_read > folio_wait_bit_common,"), "\(f.cause)")
        #expect(d.findings.count == 1)
    }

    /// The control: a CPU-bound application. cpu.user first, and no network finding at all: the little
    /// NET_RX there is must not be read as a cause.
    @Test func controlIsCPUUserWithoutNetworkFindings() throws {
        let d = try DiagnoseFixtures.diagnosis("cpu-bound-control")
        let f = try #require(d.findings.first)
        #expect(f.id == "cpu.user")
        #expect(f.tries.first?.command == "ktrace stacks --pid 9001 -d 10 -o burn.svg")
        #expect(!d.findings.contains { $0.id.hasPrefix("net.") })
    }

    /// Every scenario: findings ranked by share, and each finding complete (evidence with sources,
    /// a command, a confirming number); each id from the catalogue.
    @Test(arguments: DiagnoseFixtures.scenarios)
    func findingsAreRankedAndComplete(_ name: String) throws {
        let d = try DiagnoseFixtures.diagnosis(name)
        #expect(!d.findings.isEmpty)
        let shares = d.findings.map(\.share.value)
        #expect(shares == shares.sorted(by: >))
        for f in d.findings {
            #expect(DiagnoseCatalogue.ids.contains(f.id))
            #expect(!f.evidence.isEmpty && f.evidence.allSatisfy { !$0.source.isEmpty && $0.value.isFinite })
            #expect(!f.tries.isEmpty && f.tries.allSatisfy { !$0.command.isEmpty && !$0.change.isEmpty })
            #expect(f.confirm.command.hasPrefix("ktrace "))
            #expect(f.cause.hasSuffix("."))
        }
        // Every rule is accounted for once: found, ruled out or not evaluated.
        let seen = d.findings.map(\.id) + d.ruledOut.map(\.id) + d.notEvaluated.map(\.id)
        #expect(seen.sorted() == DiagnoseCatalogue.ids.sorted())
    }
}
