import Foundation
import KtraceTestSupport
import Testing

/// Integration tests run the real `ktrace` binary against the real kernel, as root, with load that the
/// tests make themselves in network namespaces (scripts/lab.sh).
enum Env {
    static let isRoot = getuid() == 0

    /// Package root, from this file's path (Tests/IntegrationTests/Support.swift).
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The ktrace built next to this test binary (same configuration), or KTRACE_BIN.
    static let ktrace: String = {
        if let p = ProcessInfo.processInfo.environment["KTRACE_BIN"] { return p }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test binary may sit inside a .xctest bundle directory.
        if dir.lastPathComponent.hasSuffix(".xctest") { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("ktrace").path
    }()

    static let lab = root.appendingPathComponent("scripts/lab.sh").path
}

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Run a program to completion (bounded by timeout seconds; killed after that).
@discardableResult
func run(_ path: String, _ args: [String], timeout: Double = 120, env: [String: String] = [:]) throws -> RunResult {
    let p = try Spawned(path, args, env: env, streamStdout: false)
    return p.wait(timeout: timeout)
}

/// A child process, spawned and reaped with posix_spawn/waitpid directly (Foundation's Process has been
/// seen here never noticing that a child exited). Its stderr (and stdout unless streamed) go to
/// temporary files, so a chatty child never blocks on a full pipe; a streamed stdout is read line by line
/// while the child runs.
final class Spawned: @unchecked Sendable {
    let pid: Int32
    private var readFD: Int32 = -1
    private let outFile: String
    let errFile: String
    private var buffer = Data()
    private var exitStatus: Int32?

