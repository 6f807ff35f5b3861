import FoundationEssentials
import Glibc

/// Why a user frame has no function name, per mapping, and what would give it one. Frames with the
/// same reason are counted together in the summary (`UnnamedSummary`).
public struct UnnamedReason: Hashable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// An ELF file with no `.symtab` and no debug file for its build id (only `.dynsym`, if that).
        case stripped
        /// The file has symbols, but none covers the address (padding, a PLT header or .plt.got, hand-written code).
        case noSymbol = "no_symbol"
        /// Anonymous executable memory in a process without a perf map: JIT code, most likely.
        case jitWithoutPerfMap = "jit_without_perf_map"
        /// Anonymous executable memory that the process's perf map does not cover, or a named one.
        case anonymous
        /// The process exited before its memory maps could be read.
        case processExited = "process_exited"
        /// The file was deleted or replaced after it was mapped, and its old contents are out of reach.
        case fileDeleted = "file_deleted"
        /// The mapped file could not be read as ELF.
        case unreadable
        /// The address is not in code ([stack], [heap], a file's data): the unwinder went astray.
        case notCode = "not_code"
        /// A live process with no mapping at that address (unmapped since the sample).
        case unmapped
    }

    public var kind: Kind
    /// The mapped file as the process names it, or a label such as "[stack]"; nil when none.
    public var file: String?
    public var buildID: String?
    /// The Debian package that installed the file (dpkg's database, through the process's root).
    public var package: String?
    /// The perf map looked for (JIT code), with the process's own pid in its name.
    public var perfMap: String?
    /// How to make this runtime write a perf map, when the executable is one ktrace knows.
    public var runtimeHint: String?

    public init(kind: Kind, file: String? = nil, buildID: String? = nil, package: String? = nil, perfMap: String? = nil,
                runtimeHint: String? = nil) {
        self.kind = kind; self.file = file; self.buildID = buildID; self.package = package; self.perfMap = perfMap
        self.runtimeHint = runtimeHint
    }

    /// Where a stripped file's debug file would come from: `PACKAGE-dbgsym` when dpkg installed it.
    public var fix: String? {
        switch kind {
        case .stripped:
            if let package { return "install \(package)-dbgsym" }
            if let buildID { return "a debuginfod server that has this build serves its debug file: \(Self.debuginfodBase)/buildid/\(buildID)/debuginfo" }
            return "rebuild it without -s, or keep its debug file (it has no build id to look one up by)"
        case .jitWithoutPerfMap, .anonymous:
            return runtimeHint
        default:
            return nil
        }
    }

    /// $DEBUGINFOD_URLS's first server, else Debian's.
    static var debuginfodBase: String {
        if let v = getenv("DEBUGINFOD_URLS").map({ String(cString: $0) }),
           let first = v.split(separator: " ").first, !first.isEmpty {
            return first.hasSuffix("/") ? String(first.dropLast()) : String(first)
        }
        return "https://debuginfod.debian.net"
    }

    /// One phrase for the summary line: "/usr/sbin/nginx stripped, install nginx-dbgsym (build id …)".
    public var text: String {
        let f = file ?? "?"
        switch kind {
        case .stripped:
            if let package { return "\(f) stripped, install \(package)-dbgsym" + (buildID.map { " (build id \($0))" } ?? "") }
            if let buildID { return "\(f) stripped, from no package, no debug file for its build id (debuginfod: \(Self.debuginfodBase)/buildid/\(buildID)/debuginfo)" }
            return "\(f) stripped, no build id, no debug file"
        case .noSymbol: return "\(f) outside its symbols (padding, a PLT header or .plt.got, hand-written code)"
        case .jitWithoutPerfMap:
            return "anonymous JIT code without \(perfMap ?? "/tmp/perf-PID.map")" + (runtimeHint.map { " (\($0))" } ?? "")
        case .anonymous:
            if let file { return "anonymous executable memory \(file)" }
            return "anonymous executable memory outside \(perfMap ?? "/tmp/perf-PID.map")"
        case .processExited: return "processes that exited before their frames were named"
        case .fileDeleted: return "\(f) deleted or replaced since it was mapped"
        case .unreadable: return "\(f) not readable as ELF"
        case .notCode: return "frames in \(f), not code (an unwinding error)"
        case .unmapped: return "addresses no longer mapped"
        }
    }

    /// How to make a JIT runtime write /tmp/perf-PID.map, by its executable's name.
    static func runtimeHint(executable: String?) -> String? {
        guard let exe = executable.map({ $0.split(separator: "/").last.map(String.init) ?? $0 }) else { return nil }
        if exe == "node" || exe == "nodejs" || exe == "deno" { return "run \(exe) with --perf-basic-prof" }
        if exe == "java" { return "run java with -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit, or jcmd PID Compiler.perfmap" }
        if exe.hasPrefix("python3") { return "Python 3.12+: python -X perf, or PYTHONPERFSUPPORT=1" }
        if exe == "dotnet" { return "set DOTNET_PerfMapEnabled=1" }
        return nil
    }
}

/// A user frame that could not be named: the placeholder shown for it, and why.
public struct UnnamedFrame: Sendable {
    public var name: String
    public var reason: UnnamedReason
    /// The address as the file's ELF virtual address (for pprof, which can name it later with the
    /// debug file); nil when not in a file.
    public var fileAddress: UInt64?

    public init(name: String, reason: UnnamedReason, fileAddress: UInt64? = nil) {
        self.name = name; self.reason = reason; self.fileAddress = fileAddress
    }

    /// `[nginx+0x4f21a]`: the file's base name and the offset into the file, as perf's `[unknown]`
    /// with its DSO. A deleted file reads `[nginx (deleted)+0x4f21a]`.
    public static func inFile(_ path: String, offset: UInt64, deleted: Bool = false) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return "[\(base)\(deleted ? " (deleted)" : "")+0x\(String(offset, radix: 16))]"
    }

    /// `[anon+0x1a0]` (offset into the mapping), `[anon:NAME]` for a named one (prctl PR_SET_VMA_ANON_NAME),
    /// `[stack+0x10]` for other kernel-named regions.
    public static func inRegion(_ label: String, offset: UInt64) -> String {
        if label.isEmpty { return "[anon+0x\(String(offset, radix: 16))]" }
        if label.hasPrefix("[anon:") { return label }
        let inner = label.hasPrefix("[") && label.hasSuffix("]") ? String(label.dropFirst().dropLast()) : label
        return "[\(inner)+0x\(String(offset, radix: 16))]"
    }

    public static let exitedName = "[process exited]"
    public static let unmappedName = "[unmapped]"
}
