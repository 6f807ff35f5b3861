/// Where each number comes from, spelled once: evidence and ruled-out entries cite these.
public enum DiagnoseSource {
    public static let softirqTracepoints = "tracepoint softirq_entry/exit"
    public static let kthreads = "ktrace kthreads (sched_switch, workqueue_execute_start/end)"
    public static let workQueue = "tracepoint workqueue_queue_work"
    public static let stackShare = "stack share (kernel stacks sampled in NET_RX)"
    public static let procStat = "/proc/stat"
    public static let procPidStat = "/proc/PID/stat"
    public static let loadavg = "/proc/loadavg"
    public static let taskStates = "/proc/*/task/*/stat (state), /proc/PID/wchan"
    public static let softnet = "/proc/net/softnet_stat"
    public static let netstat = "/proc/net/netstat"
    public static let snmp = "/proc/net/snmp"
    public static let conntrackStat = "/proc/net/stat/nf_conntrack"
    public static let kfreeSkb = "tracepoint skb:kfree_skb"
    public static let vmstat = "/proc/vmstat"
    public static let listeners = "ss -ltn (sock_diag)"
    public static let rules = "iptables-save / nft list ruleset"

    public static func psi(_ resource: String) -> String { "/proc/pressure/\(resource)" }

    /// "/proc/sys/net/core/somaxconn" for "net.core.somaxconn".
    public static func sysctl(_ dotted: String) -> String {
        "/proc/sys/" + dotted.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "/")
    }

    public static func sysfsQueue(_ dev: String, _ queue: Int, _ file: String) -> String {
        "/sys/class/net/\(dev)/queues/rx-\(queue)/\(file)"
    }

    public static func irqAffinity(_ irq: Int) -> String { "/proc/irq/\(irq)/effective_affinity_list" }
}