    init(_ path: String, _ args: [String], env: [String: String] = [:], streamStdout: Bool = true) throws {
        let tmp = FileManager.default.temporaryDirectory.path
        outFile = "\(tmp)/ktrace-test-\(UUID().uuidString).out"
        errFile = "\(tmp)/ktrace-test-\(UUID().uuidString).err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var fds: [Int32] = [-1, -1]
        if streamStdout {
            guard pipe(&fds) == 0 else { throw LabError("pipe: \(errno)") }
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
            posix_spawn_file_actions_addclose(&actions, fds[0])
            posix_spawn_file_actions_addclose(&actions, fds[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, outFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        posix_spawn_file_actions_addopen(&actions, 2, errFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Children start with default signal handling and nothing blocked, whatever this runner does.
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        let argv = ([path] + args).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attr, argv, envp)
        if streamStdout { close(fds[1]); readFD = fds[0] }
        guard rc == 0 else { throw LabError("spawn \(path): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Next complete stdout line (streamed children only), or nil at end of output. A child silent for
    /// `timeout` seconds is killed, so a hung ktrace fails its test instead of hanging the run.
    func readLine(timeout: Double = 120) -> String? {
        guard readFD >= 0 else { return nil }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if buffer.firstIndex(of: 0x0A) == nil {
                var p = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
                if Glibc.poll(&p, 1, Int32(timeout * 1000)) == 0 {
                    kill(pid, SIGKILL)
                    return nil
                }
            }
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let n = read(readFD, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if buffer.isEmpty { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Signal the child, unless it was reaped already (its pid may belong to another process by now).
    func signal(_ sig: Int32) { if exitStatus == nil { kill(pid, sig) } }

    /// Wait until the child's stderr holds `text` (a tracer's banner: it has attached); false if the
    /// child exits or `timeout` passes first.
    func waitForStderr(_ text: String, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let s = try? String(contentsOfFile: errFile, encoding: .utf8), s.contains(text) { return true }
            if poll() { return false }
            usleep(20_000)
        }
        return false
    }

    /// Still running (reaped here if it has exited).
    var isRunning: Bool { !poll() }

    /// Reap the child if it has exited (non-blocking).
    private func poll() -> Bool {
        if exitStatus != nil { return true }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r == pid else { return false }
        // Exit code, or 128 + signal number as a shell reports it.
        exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return true
    }

    /// Wait for exit (SIGKILL after timeout). A streamed child's remaining output is read too.
    func wait(timeout: Double) -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !poll() {
            if Date() >= deadline {
                kill(pid, SIGKILL)
                while !poll() { usleep(10_000) }
                break
            }
            if readFD >= 0 {
                // Keep the pipe drained while waiting.
                var p = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
                if Glibc.poll(&p, 1, 20) > 0 {
                    let n = read(readFD, &chunk, chunk.count)
                    if n > 0 { out.append(contentsOf: chunk[0..<n]) } else { usleep(20_000) }
                }
            } else {
                usleep(20_000)
            }
        }
        if readFD >= 0 {
            while true {
                let n = read(readFD, &chunk, chunk.count)
                if n <= 0 { break }
                out.append(contentsOf: chunk[0..<n])
            }
            close(readFD)
            readFD = -1
        }
        let stdout = buffer + out + ((try? Data(contentsOf: URL(fileURLWithPath: outFile))) ?? Data())
        buffer.removeAll()
        let stderr = (try? Data(contentsOf: URL(fileURLWithPath: errFile))) ?? Data()
        unlink(outFile)
        unlink(errFile)
        return RunResult(status: exitStatus ?? -1, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of ktrace's timestamps and of the workloads' logs.
func monoNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch: the clock of the times a profile states.
func unixNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// A ktrace run with the window it recorded, as this process saw it.
struct Recorded {
    let result: RunResult
    /// CLOCK_MONOTONIC when the banner said recording had begun, and `seconds` later.
    let start: UInt64, end: UInt64
}

/// Runs ktrace (`args` hold `-d seconds`) to its end, and notes the recording's window: from its banner
/// (printed once every program is attached, which takes seconds under emulation) to `seconds` later.
/// `mark(0)` runs at the start and `mark(1)` at the end, for ground truth read over the same window
/// rather than around ktrace's attach and exit. Both ends lag the real ones by the banner's detection
/// (a 20 ms poll) and this thread's scheduling: a tenth of a second at worst under emulation.
func recordWindow(_ args: [String], seconds: Double, env: [String: String] = [:], mark: (Int) throws -> Void = { _ in }) throws -> Recorded {
    let kt = try Spawned(Env.ktrace, args, env: env, streamStdout: false)
    var ended = false
    defer { if !ended { kt.signal(SIGKILL); _ = kt.wait(timeout: 30) } }
    guard kt.waitForStderr("Ctrl-C", timeout: 90) else {
        ended = true
        let r = kt.wait(timeout: 30)
        throw LabError("ktrace \(args.joined(separator: " ")) never began recording (exit \(r.status)): \(r.stderr)")
    }
    let start = monoNs()
    try mark(0)
    let end = start + UInt64(seconds * 1e9)
    let now = monoNs()
    if end > now { usleep(UInt32((end - now) / 1000)) }
    try mark(1)
    ended = true
    return Recorded(result: kt.wait(timeout: 90), start: start, end: end)
}

/// The network lab of scripts/lab.sh under a name of this test run, torn down by `down()`.
struct Lab {
    let name: String
    var env: [String: String] { ["KT_LAB": name] }

    init(_ name: String) { self.name = name }

    func up() throws {
        let r = try run("/bin/bash", [Env.lab, "up"], timeout: 120, env: env)
        guard r.status == 0 else { throw LabError("lab.sh up failed: \(r.stderr)\(r.stdout)") }
    }

    /// Start a bounded load in the background (lab.sh stops it by itself).
    func load(_ kind: String, seconds: Int, extra: [String] = []) throws -> Spawned {
        try scenario(["load", kind, String(seconds)] + extra)
    }

    /// Start one of lab.sh's scenarios (churn, conntrack, synflood, rules, ...) in the background.
    func scenario(_ args: [String]) throws -> Spawned {
        try Spawned("/bin/bash", [Env.lab] + args, env: env, streamStdout: false)
    }

    /// End a scenario started by `scenario` (its EXIT trap cleans up) and print its last line, its result.
    func stop(_ s: Spawned) {
        s.signal(SIGTERM)
        let r = s.wait(timeout: 30)
        print(r.stderr.split(separator: "\n").last.map(String.init) ?? "")
    }

    func down() {
        _ = try? run("/bin/bash", [Env.lab, "down"], timeout: 120, env: env)
    }
}

/// Run `body` while the lab `name` is up and a bounded load of `kind` runs (after `warmup` seconds);
/// the load is waited for and the lab torn down afterwards, whatever `body` does.
func underLoad(_ name: String, _ kind: String, seconds: Int, warmup: Double, _ body: () throws -> Void) throws {
    let lab = Lab(name)
    lab.down()
    try lab.up()
    defer { lab.down() }
    let load = try lab.load(kind, seconds: seconds)
    defer { _ = load.wait(timeout: 60) }
    usleep(UInt32(warmup * 1_000_000))
    try body()
}

struct LabError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Names of loaded BPF programs (bpftool), to check that nothing outlives ktrace.
func loadedProgramNames() throws -> [String] {
    let r = try run("/usr/sbin/bpftool", ["prog", "show"], timeout: 30)
    return r.stdout.split(separator: "\n").compactMap { line -> String? in
        let f = line.split(separator: " ")
        guard let i = f.firstIndex(of: "name"), i + 1 < f.count else { return nil }
        return String(f[i + 1])
    }
}

/// Runs ktrace until it has attached, calls `read` for the kernel's view while it is, then ends it with
/// Ctrl-C (not a -d window, which could close first under emulation) and returns both. Waits first for an
/// earlier ktrace's programs to go: they are freed after an RCU grace period, and listed until then.
func whileAttached<T>(_ args: [String], env: [String: String] = [:], attachTimeout: Double = 90,
                      read: () throws -> T) throws -> (T, RunResult) {
    let left = try ktraceProgramsAfterExit()
    try #require(left.isEmpty, "programs of an earlier ktrace still loaded: \(left)")
    let k = try Spawned(Env.ktrace, args, env: env, streamStdout: false)
    defer { k.signal(SIGTERM); _ = k.wait(timeout: 30) }
    try #require(k.waitForStderr("Ctrl-C", timeout: attachTimeout), "ktrace \(args.joined(separator: " ")) did not attach")
    let view = try read()
    k.signal(SIGINT)
    return (view, k.wait(timeout: 60))
}

/// max_entries of the newest loaded BPF map of that name (bpftool map show: "ID: TYPE  name NAME  flags ...",
/// then "key 4B  value 1016B  max_entries N  memlock ..."), nil when none is loaded. The newest: a map of a
/// ktrace that just exited is freed after an RCU grace period, and can still be listed beside the running one's.
func mapMaxEntries(_ name: String) throws -> Int? {
    let lines = try run("/usr/sbin/bpftool", ["map", "show"], timeout: 30).stdout.split(separator: "\n")
    var newest: (id: Int, entries: Int)?
    for (i, line) in lines.enumerated() where line.contains(" name \(name) ") || line.hasSuffix(" name \(name)") {
        guard i + 1 < lines.count, let id = line.split(separator: ":").first.flatMap({ Int($0) }),
              let m = lines[i + 1].firstMatch(of: /max_entries (\d+)/), let n = Int(m.1) else { continue }
        if id > newest?.id ?? -1 { newest = (id, n) }
    }
    return newest?.entries
}

/// Our program names (bpftool truncates to 15 characters).
func ktracePrograms() throws -> [String] {
    let ours = ["softirq_entry", "softirq_exit_", "softirq_raise", "kt_sample", "sched_switch_", "kt_fentry", "kt_fexit"]
    return try loadedProgramNames().filter { n in ours.contains { n.hasPrefix($0) } }
}

/// Our programs still loaded once the kernel has had time to free them: a closed program is released
/// after an RCU grace period, so a just-exited process can still be listed for a moment.
func ktraceProgramsAfterExit() throws -> [String] {
    var left = try ktracePrograms()
    for _ in 0..<50 where !left.isEmpty {
        usleep(100_000)
        left = try ktracePrograms()
    }
    return left
}

func readProcSoftirqs() -> String {
    (try? String(contentsOfFile: "/proc/softirqs", encoding: .utf8)) ?? ""
}

/// Test workloads (Tests/Workloads/*.c, *.cc), built once per run by scripts/build-workloads.sh (frame
/// pointers unless the source says otherwise on its first line), or taken ready-built from the directory
/// KTRACE_WORKLOADS names (scripts/vmtest.sh builds them on the host: a guest under TCG took 5 to 8 s for each).
enum Workload {
    static let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("ktrace-workloads-\(getpid())")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Workload.dir) }  // no binaries left in /tmp
        return d
    }()

    static func path(_ name: String) throws -> String {
        if let built = ProcessInfo.processInfo.environment["KTRACE_WORKLOADS"], !built.isEmpty {
            let bin = URL(fileURLWithPath: built).appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: bin) { return bin }
        }
        let bin = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: bin) { return bin }
        let script = Env.root.appendingPathComponent("scripts/build-workloads.sh").path
        let r = try run("/bin/bash", [script, dir.path, name], timeout: 60)
        guard r.status == 0 else { throw LabError("scripts/build-workloads.sh \(name) failed: \(r.stderr)") }
        return bin
    }

    /// Start a workload for the given seconds.
    static func start(_ name: String, seconds: Double) throws -> Spawned {
        try start(name, args: [String(seconds)])
    }

    static func start(_ name: String, args: [String]) throws -> Spawned {
        try Spawned(try path(name), args, streamStdout: false)
    }
}
