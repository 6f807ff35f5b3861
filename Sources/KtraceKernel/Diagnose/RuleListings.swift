import CKtrace
import Glibc
import KtraceCore

/// The packet-filter listings `ktrace diagnose` runs inside each network namespace at the window's end:
/// `iptables-save`, `ip6tables-save` and `nft -t -j list ruleset`. A child process inherits the network
/// namespace of the thread that spawns it, so run from a namespace's reader thread they list that
/// namespace's rules. Their output is parsed in KtraceCore (`RuleChainsText`). One instance serves all
/// the namespaces of a run, read one after another.
final class RuleListings {
    /// Root's usual PATH, whatever PATH ktrace was started with.
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    /// Listing a ruleset takes milliseconds; a tool still running after this is stuck, not slow.
    static let timeoutMs: Int32 = 3000
    /// A rule is about 100 bytes in iptables-save and a few hundred in nft's JSON, where iptables-nft's
    /// rules show again: 64 MiB holds tens of thousands. A longer listing is not counted, and that is said.
    static let maxOutput = 64 << 20

    struct Tool {
        enum Kind { case iptables(ipv6: Bool), nft }
        let command: String
        let arguments: [String]
        let kind: Kind
        /// Where it was found; nil when it is not installed.
        let path: String?
    }

    let tools: [Tool]
    /// Tools that did not answer in time, with why: not run again in the namespaces read after, so that a
    /// stuck tool costs one timeout rather than one per namespace.
    private var stuck: [String: String] = [:]

    init(tools: [Tool]) { self.tools = tools }

    /// The tools as installed on this machine.
    static func installed() -> RuleListings {
        RuleListings(tools: [
            Tool(command: "iptables-save", arguments: [], kind: .iptables(ipv6: false), path: locate("iptables-save")),
            Tool(command: "ip6tables-save", arguments: [], kind: .iptables(ipv6: true), path: locate("ip6tables-save")),
            // -t (terse): sets without their elements, which can be many and are no rules.
            Tool(command: "nft", arguments: ["-t", "-j", "list", "ruleset"], kind: .nft, path: locate("nft")),
        ])
    }

    static func locate(_ command: String) -> String? {
        searchPath.lazy.map { "\($0)/\(command)" }.first { access($0, X_OK) == 0 }
    }

    /// What missing tools leave out, said once for the run; nil when all are installed.
    var missing: String? {
        let absent = tools.filter { $0.path == nil }.map(\.command)
        if absent.count == tools.count { return "packet-filter rule counts (neither iptables-save nor nft is installed)" }
        return absent.isEmpty ? nil : "packet-filter rule counts from \(absent.joined(separator: " and ")) (not installed)"
    }

    /// Runs the installed tools in the calling thread's network namespace: the chains (nil when no tool
    /// gave a listing), and for each tool that failed what it leaves out and why.
    func read() -> (chains: [RuleChain]?, problems: [(what: String, why: String)]) {
        var iptables: [RuleChain] = [], nft: [RuleChain] = [], problems: [(what: String, why: String)] = [], listed = 0
        for tool in tools {
            guard let path = tool.path else { continue }
            let what = "packet-filter rule counts from \(tool.command)"
            if let why = stuck[tool.command] {
                problems.append((what, why))
                continue
            }
            do {
                let text = try run(tool, at: path)
                switch tool.kind {
                case .iptables(let ipv6): iptables += try RuleChainsText.iptablesSave(text, ipv6: ipv6)
                case .nft: nft = try RuleChainsText.nftJSON(text)
                }
                listed += 1
            } catch {
                problems.append((what, "\(error)"))
            }
        }
        return (listed > 0 ? RuleChainsText.merged(iptables: iptables, nft: nft) : nil, problems)
    }

    /// The tool's standard output, or why there is none.
    private func run(_ tool: Tool, at path: String) throws(KernelError) -> String {
        var cargs = ([tool.command] + tool.arguments).map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var err = [CChar](repeating: 0, count: 512)
        var rc: Int32 = 0, exitCode: Int32 = 0
        // Not zeroed: the buffer's pages are touched only as far as the tool writes.
        let out = [UInt8](unsafeUninitializedCapacity: Self.maxOutput) { buf, count in
            rc = kt_run_capture(path, &cargs, UnsafeMutableRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self), buf.count,
                                Self.timeoutMs, &exitCode, &err, err.count)
            count = max(Int(rc), 0)
        }
        if rc < 0 {
            let why = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard rc == -ETIMEDOUT else { throw KernelError(why) }
            let skipped = why + ", so not run in the namespaces after it"
            stuck[tool.command] = skipped
            throw KernelError(skipped)
        }
        if exitCode < 0 { throw KernelError("\(tool.command) was ended by signal \(-exitCode)") }
        if exitCode > 0 { throw KernelError("\(tool.command) exited with status \(exitCode)") }
        return String(decoding: out, as: UTF8.self)
    }
}
