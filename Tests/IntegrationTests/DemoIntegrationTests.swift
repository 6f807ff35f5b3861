import Foundation
import KtraceCore
import KtraceTestSupport
import Testing

@Suite(.serialized, .enabled(if: Env.isRoot, "the demo builds network namespaces: run as root"))
struct DemoIntegrationTests {
    /// The one-command demo, on a short flood: nginx answers through the DNAT, NET_RX work is measured,
    /// ksoftirqd's stacks hold the receive path through the bridge, and nothing is left behind.
    @Test func synfloodDemo() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-demo-\(getpid())")
        defer { try? FileManager.default.removeItem(at: out) }
        let before = ProcSoftirqs.parse(readProcSoftirqs())
        let r = try run("/bin/bash", [Env.root.appendingPathComponent("scripts/synflood-demo.sh").path, "run"], timeout: 300,
                        env: ["KT_LAB": "kttdemo", "KT_OUT": out.path, "KTRACE": Env.ktrace,
                              "KT_DEMO_SCENARIOS": "flood", "KT_DEMO_SECS": "2", "KT_DEMO_DIAGNOSE_SECS": "3"])
        let after = ProcSoftirqs.parse(readProcSoftirqs())
        #expect(r.status == 0, "demo failed: \(r.stderr.suffix(2000))")
        #expect(r.stdout.contains("== summary"), "\(r.stdout.suffix(2000))")
        // It ends with ktrace diagnose's report on the flooded lab: receive steered to one CPU, first.
        let report = try #require(r.stdout.components(separatedBy: "== ktrace diagnose").last.flatMap { r.stdout.contains("== ktrace diagnose") ? $0 : nil },
                                  "no diagnose report: \(r.stdout.suffix(2000))")
        #expect(report.contains("ktrace diagnose: ") && report.contains("1. net.rx_one_cpu"), "\(report.prefix(1500))")
        #expect(r.stderr.contains("nginx through the DNAT: ktrace lab: nginx") || r.stdout.contains("nginx through the DNAT: ktrace lab: nginx"),
                "nginx did not answer: \(r.stderr.suffix(1500))")

        // NET_RX rose, by the kernel's count and by ktrace's.
        #expect(after.delta(since: before).total(.netRx) > 50_000)
        let jsonl = try String(contentsOf: out.appendingPathComponent("softirq-flood.jsonl"), encoding: .utf8)
        let rx = try jsonl.split(separator: "\n").map { try JSONDecoder().decode(SoftirqLine.self, from: Data($0.utf8)).vec(.netRx) }
        #expect(rx.count == 3 && rx.allSatisfy { $0.count > 1000 }, "NET_RX per interval: \(rx.map(\.count))")

        let folded = try FoldedProfile.parse(String(contentsOf: out.appendingPathComponent("ksoftirqd-flood.folded"), encoding: .utf8))
        #expect(share(folded) { $0 == "net_rx_action" } > 0.5)
        #expect(share(folded) { $0 == "[softirq:net_rx]" } > 0.5)
        // Bridge netfilter is on in this lab when the kernel has it: the receive path crosses the bridge.
        if FileManager.default.fileExists(atPath: "/proc/sys/net/bridge") || r.stdout.contains("bridge-nf") {
            #expect(share(folded) { $0.hasPrefix("br_handle_frame") || $0.hasPrefix("br_nf_") } > 0.02)
        }
        let svg = try String(contentsOf: out.appendingPathComponent("ksoftirqd-flood.svg"), encoding: .utf8)
        #expect(svg.contains("net_rx_action"))
        let trace = try Data(contentsOf: out.appendingPathComponent("trace-flood.json"))
        #expect(TraceValidator.validateChromeTrace(trace).isEmpty)

        // Nothing left behind: namespaces, the lab's processes, its NAT rules, BPF programs.
        let netns = try run("/usr/sbin/ip", ["netns", "list"], timeout: 10)
        #expect(!netns.stdout.contains("kttdemo"), "namespaces left: \(netns.stdout)")
        let procs = try run("/usr/bin/pgrep", ["-af", "kttdemo"], timeout: 10)
        #expect(procs.stdout.isEmpty, "processes left: \(procs.stdout)")
        let nat = try run("/usr/sbin/iptables-save", [], timeout: 10)
        #expect(!nat.stdout.contains("10.231."), "iptables rules left in the root namespace")
        let left = try ktraceProgramsAfterExit()
        #expect(left.isEmpty, "BPF programs left: \(left)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/kttdemo.d"))
    }
}
