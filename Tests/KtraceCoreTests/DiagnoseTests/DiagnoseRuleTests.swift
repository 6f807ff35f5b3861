import Foundation
import Testing
@testable import KtraceCore

/// The rules are driven by measured quantities, not by the lab's names: each test changes one
/// measurement of a recorded scenario and checks the diagnosis follows it.
@Suite struct DiagnoseRuleTests {
    /// Receive spread evenly over both CPUs, both busy: nothing to spread, so no net.rx_one_cpu. Fails if
    /// the rule keys on the RPS mask or the device rather than on where NET_RX time went.
    @Test func spreadReceiveIsNotRxOnOneCPU() throws {
        var input = try DiagnoseFixtures.input("synflood-rps-one-cpu")
        input.softirq = [SoftirqCPUTime(cpu: 0, vector: "net_rx", ns: 2_400_000_000, runs: 13_000),
                         SoftirqCPUTime(cpu: 1, vector: "net_rx", ns: 2_300_000_000, runs: 12_600)]
        input.cpus = [CPUTime(cpu: 0, user: 0.1, system: 1.9, softirq: 2.45, idle: 0.55),
                      CPUTime(cpu: 1, user: 0.2, system: 2.0, softirq: 2.35, idle: 0.45)]
        let d = Diagnosis(input)
        #expect(!d.findings.contains { $0.id == "net.rx_one_cpu" })
        #expect(d.ruledOut.contains { $0.id == "net.rx_one_cpu" })
    }

