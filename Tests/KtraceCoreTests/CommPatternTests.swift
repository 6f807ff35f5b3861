import Testing
@testable import KtraceCore

/// `--comm`: one meaning in every command, and what the kernel's filter is given.
@Suite struct CommPatternTests {
    static func pattern(_ s: String) throws -> CommPattern { try CommPattern(s) }

    @Test func aPlainNameIsExact() throws {
        let p = try Self.pattern("kworker")
        #expect(p.matches("kworker"))
        #expect(!p.matches("kworker/0:1") && !p.matches("kworke") && !p.matches(""))
    }

    @Test func globs() throws {
        let kw = try Self.pattern("kworker*")
        #expect(kw.matches("kworker/0:1") && kw.matches("kworker") && !kw.matches("xkworker"))
        let ks = try Self.pattern("ksoftirqd/?")
        #expect(ks.matches("ksoftirqd/0") && !ks.matches("ksoftirqd/10") && !ks.matches("ksoftirqd/"))
        let m = try Self.pattern("a*b?c")
        #expect(m.matches("aXXbYc") && m.matches("abYc") && !m.matches("abc") && !m.matches("aXXbYcZ"))
        let middle = try Self.pattern("*/1*")
        #expect(middle.matches("kworker/1:2") && middle.matches("migration/1") && !middle.matches("kworker/0:1"))
        // A '*' in the name is an ordinary character to a '*' in the pattern.
        #expect(try Self.pattern("a*").matches("a*b"))
        #expect(try Self.pattern("a**").matches("a"))
    }

    @Test func refusesWhatCannotBeATaskName() {
        #expect(throws: CommPatternError.self) { try CommPattern("") }
        #expect(throws: CommPatternError.self) { try CommPattern("*") }
        #expect(throws: CommPatternError.self) { try CommPattern("kworker/u8:2-events_unbound") }
        #expect((try? CommPattern("sixteen-chars-xx*")) == nil)
        #expect((try? CommPattern("fifteen-chars-x*")) != nil)
        // kthreads also matches /proc's names, a kworker's with its workqueue.
        #expect((try? CommPattern("kworker/*-events_unbound", maxLength: CommPattern.maxProcLength))?.matches("kworker/u8:2-events_unbound") == true)
        do { _ = try CommPattern("") } catch { #expect(error.description == "needs a name or a glob") }
    }

    /// The kernel form as "text" or "text…" (a prefix), nil when the kernel cannot take it.
    static func kernel(_ s: String) throws -> String? {
        try CommPattern(s).kernelForm.map { $0.text + ($0.prefix ? "…" : "") }
    }

    @Test func kernelFormTakesATrailingStarOnly() throws {
        #expect(try Self.kernel("kworker") == "kworker")
        #expect(try Self.kernel("kworker/*") == "kworker/…")
        #expect(try Self.kernel("ksoftirqd/?") == "ksoftirqd/?")
        #expect(try Self.kernel("ksoftirqd/?*") == "ksoftirqd/?…")
        #expect(try Self.kernel("a**") == "a…")
        #expect(try Self.kernel("a*b") == nil)
        #expect(try Self.kernel("*b") == nil)
    }
}
