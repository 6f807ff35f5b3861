import Foundation
import Testing
@testable import KtraceCore

/// The /proc and /sys formats `ktrace diagnose` reads, on text recorded from a 6.18 guest (2 CPUs) and
/// the lab's namespaces, with the values worked out by hand.
@Suite struct ProcTextTests {
    @Test func procStatPerCPUDeltas() {
        let a = """
        cpu  100 0 50 1000 5 1 20 0 0 0
        cpu0 60 0 30 500 3 1 10 0 0 0
        cpu1 40 0 20 500 2 0 10 0 0 0
        intr 12345
        """
        let b = """
        cpu  400 0 60 1100 5 1 220 0 0 0
        cpu0 61 0 32 500 3 1 210 0 0 0
        cpu1 339 0 28 600 2 0 10 0 0 0
        """
        let d = ProcStatText.delta(ProcStatText.perCPU(a), ProcStatText.perCPU(b), hz: 100)
        #expect(d.map(\.cpu) == [0, 1])
        #expect(d[0].softirq == 2.0 && d[0].user == 0.01 && d[0].system == 0.02 && d[0].idle == 0)
        #expect(d[1].user == 2.99 && d[1].idle == 1.0 && d[1].system == 0.08)
        #expect(abs(d[0].busyFraction - 1.0) < 1e-9)
    }

    @Test func softnetUsesTheCPUColumn() {
        // Two lines, the second CPU's number in column 13 (5.10+): CPU 1 even if CPU 0's line were missing.
        let a = """
        62c85863 036d39db 00000001 00000000 00000000 00000000 00000000 00000000 00000000 0458f913 00000000 00000000 00000000 00000000 00000000
        00006bfc 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000
        """
        let b = """
        62c86863 036d3adb 00000003 00000000 00000000 00000000 00000000 00000000 00000000 0458f913 00000000 00000000 00000000 00000000 00000000
        00006c00 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000
        """
        let d = SoftnetText.delta(SoftnetText.parse(a), SoftnetText.parse(b))
        #expect(d.map(\.cpu) == [0, 1])
        #expect(d[0].processed == 0x1000 && d[0].dropped == 0x100 && d[0].timeSqueeze == 2)
        #expect(d[1].processed == 4 && d[1].dropped == 0)
        // A pre-5.10 line (no CPU column) is numbered by its position.
        #expect(SoftnetText.parse("00000010 00000000 00000002 0 0 0 0 0 0 0 0\n")[0].cpu == 0)
    }

    @Test func snmpPairsAndDeltas() {
        let a = """
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
        Tcp: 1 200 120000 -1 1253 1205 2 2200 0 33896 28112 0 0 1102 0
        TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPReqQFullDoCookies
        TcpExt: 10 0 3 5 10
        """
        let b = a.replacingOccurrences(of: "TcpExt: 10 0 3 5 10", with: "TcpExt: 468943 0 3 9 468943")
            .replacingOccurrences(of: "1205 2 2200", with: "1305 2 2200")
        let pa = SNMPText.parse(a)
        #expect(pa["Tcp.MaxConn"] == nil)  // -1: not a counter
        #expect(pa["TcpExt.ListenDrops"] == 5)
        let d = SNMPText.delta(pa, SNMPText.parse(b))
        #expect(d["TcpExt.SyncookiesSent"] == 468933)
        #expect(d["TcpExt.ListenDrops"] == 4)
        #expect(d["Tcp.PassiveOpens"] == 100)
        #expect(d["TcpExt.ListenOverflows"] == 0)
    }

    @Test func conntrackStatSumsCPUsByColumnName() throws {
        let text = """
        entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
        00000020  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000010 00000002 00000000  00000000 00000000 00000000 00000000
        00000020  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000005 00000001 00000000  00000000 00000000 00000000 00000000
        """
        let t = try #require(ConntrackStatText.parse(text))
        #expect(t == ConntrackStatText.Totals(drop: 0x15, earlyDrop: 3, insertFailed: 1))
    }

