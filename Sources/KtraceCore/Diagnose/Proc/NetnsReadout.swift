/// What one network namespace shows at one instant, as the text read inside it: /proc/net files, the
/// per-namespace sysctls and its devices under a sysfs mounted there. The session layer reads it; this
/// turns two readouts (the window's start and end) into a `NetNamespace`.
public struct NetnsReadout: Sendable {
    public var snmp: String?
    public var netstat: String?
    public var conntrackStat: String?
    public var netDev: String?
    /// Sysctls by their dotted name, the value's text as read.
    public var sysctls: [String: String] = [:]
    public var devices: [DeviceReadout] = []
    /// TCP listening sockets (sock_diag); nil when not read (the window's start: a gauge needs only its end).
    public var listeners: [ListenerReadout]?
    /// Packet-filter chains with their rule counts; nil when not read.
    public var chains: [RuleChain]?
    /// What could not be read in this namespace, and why: ("packet-filter rule counts from nft",
    /// "/usr/sbin/nft: no answer within 3 s (killed)").
    public var problems: [(what: String, why: String)] = []

    public init() {}

    /// The per-namespace sysctls the rules read.
    public static let sysctlNames = [
        "net.core.somaxconn", "net.ipv4.tcp_syncookies", "net.ipv4.tcp_max_syn_backlog",
        "net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_buckets",
        "net.bridge.bridge-nf-call-iptables",
    ]
}

/// A TCP listening socket as sock_diag reports it.
public struct ListenerReadout: Sendable {
    /// "0.0.0.0:80", "10.231.1.2:80", "[::]:80".
    public var address: String
    /// The accept queue's limit: listen()'s backlog capped by somaxconn.
    public var backlog: Int
    /// Connections waiting to be accepted.
    public var acceptQueue: Int
    /// The socket's inode: /proc/PID/fd links to "socket:[INODE]" name the processes holding it.
    public var inode: UInt64

    public init(address: String, backlog: Int, acceptQueue: Int, inode: UInt64) {
        self.address = address; self.backlog = backlog; self.acceptQueue = acceptQueue; self.inode = inode
    }
}

/// A device as sysfs shows it inside its namespace.
public struct DeviceReadout: Sendable {
    public var name: String
    /// The basename of /sys/class/net/DEV/device/driver, when it has a bus device.
    public var driver: String?
    /// The basename of /sys/class/net/DEV/device ("virtio0", "0000:00:03.0"): interrupts are named after it.
    public var busDevice: String?
    /// rx-N -> the text of rx-N/rps_cpus.
    public var rpsMasks: [Int: String] = [:]

    public init(name: String, driver: String? = nil, busDevice: String? = nil, rpsMasks: [Int: String] = [:]) {
        self.name = name; self.driver = driver; self.busDevice = busDevice; self.rpsMasks = rpsMasks
    }
}

extension NetNamespace {
    /// The namespace over a window: counters as deltas between `start` and `end` (left out when the
    /// namespace was not there at the start), gauges from `end`. `interrupts` and `affinity` (irq ->
    /// CPUs) are the machine's; a queue's interrupt is found by the device's or its bus device's name.
    /// `owners` names the process holding each listener's socket, by the socket's inode.
    public init(inode: UInt64, name: String?, isInit: Bool, processes: [ProcessRef], start: NetnsReadout?, end: NetnsReadout,
                interrupts: [(irq: Int, name: String)] = [], affinity: [Int: [Int]] = [:], owners: [UInt64: ProcessRef] = [:]) {
        self.init(inode: inode, name: name, isInit: isInit)
        self.processes = processes.isEmpty ? nil : processes
        var sysctls: [String: Int64] = [:]
        for (k, v) in end.sysctls { if let n = Int64(v.trimmingSpaces) { sysctls[k] = n } }
        self.sysctls = sysctls
        if let start {
            var counters: [String: UInt64] = [:]
            for (a, b) in [(start.snmp, end.snmp), (start.netstat, end.netstat)] {
                if let a, let b { counters.merge(SNMPText.delta(SNMPText.parse(a), SNMPText.parse(b))) { x, _ in x } }
            }
            self.counters = counters.isEmpty ? nil : counters
        }
        if let b = end.conntrackStat.flatMap(ConntrackStatText.parse), let count = sysctls["net.netfilter.nf_conntrack_count"],
           let max = sysctls["net.netfilter.nf_conntrack_max"] {
            let d = start?.conntrackStat.flatMap(ConntrackStatText.parse).map { ConntrackStatText.delta($0, b) }
            conntrack = ConntrackObservation(count: UInt64(Swift.max(0, count)), max: UInt64(Swift.max(0, max)), drop: d?.drop ?? 0,
                                             earlyDrop: d?.earlyDrop ?? 0, insertFailed: d?.insertFailed ?? 0)
        }
        let devStart = start?.netDev.map(NetDevText.parse), devEnd = end.netDev.map(NetDevText.parse) ?? [:]
        devices = end.devices.filter { $0.name != "lo" }.sorted { $0.name < $1.name }.map { d in
            var dev = NetDevice(name: d.name, driver: d.driver)
            if let e = devEnd[d.name], let s = devStart?[d.name] {
                dev.rxPackets = counterDelta(e.rxPackets, s.rxPackets)
                dev.rxDropped = counterDelta(e.rxDropped, s.rxDropped)
            }
            let irqs = InterruptsText.receiveQueues(interrupts, names: [d.name] + (d.busDevice.map { [$0] } ?? []))
            dev.queues = d.rpsMasks.keys.sorted().map { q in
                var rq = RxQueue(index: q, rpsCPUs: CPUSetText.mask(d.rpsMasks[q] ?? ""))
                if let irq = irqs[q] { rq.irq = irq; rq.irqCPUs = affinity[irq] }
                return rq
            }
            return dev
        }
        listeners = end.listeners?.map { l in
            Listener(address: l.address, backlog: l.backlog, acceptQueue: l.acceptQueue, comm: owners[l.inode]?.comm, pid: owners[l.inode]?.pid)
        }
        chains = end.chains
    }
}
