import FoundationEssentials
import KtraceCore

/// "RSS 20 MB, peak 31 MB" from /proc/self/status, for -v.
func memoryUse() -> String {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func mb(_ key: String) -> String {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
              let kb = Double(line.dropFirst(key.count + 1).trimmed.split(separator: " ").first ?? "") else { return "?" }
        return fixed(kb / 1024, 1)
    }
    return "RSS \(mb("VmRSS")) MB, peak \(mb("VmHWM")) MB"
}
