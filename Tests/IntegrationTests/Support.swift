import Foundation
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

/// A child process. Its stderr (and stdout unless streamed) go to temporary files, so a chatty child
/// never blocks on a full pipe; a streamed stdout is read line by line while the child runs.
final class Spawned: @unchecked Sendable {
    let process = Process()
    private let outPipe: Pipe?
    private let outFile: URL, errFile: URL
    private var buffer = Data()

    init(_ path: String, _ args: [String], env: [String: String] = [:], streamStdout: Bool = true) throws {
        let tmp = FileManager.default.temporaryDirectory
        outFile = tmp.appendingPathComponent("ktrace-test-\(UUID().uuidString).out")
        errFile = tmp.appendingPathComponent("ktrace-test-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: outFile.path, contents: nil)
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        process.environment = e
        if streamStdout {
            let pipe = Pipe()
            outPipe = pipe
            process.standardOutput = pipe
        } else {
            outPipe = nil
            process.standardOutput = try FileHandle(forWritingTo: outFile)
        }
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Next complete stdout line (streamed children only), or nil at end of output.
    func readLine() -> String? {
        guard let outPipe else { return nil }
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let chunk = outPipe.fileHandleForReading.availableData
            if chunk.isEmpty {
                if buffer.isEmpty { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            buffer.append(chunk)
        }
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Wait for exit (SIGKILL after timeout). For a streamed child, read its lines first.
    func wait(timeout: Double) -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        var out = buffer
        if let outPipe { out.append(outPipe.fileHandleForReading.readDataToEndOfFile()) }
        else { out = (try? Data(contentsOf: outFile)) ?? Data() }
        let err = (try? Data(contentsOf: errFile)) ?? Data()
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
        return RunResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                         stderr: String(decoding: err, as: UTF8.self))
    }
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
        try Spawned("/bin/bash", [Env.lab, "load", kind, String(seconds)] + extra, env: env, streamStdout: false)
    }

    func down() {
        _ = try? run("/bin/bash", [Env.lab, "down"], timeout: 120, env: env)
    }
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

/// Our program names (bpftool truncates to 15 characters).
func ktracePrograms() throws -> [String] {
    let ours = ["softirq_entry", "softirq_exit_", "softirq_raise", "kt_sample", "sched_switch_"]
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

/// Test workloads (Tests/Workloads/*.c), compiled once per run with frame pointers.
enum Workload {
    static let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("ktrace-workloads-\(getpid())")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()

    static func path(_ name: String) throws -> String {
        let bin = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: bin) { return bin }
        let src = Env.root.appendingPathComponent("Tests/Workloads/\(name).c").path
        let r = try run("/usr/bin/cc", ["-O1", "-g", "-fno-omit-frame-pointer", "-o", bin, src], timeout: 60)
        guard r.status == 0 else { throw LabError("cc \(name).c failed: \(r.stderr)") }
        return bin
    }

    /// Start a workload for the given seconds.
    static func start(_ name: String, seconds: Double) throws -> Spawned {
        try Spawned(try path(name), [String(seconds)], streamStdout: false)
    }
}
