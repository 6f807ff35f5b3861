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

    /// The machine's architecture as uname says it (x86_64, aarch64): system call numbers depend on it.
    static let machine: String = {
        var u = utsname()
        guard uname(&u) == 0 else { return "" }
        return withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }()

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
    /// wait channel, kernel stack and the file their system call works on. Kernel threads count too, as they do in the load average.
    static func taskStates(onlyPids: Set<Int>? = nil) -> (running: Int, blocked: [TaskStateSampler.Blocked]) {
        var running = 0, blocked: [TaskStateSampler.Blocked] = []
        for pid in pids() {
            for tid in list("/proc/\(pid)/task") {
                guard let f = read("/proc/\(pid)/task/\(tid)/stat").flatMap(TaskStatText.parse) else { continue }
                if f.state == "R" { running += 1 }
                if f.state == "D" {
                    let wchan = read("/proc/\(pid)/task/\(tid)/wchan") ?? ""
                    let comm = read("/proc/\(pid)/comm").map { String($0.trimmed) } ?? f.comm
                    let stack = read("/proc/\(pid)/task/\(tid)/stack").map(KernelStackText.parse) ?? []
                    var file: String?
                    if let fd = read("/proc/\(pid)/task/\(tid)/syscall").flatMap({ BlockedFileText.fd(syscall: $0, arch: machine) }),
                       let path = readLink("/proc/\(pid)/fd/\(fd)") {
                        file = BlockedFileText.describe(path: path, mountinfo: read("/proc/\(pid)/mountinfo") ?? "")
                    }
                    blocked.append(.init(comm: comm, pid: pid, wchan: wchan.trimmed, stack: stack, file: file))
                }
            }
        }
        return (running, blocked)
    }

    /// The process holding each socket of `inodes`, found among `pids` by their /proc/PID/fd links
    /// "socket:[INODE]" (as `ss -p` finds them). A socket several processes hold (nginx's workers inherit
    /// its master's listener) goes to the lowest pid, the one that usually opened it.
    static func socketOwners(_ inodes: Set<UInt64>, pids: [Int]) -> [UInt64: ProcessRef] {
        var out: [UInt64: ProcessRef] = [:]
        for pid in pids.sorted() where out.count < inodes.count {
            for fd in list("/proc/\(pid)/fd") {
                guard let link = readLink("/proc/\(pid)/fd/\(fd)"), link.hasPrefix("socket:["),
                      let ino = UInt64(link.dropFirst(8).dropLast()), inodes.contains(ino), out[ino] == nil,
                      let comm = read("/proc/\(pid)/comm") else { continue }
                out[ino] = ProcessRef(pid: pid, comm: comm.trimmed)
            }
        }
        return out
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

    /// The cgroup v2 directories (relative to /sys/fs/cgroup, "/" for the root) whose inode is one of `ids`:
    /// a cgroup's id is its directory's inode there. Walks the tree until all are found (depth 8 at most).
    static func cgroupPaths(_ ids: Set<UInt64>, root: String = "/sys/fs/cgroup") -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        guard !ids.isEmpty else { return out }
        func visit(_ rel: String, depth: Int) {
            var st = stat()
            guard out.count < ids.count, stat(root + rel, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return }
            if ids.contains(UInt64(st.st_ino)) { out[UInt64(st.st_ino)] = rel.isEmpty ? "/" : rel }
            guard depth < 8 else { return }
            for name in list(root + rel) where !name.contains(".") || name.hasSuffix(".slice") || name.hasSuffix(".scope")
                || name.hasSuffix(".service") {
                visit(rel + "/" + name, depth: depth + 1)
            }
        }
        visit("", depth: 0)
        return out
    }
}
