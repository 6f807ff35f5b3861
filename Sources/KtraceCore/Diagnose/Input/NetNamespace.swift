/// What one network namespace holds: most network sysctls, the SNMP counters, conntrack's table and the
/// devices are per namespace, and a container's traffic lives in its own.
public struct NetNamespace: Codable, Sendable {
    /// The namespace's inode (`/proc/PID/ns/net`), its identity.
    public var inode: UInt64
    /// Its name under /run/netns (`ip netns`), when it has one.
    public var name: String?
    /// The initial namespace (the host's own).
    public var isInit: Bool?
    /// Processes in it, busiest first: how a namespace without a name is named and entered.
    public var processes: [ProcessRef]?
    /// Sysctls as read inside it, by their dotted name: net.core.somaxconn, net.ipv4.tcp_syncookies,
    /// net.ipv4.tcp_max_syn_backlog, net.netfilter.nf_conntrack_max, net.netfilter.nf_conntrack_count,
    /// net.bridge.bridge-nf-call-iptables, ...
    public var sysctls: [String: Int64]?
    /// /proc/net/snmp and /proc/net/netstat deltas, keyed "Group.Name": "TcpExt.ListenOverflows",
    /// "TcpExt.SyncookiesSent", "Tcp.PassiveOpens", ...
    public var counters: [String: UInt64]?
    /// Connection tracking, when nf_conntrack is loaded.
    public var conntrack: ConntrackObservation?
    public var devices: [NetDevice]?
    /// TCP listening sockets (`ss -ltn`): their backlog and accept queue at the window's end.
    public var listeners: [Listener]?
    /// Packet-filter chains and their rule counts (iptables-save / nft list ruleset).
    public var chains: [RuleChain]?

    public init(inode: UInt64, name: String? = nil, isInit: Bool? = nil) {
        self.inode = inode; self.name = name; self.isInit = isInit
    }

    public func sysctl(_ key: String) -> Int64? { sysctls?[key] }
    public func counter(_ key: String) -> UInt64 { counters?[key] ?? 0 }
}

public struct ProcessRef: Codable, Sendable {
    public var pid: Int
    public var comm: String

    public init(pid: Int, comm: String) { self.pid = pid; self.comm = comm }
}

/// /proc/net/stat/nf_conntrack summed over CPUs (deltas), and the table's fill at the window's end.
public struct ConntrackObservation: Codable, Sendable {
    /// nf_conntrack_count: entries in this namespace's table.
    public var count: UInt64
    /// nf_conntrack_max: the limit the count is held to (one value for all namespaces).
    public var max: UInt64
    /// Packets dropped because no entry could be made: the table was full and nothing could be evicted.
    public var drop: UInt64
    /// Unassured entries evicted to make room for a new one: the table was full.
    public var earlyDrop: UInt64
    /// Entries whose insertion failed (a clash with an existing entry); the packet is dropped.
    public var insertFailed: UInt64

    public init(count: UInt64, max: UInt64, drop: UInt64 = 0, earlyDrop: UInt64 = 0, insertFailed: UInt64 = 0) {
        self.count = count; self.max = max; self.drop = drop; self.earlyDrop = earlyDrop; self.insertFailed = insertFailed
    }
}

/// A network device and how its receive work is spread over CPUs.
public struct NetDevice: Codable, Sendable {
    public var name: String
    public var driver: String?
    /// Packets received and dropped by the device over the window (/sys/class/net/DEV/statistics).
    public var rxPackets: UInt64?
    public var rxDropped: UInt64?
    public var queues: [RxQueue]?
    /// `ethtool -l`: the most combined channels the hardware supports.
    public var maxChannels: Int?

    public init(name: String, driver: String? = nil, rxPackets: UInt64? = nil, rxDropped: UInt64? = nil,
                queues: [RxQueue]? = nil, maxChannels: Int? = nil) {
        self.name = name; self.driver = driver; self.rxPackets = rxPackets; self.rxDropped = rxDropped
        self.queues = queues; self.maxChannels = maxChannels
    }
}

public struct RxQueue: Codable, Sendable {
    /// N of rx-N.
    public var index: Int
    /// CPUs in /sys/class/net/DEV/queues/rx-N/rps_cpus; empty when RPS is off.
    public var rpsCPUs: [Int]
    /// The queue's interrupt, when it has one (veth and other software devices have none).
    public var irq: Int?
    /// /proc/irq/N/effective_affinity_list (or smp_affinity_list).
    public var irqCPUs: [Int]?

    public init(index: Int, rpsCPUs: [Int] = [], irq: Int? = nil, irqCPUs: [Int]? = nil) {
        self.index = index; self.rpsCPUs = rpsCPUs; self.irq = irq; self.irqCPUs = irqCPUs
    }
}

/// A TCP listening socket at the window's end (`ss -ltnp`).
public struct Listener: Codable, Sendable {
    public var address: String
    /// The accept queue's limit: listen()'s backlog capped by somaxconn (ss's Send-Q).
    public var backlog: Int
    /// Connections waiting to be accepted (ss's Recv-Q).
    public var acceptQueue: Int
    public var comm: String?
    public var pid: Int?

    public init(address: String, backlog: Int, acceptQueue: Int, comm: String? = nil, pid: Int? = nil) {
        self.address = address; self.backlog = backlog; self.acceptQueue = acceptQueue; self.comm = comm; self.pid = pid
    }
}

/// One packet-filter chain and the number of rules in it.
public struct RuleChain: Codable, Sendable {
    /// "iptables", "ip6tables" or "nft".
    public var tool: String
    /// nft's family ("ip", "ip6", "inet", "bridge"); "ip" or "ip6" for the iptables tools.
    public var family: String
    public var table: String
    public var chain: String
    public var rules: Int
    /// The netfilter hook it is attached to ("prerouting", "forward", ...), nil for a chain jumped to.
    public var hook: String?

    public init(tool: String, family: String, table: String, chain: String, rules: Int, hook: String? = nil) {
        self.tool = tool; self.family = family; self.table = table; self.chain = chain; self.rules = rules; self.hook = hook
    }
}
