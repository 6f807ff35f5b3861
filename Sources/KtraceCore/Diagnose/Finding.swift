/// What `ktrace diagnose` concludes: findings (a cause with its evidence, the change to try and how to
/// confirm it), the usual suspects ruled out with their numbers, and the rules that could not run.

/// What a share is a fraction of: the symptom the finding explains.
public enum ShareBasis: String, Sendable, Equatable {
    /// All CPUs' time over the window.
    case machineCPU = "machine_cpu"
    /// One CPU's time over the window: a named CPU (`Share.cpu`), or a thread's time as CPUs' worth.
    case cpu
    /// The packets lost in the window, counted by every drop counter the input has (`LostPackets`).
    case packetsLost = "packets_lost"
    /// The tasks that make up the load average (R plus D, averaged over the window).
    case loadAverage = "load_average"
    /// Wall-clock time in which some task stalled on the resource (PSI "some").
    case stallTime = "stall_time"

    /// How the text report says it: "of CPU 0", "of the packets lost".
    func phrase(cpu: Int?) -> String {
        switch self {
        case .machineCPU: "of the machine's CPU time"
        case .cpu: cpu.map { "of CPU \($0)" } ?? "of one CPU"
        case .packetsLost: "of the packets lost"
        case .loadAverage: "of the load average"
        case .stallTime: "of wall time stalled"
        }
    }
}

public struct Share: Sendable, Equatable {
    /// 0...1.
    public var value: Double
    public var basis: ShareBasis
    /// The CPU, for `.cpu` when one CPU is meant.
    public var cpu: Int?

    public init(_ value: Double, of basis: ShareBasis, cpu: Int? = nil) {
        self.value = Swift.min(1, Swift.max(0, value.isFinite ? value : 0)); self.basis = basis; self.cpu = cpu
    }
}

/// A unit for an evidence number; `.ratio` values are fractions and print as percentages.
public enum EvidenceUnit: String, Sendable, Equatable {
    case ratio, seconds = "s", milliseconds = "ms", percent, packets, count, perSecond = "per_s", tasks, entries, rules, value
}

/// One measured number behind a finding, and where it came from.
public struct Evidence: Sendable, Equatable {
    public var text: String
    public var value: Double
    public var unit: EvidenceUnit
    /// The counter, tracepoint or file it was read from (`DiagnoseSource`).
    public var source: String
    /// What it covers: "window" (the deltas' window), "at end" (a gauge read at the end), "avg10", "1 min".
    public var window: String

    public init(_ text: String, _ value: Double, _ unit: EvidenceUnit, source: String, window: String = Evidence.windowed) {
        self.text = text; self.value = value; self.unit = unit; self.source = source; self.window = window
    }

    public static let windowed = "window"
    public static let atEnd = "at end"
}

/// A change to try: in words, and as the exact command.
public struct TryChange: Sendable, Equatable {
    public var change: String
    public var command: String

    public init(_ change: String, _ command: String) { self.change = change; self.command = command }
}

/// Which direction a confirming number should move.
public enum Expectation: String, Sendable, Equatable {
    case down, up, zero
}

/// How to tell the change worked: the ktrace command to run again and the number to watch.
public struct Confirm: Sendable, Equatable {
    public var command: String
    public var number: String
    public var expect: Expectation

    public init(_ command: String, _ number: String, _ expect: Expectation) {
        self.command = command; self.number = number; self.expect = expect
    }
}

public struct Finding: Sendable, Equatable {
    /// The rule's catalogue id (`net.rx_one_cpu`, ...).
    public var id: String
    public var title: String
    public var share: Share
    public var evidence: [Evidence]
    /// One sentence.
    public var cause: String
    public var tries: [TryChange]
    public var confirm: Confirm
    /// The finding this one is a consequence of, when its rule can tell (backlog drops on the CPU whose
    /// NET_RX is saturated follow from that saturation). Ranking places it right after that finding when
    /// both are found, whatever their shares: the cause before its symptom. Not in the report.
    public var follows: String?

    public init(id: String, title: String, share: Share, evidence: [Evidence], cause: String, tries: [TryChange], confirm: Confirm,
                follows: String? = nil) {
        self.id = id; self.title = title; self.share = share; self.evidence = evidence; self.cause = cause
        self.tries = tries; self.confirm = confirm; self.follows = follows
    }
}

/// A usual suspect checked and found innocent, with the number that cleared it.
public struct RuledOut: Sendable, Equatable {
    public var id: String
    public var text: String
    public var value: Double
    public var unit: EvidenceUnit
    public var source: String

    public init(id: String, _ text: String, _ value: Double, _ unit: EvidenceUnit, source: String) {
        self.id = id; self.text = text; self.value = value; self.unit = unit; self.source = source
    }
}

/// A rule that could not run, and what it lacked.
public struct NotEvaluated: Sendable, Equatable {
    public var id: String
    public var missing: String
}

/// What a rule concludes.
public enum RuleOutcome: Sendable {
    case finding(Finding)
    case ruledOut(RuledOut)
    /// Data missing: what is missing, in words ("no /proc/net/softnet_stat").
    case notApplicable(String)
}
