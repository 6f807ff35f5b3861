import Foundation
import KtraceTestSupport
import SwiftProtobuf
import Testing
@testable import KtraceCore

/// The pprof encoder, read back with the same generated message types (the real `go tool pprof` reads
/// ktrace's files in PprofIntegrationTests).
@Suite struct PprofTests {
    final class Naming: UserFrameNaming {
        func name(pid: Int32, address: UInt64) -> String { address == 0x1000 ? "main" : "work" }
        func capture(pid: Int32) {}
        func file(pid: Int32, address: UInt64) -> MappedFile? { MappedFile(path: "/usr/bin/app", buildID: "abcd") }
    }

    static func profile(_ kind: Pprof.Kind, perThread: Bool = false) throws -> Perftools_Profiles_Profile {
        let k = FakeKernel()
        k.kernel[1] = [0xffff_ffff_8100_1010, 0xffff_ffff_8100_2004]  // g <- h
        k.user[2] = [0x2000, 0x1001]                                     // work <- main
        let syms = try KernelSymbols(kallsyms: "ffffffff81001000 t f\nffffffff81001010 t g\nffffffff81002000 T h\n")
        let s = StackSymbolizer(source: k, kernelSymbols: KernelSymbolsLoader(syms), userNames: Naming())
        var a = StackCount(pid: 42, tid: 43, comm: "app", softirq: .netRx, kernel: .stored(1), user: .stored(2), count: 3)
        if kind == .offCPU { a.offCPU = .disk }
        let b = StackCount(pid: 42, tid: 44, comm: "app", softirq: nil, kernel: .none, user: .stored(2), count: 1)
        let run = Pprof.Header(kind: kind, startUnixNs: 1_700_000_000_000_000_000, durationNs: 2_000_000_000, perThread: perThread,
                            comments: ["ktrace stacks: test"])
        let bytes = try Pprof.file(Pprof.profile([a, b], s, run: run))
        #expect(bytes.prefix(2) == [0x1f, 0x8b], "gzip magic")
        return try Perftools_Profiles_Profile(serializedBytes: gunzip(bytes))
    }

    @Test func onCPUSamplesCarryTimeStacksLeafFirstAndLabels() throws {
        let p = try Self.profile(.onCPU(periodNs: 10_101_010), perThread: true)
        let str = { (i: Int64) in p.stringTable[Int(i)] }
        #expect(p.stringTable[0] == "")
        #expect(p.sampleType.map { "\(str($0.type))/\(str($0.unit))" } == ["samples/count", "cpu/nanoseconds"])
        #expect(str(p.periodType.type) == "cpu" && p.period == 10_101_010)
        #expect(p.timeNanos == 1_700_000_000_000_000_000 && p.durationNanos == 2_000_000_000)
        #expect(p.sample.map(\.value) == [[3, 30_303_030], [1, 10_101_010]])
        let functions = Dictionary(uniqueKeysWithValues: p.function.map { ($0.id, str($0.name)) })
        let locations = Dictionary(uniqueKeysWithValues: p.location.map { ($0.id, $0) })
        let names = p.sample.map { $0.locationID.map { functions[locations[$0]!.line[0].functionID]! } }
        #expect(names[0] == ["g", "h", "work", "main"], "kernel leaf first, then the user stack")
        #expect(names[1] == ["work", "main"])
        let labels = p.sample[0].label.map { l in "\(str(l.key))=\(l.str != 0 ? str(l.str) : String(l.num))" }
        #expect(labels == ["comm=app", "pid=42", "tid=43", "softirq=net_rx"])
        let mappings = Dictionary(uniqueKeysWithValues: p.mapping.map { ($0.id, $0) })
        let g = try #require(p.location.first { functions[$0.line[0].functionID] == "g" })
        let w = try #require(p.location.first { functions[$0.line[0].functionID] == "work" })
        #expect(mappings[g.mappingID].map { str($0.filename) } == "[kernel.kallsyms]")
        #expect(mappings[w.mappingID].map { "\(str($0.filename)) \(str($0.buildID)) \($0.hasFunctions_p)" } == "/usr/bin/app abcd true")
        #expect(Set(p.location.map(\.id)).count == p.location.count && !p.location.contains { $0.id == 0 }, "ids unique, from 1")
    }