    @Test func netDevPacketsAndDrops() {
        let text = """
        Inter-|   Receive                                                |  Transmit
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
            lo: 67620393   18027    0    0    0     0          0         0 67620393   18027    0    0    0     0       0          0
        veth-cli:83701200 2089101    0 139019    0     0          0         0  1234  10    0    0    0     0       0          0
        """
        let d = NetDevText.parse(text)
        #expect(d["veth-cli"]?.rxPackets == 2089101 && d["veth-cli"]?.rxDropped == 139019)
        #expect(d["lo"]?.rxPackets == 18027)
    }

    @Test func taskStatWithSpacesAndParensInTheName() throws {
        let f = try #require(TaskStatText.parse("4242 (my (odd) name) R 1 4242 4242 0 -1 4194304 120 0 0 0 250 31 0 0 20 0 1 0 100 0 0"))
        #expect(f.comm == "my (odd) name" && f.state == "R" && f.utime == 250 && f.stime == 31 && !f.isKernelThread)
        let k = try #require(TaskStatText.parse("14 (ksoftirqd/0) S 2 0 0 0 -1 69238848 0 0 0 0 0 9800 0 0 20 0 1 0 5 0 0"))
        #expect(k.isKernelThread)
    }

    @Test func loadPSIAndVMStat() {
        #expect(LoadavgText.parse("2.50 1.20 0.40 3/467 12345\n").map { [$0.0, $0.1, $0.2] } == [2.5, 1.2, 0.4])
        let psi = PSIText.avg10("some avg10=17.25 avg60=3.00 avg300=0.05 total=1136902959\nfull avg10=2.00 avg60=0.22 avg300=0.05 total=0\n")
        #expect(psi.some == 17.25 && psi.full == 2.0)
        let vm = VMStatText.parse("nr_free_pages 1000\npgscan_kswapd 12\npgsteal_direct 3\nallocstall_normal 7\npgfault 99\n")
        #expect(vm == ["pgscan_kswapd": 12, "pgsteal_direct": 3, "allocstall_normal": 7])
    }

    @Test func cpuListsAndMasks() {
        #expect(CPUSetText.list("0-2,5\n") == [0, 1, 2, 5])
        #expect(CPUSetText.list("") == [])
        #expect(CPUSetText.mask("1\n") == [0])
        #expect(CPUSetText.mask("3") == [0, 1])
        #expect(CPUSetText.mask("00000000") == [])
        #expect(CPUSetText.mask("1,00000000") == [32])
        #expect(CPUSetText.mask(Shell.cpuMask([0, 33, 40])) == [0, 33, 40])
    }

    @Test func receiveQueueInterruptsByDeviceOrBusName() {
        let irqs = InterruptsText.parse("""
                   CPU0       CPU1
         28:          0          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config
         38:          0      10490 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
         39:       8568          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
         40:          0          0 IR-PCI-MSI 524288-edge      ens5-TxRx-0
         41:          0          0 IR-PCI-MSI 524289-edge      ens5-TxRx-1
         42:          0          0 IR-PCI-MSI 524290-edge      ens5-tx-2
        NMI:          0          0   Non-maskable interrupts
        """)
        #expect(InterruptsText.receiveQueues(irqs, names: ["eth0", "virtio2"]) == [0: 38])
        #expect(InterruptsText.receiveQueues(irqs, names: ["ens5"]) == [0: 40, 1: 41])
        #expect(InterruptsText.receiveQueues(irqs, names: ["veth-cli"]).isEmpty)
    }