    /// The same measurements under other names give the same diagnosis with the new names in the commands.
    @Test func commandsFollowTheInputsNames() throws {
        var input = try DiagnoseFixtures.input("synflood-rps-one-cpu")
        var nss = try #require(input.namespaces)
        let i = try #require(nss.firstIndex { $0.name == "ktlab-host" })
        nss[i].name = "edge"
        nss[i].devices![0].name = "ens5"
        nss[i].devices![0].queues = [RxQueue(index: 0, rpsCPUs: [0]), RxQueue(index: 1, rpsCPUs: [0])]
        input.namespaces = nss
        let f = try #require(Diagnosis(input).findings.first)
        #expect(f.id == "net.rx_one_cpu")
        #expect(f.tries.first?.command
            == "ip netns exec edge sh -c 'echo 3 > /sys/class/net/ens5/queues/rx-0/rps_cpus; echo 3 > /sys/class/net/ens5/queues/rx-1/rps_cpus'")
        #expect(f.tries.dropFirst().first?.command == "sysctl -w net.core.rps_sock_flow_entries=32768 && ip netns exec edge sh -c "
            + "'echo 16384 > /sys/class/net/ens5/queues/rx-0/rps_flow_cnt; echo 16384 > /sys/class/net/ens5/queues/rx-1/rps_flow_cnt'")
    }

    /// A namespace without a name (a container's) is named and entered by a process in it.
    @Test func unnamedNamespaceIsEnteredThroughItsProcess() throws {
        var input = try DiagnoseFixtures.input("listener-no-syncookies")
        var nss = try #require(input.namespaces)
        let i = try #require(nss.firstIndex { $0.name == "ktlab-ctr" })
        nss[i].name = nil
        input.namespaces = nss
        let f = try #require(Diagnosis(input).findings.first)
        #expect(f.cause.contains("in the netns of nginx (pid 4301)"))
        #expect(f.tries.first?.command == "nsenter -t 4301 -n sysctl -w net.ipv4.tcp_syncookies=1")
    }

    /// Interrupts of several hardware queues all on one CPU: the change is IRQ affinity, one CPU each.
    @Test func irqAffinityIsSpreadOverCPUs() throws {
        var input = try DiagnoseFixtures.input("synflood-rps-one-cpu")
        var nss = try #require(input.namespaces)
        let i = try #require(nss.firstIndex { $0.isInit == true })
        nss[i].devices = [NetDevice(name: "eth1", driver: "ixgbe", rxPackets: 900_000,
                                    queues: [RxQueue(index: 0, irq: 41, irqCPUs: [0]), RxQueue(index: 1, irq: 42, irqCPUs: [0])])]
        for j in nss.indices where j != i { nss[j].devices = [] }
        input.namespaces = nss
        let f = try #require(Diagnosis(input).findings.first)
        #expect(f.id == "net.rx_one_cpu")
        #expect(f.cause.contains("2 receive queues of eth1 (the host's namespace) go to CPU 0"))
        #expect(f.tries.first?.command == "echo 0 > /proc/irq/41/smp_affinity_list; echo 1 > /proc/irq/42/smp_affinity_list")
    }

    /// Backlog drops are found by the counter, and their share is of all packets lost.
    @Test func backlogDropsShareOfLoss() throws {
        var input = try DiagnoseFixtures.input("conntrack-tiny-table")
        input.softnet = [SoftnetCPU(cpu: 0, processed: 129_000, dropped: 12_700, timeSqueeze: 900),
                         SoftnetCPU(cpu: 1, processed: 2_100, dropped: 0, timeSqueeze: 0)]
        let d = Diagnosis(input)
        let f = try #require(d.findings.first { $0.id == "net.backlog_drops" })
        #expect(f.share == Share(12_700.0 / (12_700 + 38_100), of: .packetsLost))
        #expect(f.tries.map(\.command).prefix(2) == ["sysctl -w net.core.netdev_max_backlog=2000",
                                                     "sysctl -w net.core.netdev_budget=600 && sysctl -w net.core.netdev_budget_usecs=4000"])
        #expect(d.findings.map(\.id).prefix(2) == ["net.conntrack_full", "net.backlog_drops"], "ranked by their share of the loss")
    }

    /// Nothing measured: every rule says what it lacked, and the report says there is no finding.
    @Test func missingDataIsNamed() {
        let d = Diagnosis(DiagnoseInput(windowSeconds: 5))
        #expect(d.findings.isEmpty)
        #expect(d.notEvaluated.count == DiagnoseCatalogue.rules.count)
        #expect(d.notEvaluated.allSatisfy { !$0.missing.isEmpty })
        #expect(DiagnoseText.render(d).contains("No finding"))
    }

    /// Direct reclaim found from vmstat, with the watermark change computed from the current value.
    @Test func directReclaimIsMemoryReclaim() throws {
        var input = try DiagnoseFixtures.input("cpu-bound-control")
        input.vmstat = ["allocstall_normal": 420, "allocstall_movable": 80, "pgscan_direct": 96_000, "pgsteal_direct": 61_000,
                        "pgscan_kswapd": 310_000, "pgsteal_kswapd": 250_000]
        input.psi = PSIObservation(memorySome: 22.5, memoryFull: 9.1)
        input.sysctls = ["vm.watermark_scale_factor": 10]
        let f = try #require(Diagnosis(input).findings.first { $0.id == "memory.reclaim" })
        #expect(f.share == Share(0.225, of: .stallTime))
        #expect(f.cause.contains("direct reclaim 500 times"))
        #expect(f.tries.first?.command == "sysctl -w vm.watermark_scale_factor=20")
    }

    /// Ranking compares shares as printed, and keeps catalogue order on a tie.
    @Test func tiesKeepCatalogueOrder() throws {
        struct Fixed: DiagnoseRule {
            let id: String
            let meaning = "test"
            let value: Double
            func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
                .finding(Finding(id: id, title: id, share: Share(value, of: .cpu), evidence: [], cause: "", tries: [],
                                 confirm: Confirm("ktrace x", "n", .down)))
            }
        }
        let d = Diagnosis(DiagnoseInput(windowSeconds: 1), rules: [Fixed(id: "a", value: 0.30001), Fixed(id: "b", value: 0.3),
                                                                    Fixed(id: "c", value: 0.9)])
        #expect(d.findings.map(\.id) == ["c", "a", "b"])
    }

    @Test func cpuMasksAndLists() {
        #expect(Shell.cpuMask([0]) == "1")
        #expect(Shell.cpuMask([0, 1]) == "3")
        #expect(Shell.cpuMask([32]) == "1,00000000")
        #expect(Shell.cpuMask([0, 33]) == "2,00000001")
        #expect(Shell.cpuList([5, 0, 1, 2]) == "0-2,5")
    }

    /// docs/diagnose.md documents every id of the catalogue (automation keys on them).
    @Test func catalogueIsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/diagnose.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for id in DiagnoseCatalogue.ids { #expect(text.contains("`\(id)`"), "\(id) missing from docs/diagnose.md") }
    }
}