    /// A stack met first in the vdso (clock_gettime) must not make `[vdso]` the profile's main binary.
    @Test func theExecutableIsTheFirstMapping() throws {
        final class VDSOFirst: UserFrameNaming {
            func name(pid: Int32, address: UInt64) -> String { address == 0x2000 ? "__vdso_clock_gettime" : address == 0x3000 ? "__libc_start_main" : "main" }
            func capture(pid: Int32) {}
            func file(pid: Int32, address: UInt64) -> MappedFile? {
                address == 0x2000 ? MappedFile(path: "[vdso]", buildID: "ee") : address == 0x3000 ? MappedFile(path: "/usr/lib/libc.so.6", buildID: "cc")
                    : MappedFile(path: "/usr/bin/app", buildID: "abcd")
            }
            func mainPath(pid: Int32) -> String? { "/usr/bin/app" }
        }
        let k = FakeKernel()
        k.user[1] = [0x2000, 0x3001, 0x1001]  // vdso <- libc <- main
        let s = StackSymbolizer(source: k, kernelSymbols: nil, userNames: VDSOFirst())
        let c = StackCount(pid: 7, tid: 7, comm: "app", softirq: nil, kernel: .none, user: .stored(1), count: 2)
        let run = Pprof.Header(kind: .onCPU(periodNs: 1000), startUnixNs: 0, durationNs: 1, perThread: false)
        let p = Pprof.profile([c], s, run: run)
        #expect(p.mapping.map { p.stringTable[Int($0.filename)] } == ["/usr/bin/app", "/usr/lib/libc.so.6", "[vdso]"])
    }

    @Test func offCPUTimeIsNanosecondsWithTheState() throws {
        let p = try Self.profile(.offCPU)
        #expect(p.sampleType.map { p.stringTable[Int($0.type)] + "/" + p.stringTable[Int($0.unit)] } == ["off-cpu/nanoseconds"])
        #expect(p.sample.map(\.value) == [[3], [1]])
        #expect(p.sample[0].label.contains { p.stringTable[Int($0.key)] == "state" && p.stringTable[Int($0.str)] == "D" })
    }

    @Test func countedEventsWeighTheirPeriod() throws {
        let p = try Self.profile(.events(name: "page-faults", every: 7))
        #expect(p.sampleType.map { p.stringTable[Int($0.type)] } == ["samples", "page-faults"])
        #expect(p.sample.map(\.value) == [[3, 21], [1, 7]] && p.period == 7)
    }

    /// The integration tests compare a file's time_nanos with go tool pprof's "Time:", Go's
    /// time.Time.String(): the fraction's trailing zeros (and then its dot) left out, any zone offset.
    @Test func goTimeReadsGoTimeStrings() {
        let t: Int64 = 1_796_687_999 * 1_000_000_000   // 2026-12-07T23:59:59Z
        #expect(PprofRaw.goTime("2026-12-07 23:59:59.123456789 +0000 UTC") == t + 123_456_789)
        #expect(PprofRaw.goTime("2026-12-07 23:59:59.5 +0000 UTC") == t + 500_000_000)
        #expect(PprofRaw.goTime("2026-12-07 23:59:59 +0000 UTC") == t)
        #expect(PprofRaw.goTime("2026-12-08 05:29:59 +0530 IST") == t)
        #expect(PprofRaw.goTime("2026-12-07 18:29:59 -0530 X") == t)
        #expect(PprofRaw.goTime("2026-12-07 23:59:59.x +0000 UTC") == nil && PprofRaw.goTime("2026-12-07 . +0000 UTC") == nil)
    }

    /// The bytes gunzipped by gzip(1), as any reader would.
    static func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-pprof-\(UUID().uuidString).gz")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(bytes).write(to: file)
        return try KtraceTestSupport.gunzip(file: file.path)
    }
}
