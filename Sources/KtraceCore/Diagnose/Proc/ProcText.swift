/// Parsers of the /proc and /sys text `ktrace diagnose` reads, and the deltas between two readings. Pure:
/// the session layer reads the files (inside the right network namespace) and hands the text here, so each
/// format is unit-tested on recorded text without root.

/// /proc/stat's per-CPU lines.
public enum ProcStatText {
    /// "cpuN user nice system idle iowait irq softirq steal ..." in USER_HZ ticks, by CPU number (the
    /// machine's "cpu" line is skipped).
    public static func perCPU(_ text: String) -> [Int: [UInt64]] {
        var out: [Int: [UInt64]] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("cpu") {
            let f = line.split(separator: " ")
            guard let n = Int(f[0].dropFirst(3)) else { continue }
            out[n] = f.dropFirst().prefix(8).map { UInt64($0) ?? 0 }
        }
        return out
    }

    /// Each CPU's time by class between two readings, in seconds (`hz`: USER_HZ). CPUs in both only.
    public static func delta(_ a: [Int: [UInt64]], _ b: [Int: [UInt64]], hz: Double) -> [CPUTime] {
        b.keys.sorted().compactMap { cpu in
            guard let x = a[cpu], let y = b[cpu] else { return nil }
            func d(_ i: Int) -> Double { i < x.count && i < y.count && y[i] >= x[i] ? Double(y[i] - x[i]) / hz : 0 }
            return CPUTime(cpu: cpu, user: d(0), nice: d(1), system: d(2), irq: d(5), softirq: d(6), idle: d(3), iowait: d(4), steal: d(7))
        }
    }
}

/// /proc/net/softnet_stat: a line per CPU, hex columns; column 13 is the CPU number on 5.10+ (older
/// kernels list online CPUs in order, so the line's position stands in for it).
public enum SoftnetText {
    public static func parse(_ text: String) -> [SoftnetCPU] {
        text.split(separator: "\n").enumerated().compactMap { i, line in
            let f = line.split(separator: " ").map { UInt64($0, radix: 16) ?? 0 }
            guard f.count >= 3 else { return nil }
            let cpu = f.count >= 13 ? Int(f[12]) : i
            return SoftnetCPU(cpu: cpu, processed: f[0], dropped: f[1], timeSqueeze: f[2])
        }
    }

    /// Per-CPU deltas; a counter that went back (a CPU brought down and up) counts from 0.
    public static func delta(_ a: [SoftnetCPU], _ b: [SoftnetCPU]) -> [SoftnetCPU] {
        b.map { y in
            let x = a.first { $0.cpu == y.cpu } ?? SoftnetCPU(cpu: y.cpu, processed: 0, dropped: 0, timeSqueeze: 0)
            return SoftnetCPU(cpu: y.cpu, processed: counterDelta(y.processed, x.processed), dropped: counterDelta(y.dropped, x.dropped),
                              timeSqueeze: counterDelta(y.timeSqueeze, x.timeSqueeze))
        }
    }
}

/// /proc/net/snmp and /proc/net/netstat: pairs of lines, "Group: Name Name ..." then "Group: value value ...".
public enum SNMPText {
    /// "Group.Name" -> value; negative values (Tcp's MaxConn -1) are left out.
    public static func parse(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        let lines = text.split(separator: "\n")
        var i = 0
        while i + 1 < lines.count {
            let names = lines[i].split(separator: " "), values = lines[i + 1].split(separator: " ")
            guard let group = names.first, group.hasSuffix(":"), values.first == group else { i += 1; continue }
            let g = group.dropLast()
            for (n, v) in zip(names.dropFirst(), values.dropFirst()) {
                if let v = UInt64(v) { out["\(g).\(n)"] = v }
            }
            i += 2
        }
        return out
    }

    /// Counters' deltas; keys in both only.
    public static func delta(_ a: [String: UInt64], _ b: [String: UInt64]) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for (k, v) in b { if let p = a[k] { out[k] = counterDelta(v, p) } }
        return out
    }
}

/// /proc/net/stat/nf_conntrack: a header of names, then a line of hex values per CPU (the first
/// column, `entries`, is the table's count on every line).
public enum ConntrackStatText {
    public struct Totals: Sendable, Equatable {
        public var drop: UInt64 = 0, earlyDrop: UInt64 = 0, insertFailed: UInt64 = 0
        public init(drop: UInt64 = 0, earlyDrop: UInt64 = 0, insertFailed: UInt64 = 0) {
            self.drop = drop; self.earlyDrop = earlyDrop; self.insertFailed = insertFailed
        }
    }

    public static func parse(_ text: String) -> Totals? {
        let lines = text.split(separator: "\n")
        guard let header = lines.first?.split(separator: " ").map(String.init) else { return nil }
        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
        var t = Totals()
        for line in lines.dropFirst() {
            let v = line.split(separator: " ").map { UInt64($0, radix: 16) ?? 0 }
            func at(_ i: Int?) -> UInt64 { i.map { $0 < v.count ? v[$0] : 0 } ?? 0 }
            t.drop += at(column("drop")); t.earlyDrop += at(column("early_drop")); t.insertFailed += at(column("insert_failed"))
        }
        return t
    }

    public static func delta(_ a: Totals, _ b: Totals) -> Totals {
        Totals(drop: counterDelta(b.drop, a.drop), earlyDrop: counterDelta(b.earlyDrop, a.earlyDrop), insertFailed: counterDelta(b.insertFailed, a.insertFailed))
    }
}

