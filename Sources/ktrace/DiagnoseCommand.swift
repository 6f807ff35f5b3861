import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore
import KtraceKernel

struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Observe the machine for a few seconds, then say what costs its CPU or packets, why, and what to change.",
        discussion: """
        One window through softirq, kthreads, NET_RX stack sampling and skb:kfree_skb drops at once, with
        /proc and /sys read at its start and end (per network namespace: sysctls, SNMP counters, conntrack,
        devices' RPS masks and IRQ affinity; at the end also its TCP listeners, through sock_diag, and its
        rule counts per chain, through iptables-save, ip6tables-save and nft). Prints ranked findings, each
        with its share, evidence and source, cause, the exact change to try and how to confirm it worked;
        then what was ruled out, what could not be evaluated, and the largest drops by reason and location.
        Catalogue of finding ids, thresholds and their sources, JSON schema: docs/diagnose.md.

        Examples:
          ktrace diagnose                     observe 5 seconds, print the findings
          ktrace diagnose -d 10 --json        10 seconds, one JSON object (ids are stable: automate on them)
          ktrace diagnose --comm nginx        name nginx's processes and only their network namespaces
        """
    )

    @Option(name: [.short, .customLong("duration")], help: "Seconds to observe.") var duration: Double = 5
    @Flag(help: "One JSON object instead of the text report.") var json = false
    @Option(name: [.short, .long], help: "The process of interest: its CPU time and its network namespace (with the host's).")
    var pid: Int32?
    @Option(help: ArgumentHelp(commHelp + " The processes of interest, as --pid.")) var comm: String?
    @Option(help: ArgumentHelp("Also write the measurements (the diagnosis's input) as JSON to this file.", valueName: "file"))
    var saveInput: String?
    @OptionGroup var tracing: AttachOptions<DiagnoseCommand>

    static let verboseHelp = "Say how it attached, and show libbpf messages."

    func validate() throws {
        if !(duration > 0 && duration <= maxSeconds) {
            throw ValidationError("-d must be a number of seconds between 0 and \(Int(maxSeconds)), got \(duration)")
        }
        if pid != nil && comm != nil { throw ValidationError("give --pid or --comm, not both") }
        if let pid, pid <= 0 || !FileManager.default.fileExists(atPath: "/proc/\(pid)") {
            throw ValidationError("no process with pid \(pid)")
        }
        _ = try commPattern(comm)
    }

    func run() throws {
        checkWritable(saveInput)
        requireTracingPrivileges()
        Kernel.setVerbose(tracing.verbose)
        StopSignal.install()
        var options = DiagnoseSession.Options()
        options.attach = tracing.attach
        if let pid {
            options.focus = { p, _ in p == Int(pid) }
        } else if let pattern = try commPattern(comm) {
            options.focus = { _, name in pattern.matches(name) }
        }
        let started = Kernel.monotonicNs()
        let session: DiagnoseSession
        do {
            session = try DiagnoseSession(options)
            try session.begin()
        } catch { fail(error.message) }
        if tracing.verbose { note("attached and read the baseline in \(fixed(Double(Kernel.monotonicNs() - started) / 1e6, 1)) ms") }
        let saidEarly = session.notMeasured.count
        if saidEarly > 0 { note("not measured on this run: " + session.notMeasured.joined(separator: "; ")) }
        announceRecording("diagnosing", duration: duration)
        _ = record(for: duration, since: session.beganNs, watching: [], poll: session.poll)
        let input: DiagnoseInput
        do { input = try session.finish() } catch { fail(error.message) }
        // What only the window's end found missing (a tool that failed, a table that was full).
        let late = session.notMeasured.dropFirst(saidEarly)
        if !late.isEmpty { note("not measured at the window's end: " + late.joined(separator: "; ")) }
        if let saveInput {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            guard let data = try? encoder.encode(input) else { fail("cannot encode the measurements as JSON") }
            writeOutput(bytes: Array(data) + [10], to: saveInput)
        }
        let diagnosis = Diagnosis(input)
        writeOutput(json ? DiagnoseJSON.render(diagnosis) : DiagnoseText.render(diagnosis), to: nil)
    }
}

extension DiagnoseCommand: VerboseWording {}
