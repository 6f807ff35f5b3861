import FoundationEssentials
import Glibc
import KtraceCore

/// Reading /proc and /sys for `ktrace diagnose`: the files only; their formats are parsed in KtraceCore.
enum ProcFiles {
    /// A whole small file (procfs and sysfs report no size: read until the end), nil when unreadable.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](), buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return out.isEmpty ? nil : String(decoding: out, as: UTF8.self) }
            if n == 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func basename(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }

    /// Process ids in /proc.
    static func pids() -> [Int] { list("/proc").compactMap { Int($0) } }

    /// USER_HZ, the unit of /proc/stat and /proc/PID/stat times.
    static var userHz: Double { Double(max(sysconf(Int32(_SC_CLK_TCK)), 1)) }

    /// Every process's stat fields now.
    static func processStats() -> [Int: TaskStatText.Fields] {
        var out: [Int: TaskStatText.Fields] = [:]
        for pid in pids() {
            if let f = read("/proc/\(pid)/stat").flatMap(TaskStatText.parse) { out[pid] = f }
        }
        return out
    }

    /// One walk over every task: how many are running (R), and the uninterruptible ones (D) with their
    /// wait channel. Kernel threads count too, as they do in the load average.
    static func taskStates(onlyPids: Set<Int>? = nil) -> (running: Int, blocked: [TaskStateSampler.Blocked]) {
        var running = 0, blocked: [TaskStateSampler.Blocked] = []
        for pid in pids() {
            for tid in list("/proc/\(pid)/task") {
                guard let f = read("/proc/\(pid)/task/\(tid)/stat").flatMap(TaskStatText.parse) else { continue }
                if f.state == "R" { running += 1 }
                if f.state == "D" {
                    let wchan = read("/proc/\(pid)/task/\(tid)/wchan") ?? ""
                    let comm = read("/proc/\(pid)/comm").map { String($0.trimmed) } ?? f.comm
                    blocked.append(.init(comm: comm, pid: pid, wchan: wchan.trimmed))
                }
            }
        }
        return (running, blocked)
    }

    /// Each irq's effective CPUs (or its requested ones where the kernel has no effective list).
    static func irqAffinity(_ irqs: [Int]) -> [Int: [Int]] {
        var out: [Int: [Int]] = [:]
        for irq in irqs {
            if let t = read("/proc/irq/\(irq)/effective_affinity_list") ?? read("/proc/irq/\(irq)/smp_affinity_list") {
                out[irq] = CPUSetText.list(t)
            }
        }
        return out
    }
}