    /// Two readouts of the lab's host namespace make one NetNamespace: counters as deltas, gauges from the
    /// end, the RPS mask as CPUs, and a queue's interrupt found by the bus device's name.
    @Test func namespaceFromTwoReadouts() throws {
        var a = NetnsReadout()
        a.netstat = "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 100 1\n"
        a.netDev = " face |bytes\n veth-cli: 100 1000 0 5 0 0 0 0 0 0 0 0 0 0 0 0\n  eth0: 0 10 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        a.conntrackStat = "entries drop early_drop insert_failed\n00000001 00000002 00000000 00000000\n"
        var b = a
        b.netstat = "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 600 1\n"
        b.netDev = " face |bytes\n veth-cli: 900 91000 0 105 0 0 0 0 0 0 0 0 0 0 0 0\n  eth0: 0 30 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        b.conntrackStat = "entries drop early_drop insert_failed\n00000001 0000000a 00000000 00000000\n"
        b.sysctls = ["net.netfilter.nf_conntrack_count": "65537\n", "net.netfilter.nf_conntrack_max": "262144\n", "net.core.somaxconn": "4096\n"]
        b.devices = [DeviceReadout(name: "veth-cli", rpsMasks: [0: "1\n"]), DeviceReadout(name: "lo"),
                     DeviceReadout(name: "eth0", driver: "virtio_net", busDevice: "virtio2", rpsMasks: [0: "0\n"])]
        let ns = NetNamespace(inode: 7, name: "ktlab-host", isInit: false, processes: [], start: a, end: b,
                              interrupts: [(38, "virtio2-input.0")], affinity: [38: [1]])
        #expect(ns.counters?["TcpExt.SyncookiesSent"] == 500 && ns.counters?["TcpExt.ListenDrops"] == 0)
        #expect(ns.sysctls?["net.core.somaxconn"] == 4096)
        let ct = try #require(ns.conntrack)
        #expect(ct.count == 65537 && ct.max == 262144 && ct.drop == 8)
        #expect(ns.devices?.map(\.name) == ["eth0", "veth-cli"])
        let veth = try #require(ns.devices?.first { $0.name == "veth-cli" })
        #expect(veth.rxPackets == 90000 && veth.rxDropped == 100 && veth.queues?.first?.rpsCPUs == [0])
        let eth = try #require(ns.devices?.first { $0.name == "eth0" })
        #expect(eth.queues?.first?.irq == 38 && eth.queues?.first?.irqCPUs == [1] && eth.queues?.first?.rpsCPUs == [])
        #expect(eth.driver == "virtio_net")
        // Seen only at the end: gauges, but no counters (a delta since its creation is not the window's).
        let late = NetNamespace(inode: 8, name: nil, isInit: false, processes: [ProcessRef(pid: 9, comm: "x")], start: nil, end: b)
        #expect(late.counters == nil && late.devices?.first { $0.name == "veth-cli" }?.rxPackets == nil)
        #expect(late.conntrack?.drop == 0)
    }

    /// Listeners are gauges of the window's end, named by the process holding each socket (by its inode);
    /// the start's readout has none (nil: not read), and a socket no process was found for stays unnamed.
    @Test func namespaceListenersNamedByTheirSocketsOwner() {
        var end = NetnsReadout()
        end.listeners = [ListenerReadout(address: "127.0.0.1:8099", backlog: 16, acceptQueue: 3, inode: 1249569),
                         ListenerReadout(address: "[::]:8097", backlog: 7, acceptQueue: 0, inode: 1249570),
                         ListenerReadout(address: "0.0.0.0:2024", backlog: 128, acceptQueue: 0, inode: 1268)]
        end.chains = [RuleChain(tool: "nft", family: "inet", table: "ktgt", chain: "in", rules: 2, hook: "input")]
        let nginx = ProcessRef(pid: 16637, comm: "nginx")
        let ns = NetNamespace(inode: 9, name: "ktl-gt", isInit: false, processes: [nginx], start: NetnsReadout(), end: end,
                              owners: [1249569: nginx, 1249570: nginx])
        #expect(ns.listeners?.map(\.address) == ["127.0.0.1:8099", "[::]:8097", "0.0.0.0:2024"])
        let first = ns.listeners?.first
        #expect(first?.backlog == 16 && first?.acceptQueue == 3 && first?.comm == "nginx" && first?.pid == 16637)
        #expect(ns.listeners?[1].comm == "nginx" && ns.listeners?[1].backlog == 7)
        #expect(ns.listeners?[2].comm == nil && ns.listeners?[2].pid == nil)
        #expect(ns.chains?.first?.rules == 2)
        // Not read (a readout of the start only): nothing, rather than "no listeners".
        let unread = NetNamespace(inode: 9, name: nil, isInit: false, processes: [], start: nil, end: NetnsReadout())
        #expect(unread.listeners == nil && unread.chains == nil)
    }

