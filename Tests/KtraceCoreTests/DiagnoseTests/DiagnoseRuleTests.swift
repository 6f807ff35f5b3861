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

    /// After RPS is spread over both CPUs of the seed lab (measured: NET_RX 0.597 of CPU 0, 0.649 of CPU 1,
    /// which also runs hping3), the busier one does 52% of NET_RX: a plain majority of two, not receive
    /// on one CPU. Fails if "most of NET_RX" is not judged against an even split.
    @Test func evenlySplitReceiveOnTwoCPUsIsSpread() throws {
        var input = try DiagnoseFixtures.input("synflood-rps-one-cpu")
        let w = input.windowSeconds
        input.softirq = [SoftirqCPUTime(cpu: 0, vector: "net_rx", ns: UInt64(0.597 * w * 1e9), runs: 13_000),
                         SoftirqCPUTime(cpu: 1, vector: "net_rx", ns: UInt64(0.649 * w * 1e9), runs: 12_600)]
        input.cpus = [CPUTime(cpu: 0, user: 0, system: 0.02 * w, softirq: 0.6 * w, idle: 0.38 * w),
                      CPUTime(cpu: 1, user: 0.05 * w, system: 0.28 * w, softirq: 0.65 * w, idle: 0.02 * w)]
        let d = Diagnosis(input)
        #expect(!d.findings.contains { $0.id == "net.rx_one_cpu" })
        let r = try #require(d.ruledOut.first { $0.id == "net.rx_one_cpu" })
        #expect(r.text.contains("not above 75.0% on 2 CPUs"), "\(r.text)")
        #expect(DiagnoseThreshold.concentrated(among: 8) == 0.5625)
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
        let i = try #require(nss.firstIndex { $0.name == "ktlab-sfs" })
        nss[i].name = nil
        input.namespaces = nss
        let f = try #require(Diagnosis(input).findings.first)
        #expect(f.cause.contains("in the netns of nginx (pid 19185)"))
        #expect(f.tries.first?.command == "nsenter -t 19185 -n sysctl -w net.ipv4.tcp_syncookies=1")
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

    /// The seed lab with backlog drops counted once (the SYN flood here: 99.5% of the packets lost, CPU 0's
    /// NET_RX 99.3% of it): the drops follow from CPU 0's saturation, so net.rx_one_cpu comes first
    /// whatever the shares, the drops right after. The same drops on the other CPU are no consequence of
    /// it and rank by share. Fails if a symptom can outrank its cause on a difference of shares in the noise.
    @Test func backlogDropsOnTheSaturatedCPUFollowIt() throws {
        var input = try DiagnoseFixtures.input("synflood-rps-one-cpu")
        let processed = input.softnet?.map(\.processed) ?? [0, 0]
        input.softnet = [SoftnetCPU(cpu: 0, processed: processed.first ?? 0, dropped: 2_000_000, timeSqueeze: 0),
                         SoftnetCPU(cpu: 1, processed: processed.last ?? 0, dropped: 0, timeSqueeze: 0)]
        let d = Diagnosis(input)
        let backlog = try #require(d.findings.first { $0.id == "net.backlog_drops" })
        let rx = try #require(d.findings.first { $0.id == "net.rx_one_cpu" })
        #expect(backlog.share.value > rx.share.value && backlog.follows == "net.rx_one_cpu")
        #expect(d.findings.map(\.id).prefix(2) == ["net.rx_one_cpu", "net.backlog_drops"])

        input.softnet = [SoftnetCPU(cpu: 0, processed: processed.first ?? 0, dropped: 0, timeSqueeze: 0),
                         SoftnetCPU(cpu: 1, processed: processed.last ?? 0, dropped: 2_000_000, timeSqueeze: 0)]
        let e = Diagnosis(input)
        #expect(e.findings.first { $0.id == "net.backlog_drops" }?.follows == nil)
        #expect(e.findings.first?.id == "net.backlog_drops")
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

    /// Work queued mostly from softirq context (as cleanup_net is on 6.18, from the RCU callback that drops
    /// a namespace's last reference) names no task: the cause says so and names the busiest task queuer
    /// apart, and the command looks at the queueing path system wide. Fails if an interrupt's queuer is
    /// taken for a process (`ktrace stacks --pid 0`).
    @Test func workQueuedFromInterruptsNamesTheTaskQueuer() throws {
        var input = try DiagnoseFixtures.input("netns-churn")
        input.workQueuers = [WorkQueuer(function: "cleanup_net", comm: "[softirq]", pid: 0, count: 500),
                             WorkQueuer(function: "cleanup_net", comm: "churner", pid: 4242, cgroup: "/lab.scope", count: 7)]
        let f = try #require(Diagnosis(input).findings.first { $0.id == "kworker.work" })
        #expect(f.cause.contains("queued mostly from [softirq] context (500 times"), "\(f.cause)")
        #expect(f.cause.contains("the busiest task queuing it: churner (pid 4242, cgroup /lab.scope), 7 times"), "\(f.cause)")
        #expect(f.tries.first?.command == "ktrace stacks --kernel-only --event tracepoint:workqueue:workqueue_queue_work -d 10 -o queue-work.svg")
        #expect(f.tries.first?.change.contains("cleanup_net is queued from [softirq] context") == true)
        // Mostly from a task: that task is named and asked.
        input.workQueuers = [WorkQueuer(function: "cleanup_net", comm: "[softirq]", pid: 0, count: 1),
                             WorkQueuer(function: "cleanup_net", comm: "churner", pid: 4242, count: 7)]
        let g = try #require(Diagnosis(input).findings.first { $0.id == "kworker.work" })
        #expect(g.cause.contains("queued mostly by churner (pid 4242): 7 times"), "\(g.cause)")
        #expect(g.tries.first?.command == "ktrace stacks --pid 4242 --event tracepoint:workqueue:workqueue_queue_work -d 10")
    }
}
