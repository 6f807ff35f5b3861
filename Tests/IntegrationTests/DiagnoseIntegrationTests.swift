import Foundation
import Testing
import KtraceCore

/// `ktrace diagnose --json`, the fields these tests read (schema: docs/diagnose.md).
struct DiagnoseReportJSON: Decodable {
    struct Try: Decodable { let change: String, command: String }
    struct Confirm: Decodable { let command: String, number: String, expect: String }
    struct Finding: Decodable {
        let rank: Int, id: String, title: String, share: Double, share_of: String, cpu: Int?
        let cause: String
        let `try`: [Try]
        let confirm: Confirm
    }
    struct Ruled: Decodable { let id: String, text: String }
    let window_s: Double
    let cpus: Int
    let findings: [Finding]
    let ruled_out: [Ruled]
}

/// Real causes planted in namespaces these tests make (scripts/lab.sh), diagnosed by the real binary:
/// each test checks the planted cause comes out with the right names, and the seed case also that the
/// change the report suggests, applied, moves the number it says to watch.
@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct DiagnoseIntegrationTests {
    /// Runs `ktrace diagnose -d SECONDS --json` (also saving its input) and decodes both.
    func diagnose(seconds: Int, extra: [String] = []) throws -> (report: DiagnoseReportJSON, input: DiagnoseInput, stderr: String) {
        let saved = FileManager.default.temporaryDirectory.appendingPathComponent("ktrace-diagnose-\(UUID().uuidString).json").path
        defer { unlink(saved) }
        let r = try run(Env.ktrace, ["diagnose", "-d", String(seconds), "--json", "--save-input", saved] + extra, timeout: Double(seconds) + 90)
        guard r.status == 0 else { throw LabError("ktrace diagnose exited \(r.status): \(r.stderr)") }
        let report = try JSONDecoder().decode(DiagnoseReportJSON.self, from: Data(r.stdout.utf8))
        let input = try JSONDecoder().decode(DiagnoseInput.self, from: Data(contentsOf: URL(fileURLWithPath: saved)))
        print("diagnose: " + report.findings.map { "\($0.rank). \($0.id) \(String(format: "%.3f", $0.share)) \($0.share_of)" }.joined(separator: ", "))
        return (report, input, r.stderr)
    }

    static func netRxNs(_ input: DiagnoseInput, cpu: Int) -> UInt64 {
        (input.softirq ?? []).filter { $0.cpu == cpu && $0.vector == "net_rx" }.reduce(0) { $0 + $1.ns }
    }

    /// The seed case: a SYN flood whose receive RPS steers to CPU 0. net.rx_one_cpu must rank first, on
    /// CPU 0, naming the lab's host namespace and veth-cli's rx-0 RPS mask; running the command it
    /// suggests must lower NET_RX time on CPU 0, the number its confirm line names.
    @Test func synFloodSteeredToOneCPUIsRxOneCPU() throws {
        let lab = Lab("ktdgseed")
        lab.down()
        try lab.up()
        defer { lab.down() }
        let load = try lab.load("flood", seconds: 20)
        defer { load.signal(SIGTERM); _ = load.wait(timeout: 60) }
        usleep(2_000_000)
        let before = try diagnose(seconds: 4)
        let first = try #require(before.report.findings.first, "no finding under the flood: \(before.report.ruled_out)")
        #expect(first.id == "net.rx_one_cpu")
        #expect(first.cpu == 0)
        let fix = try #require(first.try.first).command
        #expect(fix.contains("ip netns exec ktdgseed-host") && fix.contains("/sys/class/net/veth-cli/queues/rx-0/rps_cpus"), "\(fix)")
        #expect(first.cause.contains("veth-cli") && first.cause.contains("CPU 0"), "\(first.cause)")
        #expect(first.confirm.number.contains("NET_RX time on CPU 0") && first.confirm.expect == "down")

        let applied = try run("/bin/sh", ["-c", fix], timeout: 30)
        #expect(applied.status == 0, "\(fix): \(applied.stderr)")
        let after = try diagnose(seconds: 4)
        let rx0Before = Double(Self.netRxNs(before.input, cpu: 0)) / before.input.windowSeconds / 1e9
        let rx0After = Double(Self.netRxNs(after.input, cpu: 0)) / after.input.windowSeconds / 1e9
        let rx1After = Double(Self.netRxNs(after.input, cpu: 1)) / after.input.windowSeconds / 1e9
        print("NET_RX on CPU 0: \(String(format: "%.3f", rx0Before)) of a CPU before, \(String(format: "%.3f", rx0After)) after the change (CPU 1: \(String(format: "%.3f", rx1After)))")
        #expect(rx0After < rx0Before * 0.85, "NET_RX on CPU 0 did not go down: \(rx0Before) -> \(rx0After)")
        #expect(rx1After > 0.05, "receive work did not move to CPU 1")
    }

    /// Namespace churn: each deleted namespace runs cleanup_net in a kworker. kworker.work must be found,
    /// naming cleanup_net.
    @Test func namespaceChurnIsCleanupNet() throws {
        let name = "ktdgchurn"
        _ = try? run("/bin/bash", [Env.lab, "down"], timeout: 60, env: ["KT_LAB": name])
        let churn = try Spawned("/bin/bash", [Env.lab, "churn", "12"], env: ["KT_LAB": name], streamStdout: false)
        defer {
            churn.signal(SIGTERM)
            let r = churn.wait(timeout: 30)
            print(r.stderr.split(separator: "\n").last ?? "")
            _ = try? run("/bin/bash", [Env.lab, "down"], timeout: 60, env: ["KT_LAB": name])
        }
        usleep(1_500_000)
        let d = try diagnose(seconds: 4)
        let f = try #require(d.report.findings.first { $0.id == "kworker.work" }, "no kworker.work: \(d.report.ruled_out.map(\.text))")
        #expect(f.title.contains("cleanup_net"), "\(f.title)")
        #expect(f.cause.contains("Network namespaces are being destroyed"), "\(f.cause)")
        #expect(f.rank <= 2)
    }

    /// The control: one CPU-bound process in user mode. cpu.user first, naming it, with no network finding.
    @Test func cpuBoundControlIsCPUUser() throws {
        let burn = try Spawned("/bin/bash", [Env.lab, "burn", "9"], env: ["KT_LAB": "ktdgburn"], streamStdout: false)
        defer { burn.signal(SIGTERM); _ = burn.wait(timeout: 30) }
        usleep(1_000_000)
        let d = try diagnose(seconds: 3)
        let first = try #require(d.report.findings.first)
        #expect(first.id == "cpu.user")
        #expect(first.try.first?.command.contains("ktrace stacks --pid") == true && first.cause.contains("awk"), "\(first.cause)")
        #expect(!d.report.findings.contains { $0.id.hasPrefix("net.") }, "\(d.report.findings.map(\.id))")
    }

    /// Ctrl-C ends the window early: what was gathered is printed, the programs are detached.
    @Test func interruptPrintsWhatWasGathered() throws {
        let kt = try Spawned(Env.ktrace, ["diagnose", "-d", "60"], streamStdout: false)
        #expect(kt.waitForStderr("Ctrl-C", timeout: 60), "ktrace diagnose never began")
        usleep(1_500_000)
        kt.signal(SIGINT)
        let r = kt.wait(timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let header = try #require(r.stdout.split(separator: "\n").first)
        #expect(header.hasPrefix("ktrace diagnose: "), "\(r.stdout)")
        let window = Double(header.dropFirst("ktrace diagnose: ".count).split(separator: " ").first ?? "") ?? -1
        #expect(window > 1 && window < 10, "window \(window)")
        #expect(r.stdout.contains("ruled out:"))
        #expect(try ktraceProgramsAfterExit().isEmpty)
    }

    /// Bad input: one clear line and a non-zero exit, before touching the kernel.
    @Test func badInputIsOneLine() throws {
        for (args, text) in [(["-d", "0"], "-d must be"), (["--pid", "1", "--comm", "x"], "--pid or --comm"),
                             (["--pid", "999999999"], "no process with pid"), (["--comm", "this-name-is-far-too-long"], "--comm")] {
            let r = try run(Env.ktrace, ["diagnose"] + args, timeout: 30)
            #expect(r.status != 0, "\(args)")
            let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(lines.first?.contains(text) == true, "\(args): \(r.stderr)")
        }
    }
}
