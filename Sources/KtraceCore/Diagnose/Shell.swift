/// Commands as a person types them, for the namespace, device and CPUs the input names.
public enum Shell {
    /// How the report names a namespace: its `ip netns` name, "the host" for the initial one, else the
    /// processes in it (containers have no name, but their processes do).
    public static func label(_ ns: NetNamespace) -> String {
        if ns.isInit == true { return "the host's namespace" }
        if let n = ns.name { return "netns \(n)" }
        if let p = ns.processes?.first { return "the netns of \(p.comm) (pid \(p.pid))" }
        return "netns net:[\(ns.inode)]"
    }

    /// A command run inside the namespace: `ip netns exec` for a named one, `nsenter -n` through one of
    /// its processes otherwise, nothing for the host's.
    public static func inNetns(_ ns: NetNamespace?, _ command: String) -> String {
        guard let ns, ns.isInit != true else { return command }
        if let n = ns.name { return "ip netns exec \(n) \(command)" }
        if let p = ns.processes?.first { return "nsenter -t \(p.pid) -n \(command)" }
        return command
    }

    /// Writes under /sys/class/net inside a namespace. sysfs shows the devices of the namespace that
    /// mounted it, so it needs `ip netns exec` (which mounts a fresh one); a namespace without a name is
    /// given one first from one of its processes.
    public static func writeSys(_ ns: NetNamespace?, _ writes: [(path: String, value: String)]) -> String {
        let body = writes.map { "echo \($0.value) > \($0.path)" }.joined(separator: "; ")
        guard let ns, ns.isInit != true else { return body }
        if let n = ns.name { return "ip netns exec \(n) sh -c '\(body)'" }
        if let p = ns.processes?.first {
            let name = "\(p.comm)-\(p.pid)"
            return "ip netns attach \(name) \(p.pid) && ip netns exec \(name) sh -c '\(body)'"
        }
        return body
    }

    public static func sysctl(_ ns: NetNamespace?, _ key: String, _ value: Int64) -> String {
        inNetns(ns, "sysctl -w \(key)=\(value)")
    }

    /// The kernel's cpumask text (bitmap_parse's format): hex in 32-bit groups, highest first, separated
    /// by commas; the highest group without leading zeros. [0, 1] -> "3", [32] -> "1,00000000".
    public static func cpuMask(_ cpus: [Int]) -> String {
        let valid = cpus.filter { $0 >= 0 }
        let top = valid.max() ?? 0
        var groups = [UInt32](repeating: 0, count: top / 32 + 1)
        for c in valid { groups[c / 32] |= 1 << UInt32(c % 32) }
        var parts: [String] = []
        for i in stride(from: groups.count - 1, through: 0, by: -1) {
            let hex = String(groups[i], radix: 16)
            parts.append(i == groups.count - 1 ? hex : String(repeating: "0", count: 8 - hex.count) + hex)
        }
        return parts.joined(separator: ",")
    }

    /// CPU list text as /proc and /sys print it: [0, 1, 2, 5] -> "0-2,5".
    public static func cpuList(_ cpus: some Sequence<Int>) -> String {
        let s = Array(Set(cpus)).sorted()
        var out: [String] = []
        var i = 0
        while i < s.count {
            var j = i
            while j + 1 < s.count && s[j + 1] == s[j] + 1 { j += 1 }
            out.append(j == i ? "\(s[i])" : "\(s[i])-\(s[j])")
            i = j + 1
        }
        return out.joined(separator: ",")
    }
}