    @Test func loadSamplingAveragesAndGroupsByWchan() {
        var s = TaskStateSampler()
        s.add(running: 2, blocked: [.init(comm: "dd", pid: 10, wchan: "io_schedule"), .init(comm: "dd", pid: 11, wchan: "io_schedule")])
        s.add(running: 4, blocked: [.init(comm: "dd", pid: 10, wchan: "io_schedule"), .init(comm: "nfsd", pid: 20, wchan: "0")])
        let o = s.observation(loadavg: (3.1, 2.0, 1.0))
        #expect(o.running == 3 && o.uninterruptible == 2 && o.load1 == 3.1)
        #expect(o.dByWchan?.map(\.wchan) == ["io_schedule", "(unknown)"])
        #expect(o.dByWchan?.first?.tasks == 1.5 && o.dByWchan?.first?.comms?.first == "dd (10)")
    }

    @Test func processCPUSkipsKernelThreadsAndNewProcesses() {
        func f(_ c: String, _ u: UInt64, _ s: UInt64, k: Bool = false) -> TaskStatText.Fields {
            TaskStatText.Fields(comm: c, state: "R", utime: u, stime: s, isKernelThread: k)
        }
        let a = [1: f("awk", 100, 0), 2: f("ksoftirqd/0", 0, 0, k: true), 3: f("idle", 5, 5)]
        let b = [1: f("awk", 500, 2), 2: f("ksoftirqd/0", 0, 400, k: true), 3: f("idle", 5, 5), 4: f("new", 900, 0)]
        let top = ProcessCPUDelta.top(a, b, hz: 100, top: 5)
        #expect(top.map(\.pid) == [1])
        #expect(top[0].userSeconds == 4 && top[0].systemSeconds == 0.02)
    }

