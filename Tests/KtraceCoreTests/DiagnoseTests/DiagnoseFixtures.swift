import Foundation
import Testing
@testable import KtraceCore

/// Recorded diagnose inputs (Fixtures/diagnose/*.json), one per lab scenario of issue 19, and golden files.
enum DiagnoseFixtures {
    static func url(_ name: String, _ ext: String, sub: String = "Fixtures/diagnose") throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: sub))
    }

    static func input(_ name: String) throws -> DiagnoseInput {
        try JSONDecoder().decode(DiagnoseInput.self, from: Data(contentsOf: url(name, "json")))
    }

    static func diagnosis(_ name: String) throws -> Diagnosis { Diagnosis(try input(name)) }

    static func text(_ name: String, _ ext: String) throws -> String {
        try String(contentsOf: url(name, ext), encoding: .utf8)
    }

    /// Compares with Fixtures/diagnose/golden/NAME; on a difference writes the output to /tmp/ktrace-golden-NAME.
    static func expectGolden(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/diagnose/golden")
        let expected = try url.map { try String(contentsOf: $0, encoding: .utf8) }
        if actual != expected { try? actual.write(toFile: "/tmp/ktrace-golden-\(name)", atomically: true, encoding: .utf8) }
        #expect(actual == expected, "differs from Fixtures/diagnose/golden/\(name): see /tmp/ktrace-golden-\(name)", sourceLocation: sourceLocation)
    }

    static let scenarios = ["synflood-rps-one-cpu", "netfilter-long-chain", "conntrack-tiny-table", "listener-no-syncookies",
                            "netns-churn", "d-state-load", "cpu-bound-control"]
}
