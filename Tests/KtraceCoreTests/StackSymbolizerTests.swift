import Testing
@testable import KtraceCore

/// A stack map and a process that the test controls.
final class FakeKernel: StackSource, UserFrameNaming {
    var kernel: [UInt64: [UInt64]] = [:], user: [UInt64: [UInt64]] = [:]
    var userNames: [UInt64: String] = [:]
    var singleLookups = 0, batchReads = 0, namings = 0

    func frames(ofStack id: UInt64, user u: Bool) -> [UInt64]? {
        singleLookups += 1
        return (u ? user : kernel)[id]
    }

    func forEachStack(user u: Bool, _ body: (UInt64, ArraySlice<UInt64>) -> Void) {
        batchReads += 1
        for (id, ips) in u ? user : kernel { body(id, ips[...]) }
    }

    func name(pid: Int32, address: UInt64) -> String {
        namings += 1
        return userNames[address] ?? "[unknown] (libx.so)"
    }

    func capture(pid: Int32) {}
}

@Suite struct StackSymbolizerTests {
    static func symbolizer(_ k: FakeKernel) throws -> StackSymbolizer {
        let syms = try KernelSymbols(kallsyms: "ffffffff81001000 t f\nffffffff81001010 t g\nffffffff81002000 T h\n")
        return StackSymbolizer(source: k, kernelSymbols: KernelSymbolsLoader(syms), userNames: k)
    }

    static func names(_ s: StackSymbolizer, _ p: StackPart<Int32>) -> [String] {
        guard case .frames(let f) = p else { return [] }
        return f.map { s.table[$0] }
    }

    @Test func returnAddressesAreNamedAtTheirCall() throws {
        let k = FakeKernel()
        // The leaf is where the CPU was: g. The caller's return address 0x...1010 is g's first byte,
        // but the call that pushed it is f's last instruction.
        k.kernel[7] = [0xffff_ffff_8100_1010, 0xffff_ffff_8100_1010, 0xffff_ffff_8100_2004]
        let s = try Self.symbolizer(k)
        let part = s.kernel(.stored(7))
        #expect(Self.names(s, part) == ["g", "f", "h"])
        if case .frames(let f) = part { #expect(f.allSatisfy { s.table.kind($0) == .kernel }) }
    }

    @Test func refsWithoutStacks() throws {
        let s = try Self.symbolizer(FakeKernel())
        #expect(s.kernel(.none) == .none)
        #expect(s.kernel(.lost) == .missing)
        #expect(s.kernel(.stored(99)) == .missing)  // the map does not have it
        #expect(s.user(pid: 1, .lost) == .missing)
        let mk = s.missingKernel, mu = s.missingUser
        #expect(s.table.kind(mk) == .kernel && s.table.kind(mu) == .pseudo)
    }

    /// A user stack the unwinder cut ends with the cut mark: named `[truncated]`, a placeholder, which
    /// the composed stack puts outermost (right after the task), and which is no frame of the program to
    /// name (the unnamed-frame shares leave it out).
    @Test func cutUserStackEndsInTruncated() throws {
        let k = FakeKernel()
        k.userNames[0x4000] = "leaf"
        k.userNames[0x4fff] = "caller"  // the call before the return address 0x5000
        k.user[1] = [0x4000, 0x5000, StackSymbolizer.cutMark]
        let s = try Self.symbolizer(k)
        let part = s.user(pid: 5, .stored(1))
        #expect(Self.names(s, part) == ["leaf", "caller", "[truncated]"])
        #expect(s.truncatedFrame.map { s.table.kind($0) } == .pseudo)
        let composed = StackComposer.compose(comm: s.comm("app"), softirq: nil, user: part, kernel: .none,
                                             missingUser: s.missingUser, missingKernel: s.missingKernel)
        #expect(composed.map { s.table[$0] } == ["app", "[truncated]", "caller", "leaf"])
        let summary = UnnamedSummary([StackCount(pid: 5, tid: 5, comm: "app", softirq: nil, kernel: .none, user: .stored(1), count: 3)], s)
        #expect(summary.userFrames == 6)
    }

    @Test func unknownUserFramesAreNotCached() throws {
        let k = FakeKernel()
        k.user[1] = [0x4000]
        k.user[2] = [0x5000, 0x4001]  // calls 0x4000 again
        let s = try Self.symbolizer(k)
        #expect(Self.names(s, s.user(pid: 5, .stored(1))) == ["[unknown] (libx.so)"])
        k.userNames[0x4000] = "plugin_fn"  // dlopen'd and readable now
        k.userNames[0x5000] = "_ZN4work4burnEi"
        #expect(Self.names(s, s.user(pid: 5, .stored(2))) == ["work::burn(int)", "plugin_fn"])
        // A named frame is cached per (pid, call site): asking again costs no naming.
        let before = k.namings
        k.user[3] = [0x5000]
        _ = s.user(pid: 5, .stored(3))
        #expect(k.namings == before)
        #expect(s.table.kind(try #require(s.table.names.firstIndex(of: "plugin_fn").map(Int32.init))) == .user)
    }

    @Test func manyUnnamedStacksAreReadInBatches() throws {
        let k = FakeKernel()
        for i in 1...100 { k.kernel[UInt64(i)] = [0xffff_ffff_8100_1000 + UInt64(i)] }
        let few = try Self.symbolizer(k)
        few.prefetch(unnamed: StackSymbolizer.prefetchThreshold)
        _ = few.kernel(.stored(1))
        #expect(k.batchReads == 0 && k.singleLookups == 1)

        let many = try Self.symbolizer(k)
        many.prefetch(unnamed: StackSymbolizer.prefetchThreshold + 1)
        for i in 1...100 { _ = many.kernel(.stored(UInt64(i))) }
        #expect(k.batchReads == 2 && k.singleLookups == 1)  // both maps read once; no lookup per stack
        #expect(many.isNamed(kernel: .stored(1)) && !many.isNamed(kernel: .stored(101)))
    }

    @Test func demanglingIsOneRule() {
        #expect(Demangler.scheme(of: "_ZN4work4burnEi") == .itanium)
        #expect(Demangler.scheme(of: "$s10KtraceCore13KernelSymbolsC") == .swift)
        #expect(Demangler.scheme(of: "main") == nil)
        #expect(Demangler.demangle("_ZN4work7Spinner4spinEi") == "work::Spinner::spin(int)")
        #expect(Demangler.demangle("_Znot-a-name") == nil)
    }
}
