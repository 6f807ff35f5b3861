import FoundationEssentials
import Glibc

/// Which capabilities ktrace lacks, from the CapEff line of /proc/self/status.
public enum Capabilities {
    static let sysAdmin = 21, perfmon = 38, bpf = 39

    /// Names of the missing capabilities (empty when tracing is allowed). CAP_SYS_ADMIN alone suffices;
    /// otherwise CAP_BPF and CAP_PERFMON are both needed.
    public static func missing(statusText: String) -> [String] {
        guard let line = statusText.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmed, radix: 16)
        else { return ["CAP_BPF", "CAP_PERFMON"] }
        func has(_ bit: Int) -> Bool { mask & (1 << UInt64(bit)) != 0 }
        if has(sysAdmin) { return [] }
        return [(bpf, "CAP_BPF"), (perfmon, "CAP_PERFMON")].filter { !has($0.0) }.map(\.1)
    }
}