    /// /proc/PID/stack as recorded here (6.18) under the slowfuse workload: names root first, offsets gone.
    @Test func kernelStackNamesRootFirst() {
        let text = """
        [<0>] folio_wait_bit_common+0x167/0x370
        [<0>] filemap_get_pages+0x751/0x770
        [<0>] filemap_read+0x111/0x400
        [<0>] vfs_read+0x2a4/0x3d0
        [<0>] ksys_read+0x6f/0xf0
        [<0>] do_syscall_64+0x71/0x290
        [<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e

        """
        #expect(KernelStackText.parse(text) == ["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "ksys_read", "vfs_read", "filemap_read",
                                                "filemap_get_pages", "folio_wait_bit_common"])
        #expect(KernelStackText.parse("") == [])
    }

    /// A wait channel's group carries the stack most of its tasks were seen in; long stacks keep their
    /// leaf end. Fails if the stack of one odd task stands for the group.
    @Test func dStateGroupKeepsItsCommonStack() {
        let common = ["do_syscall_64", "ksys_read", "vfs_read", "filemap_read", "folio_wait_bit_common"]
        let odd = ["do_syscall_64", "ksys_pread64", "vfs_read", "filemap_read", "folio_wait_bit_common"]
        var s = TaskStateSampler()
        s.add(running: 0, blocked: [.init(comm: "cat", pid: 1, wchan: "folio_wait_bit_common", stack: odd),
                                    .init(comm: "cat", pid: 2, wchan: "folio_wait_bit_common", stack: common)])
        s.add(running: 0, blocked: [.init(comm: "cat", pid: 2, wchan: "folio_wait_bit_common", stack: common),
                                    .init(comm: "dd", pid: 3, wchan: "io_schedule",
                                          stack: (0..<20).map { "f\($0)" })])
        let o = s.observation(loadavg: (0, 0, 0))
        #expect(o.dByWchan?.first?.stack == common)
        #expect(o.dByWchan?.last?.stack == ["..."] + (8..<20).map { "f\($0)" })
    }

    /// /proc/PID/task/TID/syscall of a reader blocked in read(3, ...) on x86_64 and arm64; outside a call,
    /// or in a call whose first argument is no file descriptor, there is no file.
    @Test func blockedSyscallGivesItsFile() {
        #expect(BlockedFileText.fd(syscall: "0 0x3 0x7f014666f000 0x20000 0x0 0x0 0x0 0x7ffd46c2a958 0x7f01467ea2ad\n", arch: "x86_64") == 3)
        #expect(BlockedFileText.fd(syscall: "63 0xa 0xffff8000 0x20000 0x0 0x0 0x0 0xffffc0de 0xffff1234", arch: "aarch64") == 10)
        #expect(BlockedFileText.fd(syscall: "7 0x5 0x1 0x0 0x0 0x0 0x0 0x0 0x0", arch: "x86_64") == nil)  // poll
        #expect(BlockedFileText.fd(syscall: "running", arch: "x86_64") == nil)
        #expect(BlockedFileText.fd(syscall: "-1 0x7ffd46c2a958 0x7f01467ea2ad", arch: "x86_64") == nil)
        #expect(BlockedFileText.fd(syscall: "0 0x3 0x0", arch: "riscv64") == nil)
    }

    /// The file's mount is the longest mount point leading its path, escapes decoded; a stacked mount
    /// point takes the last line; a socket is on no mount.
    @Test func blockedFileIsOnItsLongestMount() {
        let mountinfo = """
        27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
        40 27 0:35 / /tmp rw,nosuid shared:20 - tmpfs tmpfs rw
        55 40 0:60 / /tmp/slowfuse.Ab3 rw,nosuid,nodev - fuse.slowfuse slowfuse rw,user_id=0,group_id=0
        56 40 0:61 / /tmp/my\\040dir rw - nfs4 srv:/export rw
        57 56 0:62 / /tmp/my\\040dir rw - nfs4 other:/export rw
        """
        #expect(BlockedFileText.mount(of: "/tmp/slowfuse.Ab3/f0", mountinfo: mountinfo)
            == .init(mountPoint: "/tmp/slowfuse.Ab3", fsType: "fuse.slowfuse", source: "slowfuse"))
        #expect(BlockedFileText.describe(path: "/tmp/slowfuse.Ab3/f0", mountinfo: mountinfo) == "/tmp/slowfuse.Ab3/f0 on fuse.slowfuse")
        #expect(BlockedFileText.mount(of: "/tmp/slowfuse.Ab3x", mountinfo: mountinfo)?.fsType == "tmpfs")
        #expect(BlockedFileText.mount(of: "/tmp/my dir/a", mountinfo: mountinfo)?.source == "other:/export")
        #expect(BlockedFileText.mount(of: "/etc/passwd", mountinfo: mountinfo)?.fsType == "ext4")
        #expect(BlockedFileText.describe(path: "socket:[123]", mountinfo: mountinfo) == "socket:[123]")
    }

    /// A wait channel's group lists the files its tasks wait on, most frequent first.
    @Test func dStateGroupListsItsFiles() {
        var s = TaskStateSampler()
        s.add(running: 0, blocked: [.init(comm: "r", pid: 1, wchan: "w", file: "/m/f1 on fuse.x"), .init(comm: "r", pid: 2, wchan: "w", file: "/m/f2 on fuse.x"),
                                    .init(comm: "r", pid: 3, wchan: "w", file: "/m/f2 on fuse.x"), .init(comm: "r", pid: 4, wchan: "w")])
        #expect(s.observation(loadavg: (0, 0, 0)).dByWchan?.first?.files == ["/m/f2 on fuse.x", "/m/f1 on fuse.x"])
    }
}
