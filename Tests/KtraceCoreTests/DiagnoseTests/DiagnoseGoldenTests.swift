import Foundation
import Testing
@testable import KtraceCore

/// The text and JSON reports, byte for byte (Fixtures/diagnose/golden/).
@Suite struct DiagnoseGoldenTests {
    @Test(arguments: ["synflood-rps-one-cpu", "cpu-bound-control"])
    func reportsAsRecorded(_ name: String) throws {
        let d = try DiagnoseFixtures.diagnosis(name)
        try DiagnoseFixtures.expectGolden(DiagnoseText.render(d), name + ".txt")
        try DiagnoseFixtures.expectGolden(DiagnoseJSON.render(d), name + ".json")
    }

    /// The JSON is one object with the documented keys, and findings carry what automation needs.
    @Test func jsonSchema() throws {
        let d = try DiagnoseFixtures.diagnosis("synflood-rps-one-cpu")
        let text = DiagnoseJSON.render(d)
        #expect(text.hasSuffix("}\n") && !text.dropLast().contains("\n"), "one object on one line")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(obj["window_s"] as? Double == 5.0)
        let findings = try #require(obj["findings"] as? [[String: Any]])
        #expect(findings.map { $0["id"] as? String } == ["net.rx_one_cpu", "net.syn_flood"])
        for f in findings {
            for key in ["id", "title", "share", "share_of", "evidence", "cause", "try", "confirm"] { #expect(f[key] != nil, "\(key)") }
            let tries = try #require(f["try"] as? [[String: Any]])
            #expect(tries.allSatisfy { $0["change"] is String && $0["command"] is String })
        }
        #expect((obj["ruled_out"] as? [[String: Any]])?.isEmpty == false)
        #expect(obj["not_evaluated"] is [Any])
    }

    /// Deterministic: two renders of two decodes are the same bytes.
    @Test func deterministic() throws {
        let a = try DiagnoseFixtures.diagnosis("synflood-rps-one-cpu"), b = try DiagnoseFixtures.diagnosis("synflood-rps-one-cpu")
        #expect(DiagnoseJSON.render(a) == DiagnoseJSON.render(b))
        #expect(DiagnoseText.render(a) == DiagnoseText.render(b))
    }
}
