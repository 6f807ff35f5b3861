import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

/// A network namespace on this machine: its identity, its `ip netns` name, and the processes in it.
struct NetnsRef {
    var inode: UInt64
    var name: String?
    var isInit: Bool
    var pids: [Int]
    /// A file that refers to it, to enter it: /run/netns/NAME or /proc/PID/ns/net.
    var path: String
}

/// Finds the network namespaces and reads each from inside. A namespace's /proc/net files and sysctls
/// are those of the task reading them, and /sys/class/net lists the devices of the namespace sysfs was
/// mounted in; so each is read on a thread of its own that enters the namespace (setns), takes a private
/// mount namespace (unshare, as `ip netns exec` does) and mounts a sysfs there. The thread, its mount
/// namespace and that sysfs end when the read does; no other thread of ktrace is moved.
enum NetnsReader {
    /// Namespaces with a process or an `ip netns` name; the initial one first, then named, then by inode.
    static func namespaces() -> [NetnsRef] {
        // Kernel threads (kthreadd, pid 2) live in the initial namespace; pid 1 may not (a container's init).
        let initInode = ["/proc/2/ns/net", "/proc/1/ns/net"].lazy.compactMap { ProcFiles.readLink($0).flatMap(parseInode) }.first
        var byInode: [UInt64: NetnsRef] = [:]
        for pid in ProcFiles.pids() {
            guard let link = ProcFiles.readLink("/proc/\(pid)/ns/net"), let ino = parseInode(link) else { continue }
            if byInode[ino] == nil {
                byInode[ino] = NetnsRef(inode: ino, name: nil, isInit: ino == initInode, pids: [], path: "/proc/\(pid)/ns/net")
            }
            byInode[ino]!.pids.append(pid)
        }
        for name in ProcFiles.list("/run/netns").sorted() {
            let path = "/run/netns/\(name)"
            guard let ino = inode(path), ino != 0 else { continue }
            if byInode[ino] == nil { byInode[ino] = NetnsRef(inode: ino, name: name, isInit: ino == initInode, pids: [], path: path) }
            if byInode[ino]!.name == nil { byInode[ino]!.name = name; byInode[ino]!.path = path }
        }
        return byInode.values.sorted { a, b in
            (a.isInit ? 0 : a.name != nil ? 1 : 2, a.inode) < (b.isInit ? 0 : b.name != nil ? 1 : 2, b.inode)
        }
    }

    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// "net:[4026531840]" -> 4026531840.
    static func parseInode(_ link: String) -> UInt64? {
        guard let open = link.firstIndex(of: "["), let close = link.lastIndex(of: "]") else { return nil }
        return UInt64(link[link.index(after: open)..<close])
    }

    /// What only the window's end reads: gauges no delta needs, which the start would pay for in vain.
    struct EndGauges {
        /// The packet-filter listings, as installed.
        var rules: RuleListings
    }

    /// Reads the namespace at `path` from inside it, or says why it could not; with `endGauges`, also its
    /// TCP listeners and rule counts.
    static func read(_ path: String, endGauges: EndGauges? = nil) -> Result<NetnsReadout, KernelError> {
        let job = Job(path: path, endGauges: endGauges)
        var thread = pthread_t()
        let ctx = Unmanaged.passRetained(job).toOpaque()
        let rc = pthread_create(&thread, nil, { p in
            let job = Unmanaged<Job>.fromOpaque(p!).takeRetainedValue()
            job.result = job.enterAndRead()
            return nil
        }, ctx)
        if rc != 0 {
            Unmanaged<Job>.fromOpaque(ctx).release()
            return .failure(KernelError("starting a thread to read \(path): \(errnoText(rc))"))
        }
        pthread_join(thread, nil)
        return job.result ?? .failure(KernelError("reading \(path): no result"))
    }

    /// One namespace's read: written by its thread, read after the join.
    final class Job: @unchecked Sendable {
        let path: String
        let endGauges: EndGauges?
        var result: Result<NetnsReadout, KernelError>?
        init(path: String, endGauges: EndGauges?) { self.path = path; self.endGauges = endGauges }

        func enterAndRead() -> Result<NetnsReadout, KernelError> {
            do { try cCall { kt_thread_enter_netns(path, $0, $1) } } catch { return .failure(error) }
            return .success(NetnsReader.readHere(endGauges: endGauges))
        }
    }

    /// What this thread's namespace shows (its sysfs mounted at /sys).
    static func readHere(endGauges: EndGauges?) -> NetnsReadout {
        var r = NetnsReadout()
        let net = "/proc/thread-self/net"
        r.snmp = ProcFiles.read("\(net)/snmp")
        r.netstat = ProcFiles.read("\(net)/netstat")
        r.conntrackStat = ProcFiles.read("\(net)/stat/nf_conntrack")
        r.netDev = ProcFiles.read("\(net)/dev")
        for key in NetnsReadout.sysctlNames {
            if let v = ProcFiles.read(DiagnoseSource.sysctl(key)) { r.sysctls[key] = v }
        }
        for dev in ProcFiles.list("/sys/class/net").sorted() where dev != "lo" {
            let base = "/sys/class/net/\(dev)"
            var d = DeviceReadout(name: dev)
            d.busDevice = ProcFiles.readLink("\(base)/device").map(ProcFiles.basename)
            d.driver = ProcFiles.readLink("\(base)/device/driver").map(ProcFiles.basename)
            for q in ProcFiles.list("\(base)/queues") where q.hasPrefix("rx-") {
                if let i = Int(q.dropFirst(3)), let mask = ProcFiles.read("\(base)/queues/\(q)/rps_cpus") { d.rpsMasks[i] = mask }
            }
            r.devices.append(d)
        }
        if let endGauges {
            readListeners(into: &r)
            let rules = endGauges.rules.read()
            r.chains = rules.chains
            r.problems += rules.problems
        }
        return r
    }

    /// Listeners beyond this many are counted and said, not read.
    static let maxListeners = 4096

    /// This thread's namespace's TCP listeners (sock_diag, as `ss -ltn`).
    static func readListeners(into r: inout NetnsReadout) {
        var buf = [kt_listener](repeating: kt_listener(), count: maxListeners)
        var leftOut: Int32 = 0
        let n: Int32
        do {
            n = try cCount { err, errlen in kt_tcp_listeners(&buf, Int32(buf.count), &leftOut, err, errlen) }
        } catch {
            r.problems.append(("TCP listeners", error.message))
            return
        }
        r.listeners = buf.prefix(Int(n)).map { l in
            ListenerReadout(address: address(l), backlog: Int(l.backlog), acceptQueue: Int(l.accept_queue), inode: l.inode)
        }
        if leftOut > 0 { r.problems.append(("\(leftOut) TCP listeners", "only the first \(maxListeners) are read")) }
    }

    /// "0.0.0.0:80", "[::]:80".
    static func address(_ l: kt_listener) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = withUnsafeBytes(of: l.addr) { inet_ntop(Int32(l.family), $0.baseAddress, &text, socklen_t(text.count)) }
        let ip = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Int32(l.family) == AF_INET6 ? "[\(ip)]:\(l.port)" : "\(ip):\(l.port)"
    }
}
