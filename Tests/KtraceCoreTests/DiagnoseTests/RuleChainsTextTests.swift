import Foundation
import Testing
@testable import KtraceCore

/// Rule counts per chain from `iptables-save`, `ip6tables-save` and `nft -j list ruleset`, on listings
/// recorded in one throwaway namespace (Fixtures/diagnose/rules/record.sh made them): iptables-nft's
/// tables show in both listings, nft's own tables only in nft's.
@Suite struct RuleChainsTextTests {
    static func listing(_ name: String, _ ext: String) throws -> String {
        try String(contentsOf: DiagnoseFixtures.url(name, ext, sub: "Fixtures/diagnose/rules"), encoding: .utf8)
    }

    static func find(_ chains: [RuleChain], _ family: String, _ table: String, _ chain: String) -> RuleChain? {
        chains.first { $0.family == family && $0.table == table && $0.chain == chain }
    }

    @Test func iptablesSaveCountsRulesPerChainAndHooksBuiltins() throws {
        let chains = try RuleChainsText.iptablesSave(Self.listing("iptables-save", "txt"), ipv6: false)
        // Every chain declared, empty ones too, in the order listed: raw, filter, nat.
        #expect(chains.map { "\($0.table) \($0.chain) \($0.rules)" } == [
            "raw PREROUTING 0", "raw OUTPUT 0", "raw KT-EMPTY 0",
            "filter INPUT 1", "filter FORWARD 4", "filter OUTPUT 0", "filter KT-USER 3",
            "nat PREROUTING 0", "nat INPUT 0", "nat OUTPUT 0", "nat POSTROUTING 1",
        ])
        #expect(chains.allSatisfy { $0.tool == "iptables" && $0.family == "ip" })
        #expect(Self.find(chains, "ip", "filter", "FORWARD")?.hook == "forward")
        #expect(Self.find(chains, "ip", "nat", "POSTROUTING")?.hook == "postrouting")
        #expect(Self.find(chains, "ip", "filter", "KT-USER")?.hook == nil)
    }

    @Test func ip6tablesSaveIsFamilyIP6() throws {
        let chains = try RuleChainsText.iptablesSave(Self.listing("ip6tables-save", "txt"), ipv6: true)
        #expect(chains.map(\.chain) == ["INPUT", "FORWARD", "OUTPUT"])
        #expect(chains.allSatisfy { $0.tool == "ip6tables" && $0.family == "ip6" })
        #expect(Self.find(chains, "ip6", "filter", "INPUT")?.rules == 2)
    }

    @Test func nftCountsRuleObjectsAndTakesHooksFromChains() throws {
        let chains = try RuleChainsText.nftJSON(Self.listing("nft-ruleset", "json"))
        #expect(chains.allSatisfy { $0.tool == "nft" })
        let input = try #require(Self.find(chains, "inet", "ktfix", "input"))
        #expect(input.rules == 3 && input.hook == "input")
        let helper = try #require(Self.find(chains, "inet", "ktfix", "helper"))
        #expect(helper.rules == 2 && helper.hook == nil)
        let pre = try #require(Self.find(chains, "ip", "ktnat", "pre"))
        #expect(pre.rules == 1 && pre.hook == "prerouting")
        // iptables-nft's tables as nft sees them: only the chains that exist in the kernel.
        #expect(Self.find(chains, "ip", "filter", "FORWARD")?.rules == 4)
        #expect(Self.find(chains, "ip", "raw", "KT-EMPTY")?.rules == 0)
        #expect(Self.find(chains, "ip", "nat", "PREROUTING") == nil)
        // The set ("blocked") and the tables are not chains.
        #expect(chains.count == 9)
    }

    /// iptables-nft's chains, in both listings, are counted once, as iptables.
    @Test func mergeLeavesOutNftCopiesOfIptablesChains() throws {
        let v4 = try RuleChainsText.iptablesSave(Self.listing("iptables-save", "txt"), ipv6: false)
        let v6 = try RuleChainsText.iptablesSave(Self.listing("ip6tables-save", "txt"), ipv6: true)
        let nft = try RuleChainsText.nftJSON(Self.listing("nft-ruleset", "json"))
        let all = RuleChainsText.merged(iptables: v4 + v6, nft: nft)
        #expect(all.filter { $0.tool == "nft" }.map { "\($0.family) \($0.table) \($0.chain)" } == [
            "inet ktfix input", "inet ktfix helper", "ip ktnat pre",
        ])
        #expect(all.count == v4.count + v6.count + 3)
        // Every rule once: 9 iptables + 2 ip6tables + 6 in nft's own tables.
        #expect(all.map(\.rules).reduce(0, +) == 17)
        #expect(all.filter { $0.family == "ip" && $0.table == "filter" && $0.chain == "FORWARD" }.map(\.tool) == ["iptables"])
    }

    @Test func emptyListingsHaveNoChains() throws {
        #expect(try RuleChainsText.iptablesSave("", ipv6: false).isEmpty)
        #expect(try RuleChainsText.nftJSON(Self.listing("nft-empty", "json")).isEmpty)
    }

    @Test func garbageIsOneClearLine() {
        func iptablesError(_ text: String) -> String {
            do { _ = try RuleChainsText.iptablesSave(text, ipv6: false); return "" } catch { return error.message }
        }
        func nftError(_ text: String) -> String {
            do { _ = try RuleChainsText.nftJSON(text); return "" } catch { return error.message }
        }
        #expect(iptablesError("Segmentation fault\n") == "iptables-save: line 1 is outside a table: 'Segmentation fault'")
        #expect(iptablesError("*filter\n:INPUT ACCEPT [0:0]\n-A\nCOMMIT\n") == "iptables-save: line 3 is neither a chain nor a rule: '-A'")
        #expect(iptablesError("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n")
            == "iptables-save: table filter has no COMMIT (the output was cut short)")
        #expect(nftError("table inet x { }") == "nft -j list ruleset: not the JSON nft prints (not valid JSON)")
        #expect(nftError("{\"tables\": []}") == "nft -j list ruleset: not the JSON nft prints (no \"nftables\" key)")
        #expect(nftError("{\"nftables\": [{\"rule\": {\"family\": \"ip\", \"chain\": \"x\"}}]}")
            == "nft -j list ruleset: not the JSON nft prints (no \"table\" key)")
        let binary = nftError(String(repeating: "\u{0}[{", count: 1000))
        #expect(binary.hasPrefix("nft -j list ruleset: ") && !binary.contains("\n"))
    }
}