/// /proc/net/dev: per device, receive packets (column 2) and drops (column 4).
public enum NetDevText {
    public static func parse(_ text: String) -> [String: (rxPackets: UInt64, rxDropped: UInt64)] {
        var out: [String: (UInt64, UInt64)] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingSpaces
            let f = line[line.index(after: colon)...].split(separator: " ")
            guard f.count >= 4, let packets = UInt64(f[1]), let drops = UInt64(f[3]) else { continue }
            out[String(name)] = (packets, drops)
        }
        return out
    }
}

/// /proc/loadavg: "0.52 0.58 0.59 1/467 12345".
public enum LoadavgText {
    public static func parse(_ text: String) -> (Double, Double, Double)? {
        let f = text.split(separator: " ")
        guard f.count >= 3, let a = Double(f[0]), let b = Double(f[1]), let c = Double(f[2]) else { return nil }
        return (a, b, c)
    }
}

/// /proc/PID/stat (and /proc/PID/task/TID/stat): the comm in parentheses may hold spaces and ')'.
public enum TaskStatText {
    public struct Fields: Sendable, Equatable {
        public var comm: String, state: Character, utime: UInt64, stime: UInt64
        /// PF_KTHREAD (0x00200000) in flags.
        public var isKernelThread: Bool
    }

    public static func parse(_ text: String) -> Fields? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close else { return nil }
        let comm = String(text[text.index(after: open)..<close])
        let f = text[text.index(after: close)...].split(separator: " ")
        // After the comm: state(0) ppid(1) pgrp session tty tpgid flags(6) minflt cminflt majflt cmajflt utime(11) stime(12)
        guard f.count > 12, let state = f[0].first, let flags = UInt64(f[6]), let u = UInt64(f[11]), let s = UInt64(f[12]) else { return nil }
        return Fields(comm: comm, state: state, utime: u, stime: s, isKernelThread: flags & 0x0020_0000 != 0)
    }
}

/// /proc/pressure/{cpu,memory,io}: "some avg10=1.23 avg60=... total=..." and "full ...".
public enum PSIText {
    public static func avg10(_ text: String) -> (some: Double?, full: Double?) {
        var some: Double?, full: Double?
        for line in text.split(separator: "\n") {
            guard let field = line.split(separator: " ").first(where: { $0.hasPrefix("avg10=") }), let v = Double(field.dropFirst(6)) else { continue }
            if line.hasPrefix("some") { some = v } else if line.hasPrefix("full") { full = v }
        }
        return (some, full)
    }
}

/// /proc/vmstat: "name value" lines.
public enum VMStatText {
    /// The reclaim counters the diagnosis reads: pgscan_*, pgsteal_*, allocstall_*.
    public static func parse(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 2, f[0].hasPrefix("pgscan") || f[0].hasPrefix("pgsteal") || f[0].hasPrefix("allocstall"), let v = UInt64(f[1]) else { continue }
            out[String(f[0])] = v
        }
        return out
    }
}

/// CPU sets as /proc and /sys print them.
public enum CPUSetText {
    /// A list: "0-2,5" -> [0, 1, 2, 5]; "" -> [].
    public static func list(_ text: String) -> [Int] {
        var out: [Int] = []
        for part in text.trimmingSpaces.split(separator: ",") {
            let ends = part.split(separator: "-").compactMap { Int($0) }
            if ends.count == 1 { out.append(ends[0]) } else if ends.count == 2, ends[0] <= ends[1] { out += Array(ends[0]...ends[1]) }
        }
        return out
    }

    /// A mask: hex in 32-bit groups, highest first, comma-separated: "3" -> [0, 1], "1,00000000" -> [32],
    /// "0" or "00000000" -> [] (RPS off).
    public static func mask(_ text: String) -> [Int] {
        let groups = text.trimmingSpaces.split(separator: ",").reversed()
        var out: [Int] = []
        for (g, hex) in groups.enumerated() {
            guard let v = UInt32(hex, radix: 16) else { continue }
            for bit in 0..<32 where v & (1 << UInt32(bit)) != 0 { out.append(g * 32 + bit) }
        }
        return out
    }
}

/// /proc/interrupts: the numbered lines' irq and action name (the last column).
public enum InterruptsText {
    public static func parse(_ text: String) -> [(irq: Int, name: String)] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard let first = f.first, first.hasSuffix(":"), let irq = Int(first.dropLast()), let name = f.last else { return nil }
            return (irq, String(name))
        }
    }

    /// The receive queues' interrupts of a device: actions named after the device or its bus device
    /// ("eth0-rx-0", "eth0-TxRx-3", "virtio0-input.0"), with the queue number at the end. Transmit-only
    /// actions ("-tx-", "output") are left out.
    public static func receiveQueues(_ irqs: [(irq: Int, name: String)], names: [String]) -> [Int: Int] {
        var out: [Int: Int] = [:]
        for (irq, action) in irqs {
            guard names.contains(where: { !$0.isEmpty && action.hasPrefix($0 + "-") }) else { continue }
            let lower = action.lowercased()
            if lower.contains("-tx-") || lower.contains("output") || lower.contains("config") || lower.contains("control") { continue }
            let digits = action.reversed().prefix { $0.isNumber }
            guard !digits.isEmpty, let q = Int(String(digits.reversed())), out[q] == nil else { continue }
            out[q] = irq
        }
        return out
    }
}

func counterDelta(_ a: UInt64, _ b: UInt64) -> UInt64 { a >= b ? a - b : 0 }

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\n" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" { s.removeLast() }
        return s
    }
}

extension String {
    var trimmingSpaces: Substring { self[...].trimmingSpaces }
}
