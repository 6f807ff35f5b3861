import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

/// A kernel-side failure, with the one-line reason the C layer wrote (or an errno's text).
public struct KernelError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Run a C call that reports failure as a negative errno and a message in an error buffer.
func cCall(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(KernelError) {
    var buf = [CChar](repeating: 0, count: 2048)
    let rc = buf.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
    guard rc != 0 else { return }
    let message = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw KernelError(message.isEmpty ? errnoText(rc) : message)
}

/// Run a C call that returns a count, or a negative errno with a message in an error buffer.
func cCount(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws(KernelError) -> Int32 {
    var buf = [CChar](repeating: 0, count: 2048)
    let rc = buf.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
    guard rc < 0 else { return rc }
    let message = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw KernelError(message.isEmpty ? errnoText(rc) : message)
}

func errnoText(_ rc: Int32) -> String { String(cString: strerror(rc < 0 ? -rc : rc)) }

/// Tracepoint attach flavour, probed in this order by `auto`.
public enum AttachKind: String, CaseIterable, Sendable {
    case auto, btf = "tp_btf", raw = "raw_tp", tp = "tracepoint"

    var cValue: Int32 {
        switch self {
        case .auto: Int32(KT_ATTACH_AUTO.rawValue)
        case .btf: Int32(KT_ATTACH_BTF.rawValue)
        case .raw: Int32(KT_ATTACH_RAW.rawValue)
        case .tp: Int32(KT_ATTACH_TP.rawValue)
        }
    }

    init(cValue: Int32) {
        self = AttachKind.allCases.first { $0.cValue == cValue } ?? .auto
    }
}

/// Facts about this kernel and process that do not need a session.
public enum Kernel {
    public static var possibleCPUs: Int { Int(kt_num_possible_cpus()) }
    /// CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns().
    public static func monotonicNs() -> UInt64 { kt_monotonic_ns() }
    /// The wall-clock time (ns since the Unix epoch) of a CLOCK_MONOTONIC instant, through the wall clock
    /// read now between two reads of the monotonic one (their midpoint): what files and profiles that name
    /// a time say.
    public static func unixNs(atMonotonic t: UInt64) -> Int64 {
        var now = timespec()
        let before = monotonicNs()
        clock_gettime(CLOCK_REALTIME, &now)
        let mono = before + (monotonicNs() - before) / 2
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - (Int64(bitPattern: mono) - Int64(bitPattern: t))
    }
    /// libbpf's messages on stderr (-v), or kept for error reports only.
    public static func setVerbose(_ on: Bool) { kt_set_verbose(on ? 1 : 0) }

    /// After attaching: run on as nobody (65534) with CAP_BPF alone. Call before starting threads.
    public static func dropPrivileges() throws(KernelError) {
        let rc = kt_drop_privileges(65534, 65534)
        if rc != 0 { throw KernelError("dropping privileges after attaching: \(errnoText(rc))") }
    }

    /// Why this process cannot trace, checked before touching the kernel: a missing capability (named)
    /// or no BTF. Nil when tracing is possible.
    public static func tracingProblem() -> String? {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let missing = Capabilities.missing(statusText: status)
        if !missing.isEmpty {
            return "missing \(missing.joined(separator: " and ")): run ktrace as root (or grant CAP_BPF and CAP_PERFMON)"
        }
        if kt_have_btf() == 0 {
            return "no kernel BTF at /sys/kernel/btf/vmlinux: ktrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"
        }
        return nil
    }

    /// Whether fentry/fexit programs attach here; the reason when they do not.
    public static func fentryProblem() -> String? {
        do { try cCall { kt_probe_fentry($0, $1) } } catch { return error.message }
        return nil
    }

    /// Whether kprobes attach here; the reason when they do not.
    public static func kprobeProblem() -> String? {
        do { try cCall { kt_probe_kprobe($0, $1) } } catch { return error.message }
        return nil
    }
}

/// Ctrl-C, SIGTERM and SIGHUP: the first one sets a flag that waits and loops poll (so what was gathered
/// is still written and everything detached); a second one ends ktrace at once.
public enum StopSignal {
    public static func install() { kt_install_signal_handlers() }
    public static var requested: Bool { kt_stop_requested() != 0 }
    /// Sleep until `ms` have passed or a stop was requested; true if a stop was requested.
    public static func wait(ms: Int) -> Bool { kt_wait_ms(ms) != 0 }
}
