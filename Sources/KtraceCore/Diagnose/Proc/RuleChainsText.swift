import FoundationEssentials

/// Rule counts per packet-filter chain, from the listings the session runs inside each namespace:
/// `iptables-save`, `ip6tables-save` and `nft -j list ruleset`. Pure: the session runs the tools and hands
/// their output here.
public enum RuleChainsText {
    /// A listing that is not what its tool prints: the one line said about it.
    public struct Malformed: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The hooks of iptables' built-in chains; a chain of another name is jumped to.
    static let builtinHooks = ["PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
                               "POSTROUTING": "postrouting"]

    /// `iptables-save` (or `ip6tables-save` with `ipv6`): each table's chains, in the order declared, with
    /// their `-A` lines counted. A chain declared by a ':' line counts with 0 rules.
    public static func iptablesSave(_ text: String, ipv6: Bool) throws(Malformed) -> [RuleChain] {
        let tool = ipv6 ? "ip6tables" : "iptables", family = ipv6 ? "ip6" : "ip"
        var out: [RuleChain] = [], index: [String: Int] = [:], table: String?
        func chain(_ name: Substring, in table: String) -> Int {
            let key = table + " " + name
            if let i = index[key] { return i }
            out.append(RuleChain(tool: tool, family: family, table: table, chain: String(name), rules: 0,
                                 hook: builtinHooks[String(name)]))
            index[key] = out.count - 1
            return out.count - 1
        }
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingSpaces
            let words = line.split(separator: " ")
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line == "COMMIT" { table = nil; continue }
            if line.hasPrefix("*"), words.count == 1, line.count > 1 { table = String(line.dropFirst()); continue }
            guard let t = table else { throw Malformed(message: "\(tool)-save: line \(n + 1) is outside a table: \(quote(line))") }
            if line.hasPrefix(":"), words.count >= 2, words[0].count > 1 {
                _ = chain(words[0].dropFirst(), in: t)
            } else if words.first == "-A", words.count >= 2 {
                out[chain(words[1], in: t)].rules += 1
            } else {
                throw Malformed(message: "\(tool)-save: line \(n + 1) is neither a chain nor a rule: \(quote(line))")
            }
        }
        if let table { throw Malformed(message: "\(tool)-save: table \(table) has no COMMIT (the output was cut short)") }
        return out
    }

    /// `nft -j list ruleset`: its chains (with their hook, for base chains) and a count of the rule objects
    /// naming each. Objects of other kinds (metainfo, table, set, map, ...) are skipped.
    public static func nftJSON(_ text: String) throws(Malformed) -> [RuleChain] {
        let listing: NftListing
        do { listing = try JSONDecoder().decode(NftListing.self, from: Data(text.utf8)) } catch {
            throw Malformed(message: "nft -j list ruleset: not the JSON nft prints (\(describe(error)))")
        }
        var out: [RuleChain] = [], index: [NftKey: Int] = [:]
        func chain(_ key: NftKey, hook: String?) -> Int {
            if let i = index[key] {
                if let hook { out[i].hook = hook }
                return i
            }
            out.append(RuleChain(tool: "nft", family: key.family, table: key.table, chain: key.chain, rules: 0, hook: hook))
            index[key] = out.count - 1
            return out.count - 1
        }
        for object in listing.nftables {
            if let c = object.chain { _ = chain(NftKey(family: c.family, table: c.table, chain: c.name), hook: c.hook) }
            if let r = object.rule { out[chain(NftKey(family: r.family, table: r.table, chain: r.chain), hook: nil)].rules += 1 }
        }
        return out
    }

    /// All chains once: iptables-nft keeps its tables in nftables, so `nft list ruleset` shows again the
    /// chains iptables-save listed. Those (same family, table and chain) are left out of nft's list.
    public static func merged(iptables: [RuleChain], nft: [RuleChain]) -> [RuleChain] {
        let listed = Set(iptables.map { NftKey(family: $0.family, table: $0.table, chain: $0.chain) })
        return iptables + nft.filter { !listed.contains(NftKey(family: $0.family, table: $0.table, chain: $0.chain)) }
    }

    private struct NftKey: Hashable {
        var family: String, table: String, chain: String
    }

    /// `{"nftables": [{"metainfo": ...}, {"table": ...}, {"chain": ...}, {"rule": ...}, ...]}`: each
    /// object has one key naming its kind; only chains and rules are decoded, other keys are ignored.
    private struct NftListing: Decodable {
        struct Object: Decodable {
            var chain: Chain?
            var rule: Rule?
        }
        struct Chain: Decodable {
            var family: String, table: String, name: String
            var hook: String?
        }
        struct Rule: Decodable {
            var family: String, table: String, chain: String
        }
        var nftables: [Object]
    }

    private static func quote(_ line: Substring) -> String {
        "'" + (line.count > 60 ? line.prefix(60) + "..." : line) + "'"
    }

    /// A decoding error in one phrase, without Foundation's multi-line context dump.
    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): "no \"\(key.stringValue)\" key"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): "unexpected value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case .dataCorrupted: "not valid JSON"
        default: "\(error)"
        }
    }
}
