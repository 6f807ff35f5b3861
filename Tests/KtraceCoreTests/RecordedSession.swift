import Foundation
import Testing
@testable import KtraceCore

/// A `ktrace stacks` / `ktrace timeline` run recorded from the real kernel (Fixtures/golden/*-input.txt):
/// what the kernel side handed over — count-map entries, stored stacks, ring-buffer events — plus the
/// names of the addresses those stacks hold, as kallsyms and the process maps gave them then.
///
/// Line formats (fields separated by spaces, the last text fields by tabs):
///   meta KEY VALUE...
///   count TGID TID SOFTIRQ KSTACK USTACK COUNT\tCOMM     softirq is vector + 1 (0: none); stack ids in hex
///   kstack|ustack ID IP...                                  frames leaf first, hex
///   kallsyms ADDR TYPE NAME[\t[MODULE]]                     the kallsyms lines naming those frames
///   usym PID ADDR\tNAME                                     a user call site's raw (mangled) symbol
///   event TYPE TS DUR CPU TGID TID KSTACK USTACK VEC FLAGS NEXT_TGID NEXT_TID PREV_STATE\tCOMM\tNEXT_COMM
/// `event` keeps the kt_event fields as they were recorded, before the ABI gave each meaning its own
/// field: VEC is the vector + 1 in samples, the plain vector in softirq runs.
final class RecordedSession: StackSource, UserFrameNaming {
    var meta: [String: String] = [:]
    var counts: [StackCount] = []
    var events: [TraceEvent] = []
    private var kernelStacks: [UInt64: [UInt64]] = [:], userStacks: [UInt64: [UInt64]] = [:]
    private var userSymbols: [String: String] = [:]
    private var kallsyms = ""
    private(set) var singleLookups = 0

    init(fixture name: String) throws {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Fixtures/golden"))
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let tabs = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let f = tabs[0].split(separator: " ").map(String.init)
            switch f[0] {
            case "meta": meta[f[1]] = f.dropFirst(2).joined(separator: " ")
            case "count":
                counts.append(StackCount(pid: Int32(f[1])!, tid: Int32(f[2])!, comm: tabs[1], softirq: Self.vector1(UInt32(f[3])!),
                                         kernel: Self.ref(f[4]), user: Self.ref(f[5]), count: UInt64(f[6])!))
            case "kstack", "ustack":
                let ips = f.dropFirst(2).map { UInt64($0, radix: 16)! }
                if f[0] == "kstack" { kernelStacks[UInt64(f[1], radix: 16)!] = ips } else { userStacks[UInt64(f[1], radix: 16)!] = ips }
            case "kallsyms": kallsyms += "\(f[1]) \(f[2]) \(f[3])" + (tabs.count > 1 ? "\t\(tabs[1])" : "") + "\n"
            case "usym": userSymbols["\(f[1]) \(f[2])"] = tabs[1]
            case "event": if let e = Self.event(f, comm: tabs[1], nextComm: tabs[2]) { events.append(e) }
            default: Issue.record("unknown fixture line: \(line.prefix(40))")
            }
        }
    }

    var kernelSymbols: KernelSymbols { get throws { try KernelSymbols(kallsyms: kallsyms) } }

    static func ref(_ hex: String) -> StackRef {
        switch UInt64(hex, radix: 16)! {
        case 0: .none
        case 1: .lost
        case let id: .stored(id)
        }
    }

    static func vector1(_ v: UInt32) -> SoftirqVector? { v == 0 ? nil : SoftirqVector(rawValue: Int(v) - 1) }

    static func event(_ f: [String], comm: String, nextComm: String) -> TraceEvent? {
        let ts = UInt64(f[2])!, dur = UInt64(f[3])!, cpu = Int(f[4])!, pid = Int32(f[5])!, tid = Int32(f[6])!
        let vec = UInt32(f[9])!, flags = UInt32(f[10])!
        switch f[1] {
        case "1": return .sample(SampledEvent(ts: ts, cpu: cpu, pid: pid, tid: tid, comm: comm, softirq: vector1(vec),
                                              kernel: ref(f[7]), user: ref(f[8])))
        case "2": return .softirq(SoftirqSlice(ts: ts, dur: dur, cpu: cpu, vector: SoftirqVector(rawValue: Int(vec))!,
                                               ksoftirqd: flags & 1 != 0, tid: tid, comm: comm))
        case "3": return .contextSwitch(SwitchEvent(ts: ts, cpu: cpu, prevPid: pid, prevTid: tid, prevComm: comm, prevState: Int64(f[13])!,
                                                    nextPid: Int32(f[11])!, nextTid: Int32(f[12])!, nextComm: nextComm))
        default: return nil
        }
    }

    // StackSource
    func frames(ofStack id: UInt64, user: Bool) -> [UInt64]? {
        singleLookups += 1
        return (user ? userStacks : kernelStacks)[id]
    }

    func forEachStack(user: Bool, _ body: (UInt64, ArraySlice<UInt64>) -> Void) {
        for (id, ips) in (user ? userStacks : kernelStacks).sorted(by: { $0.key < $1.key }) { body(id, ips[...]) }
    }

    // UserFrameNaming. The recorder kept the names of one process per user stack id; the other
    // processes sharing such a stack were short-lived ones (gzip, head, bash) that had exited before
    // naming, so their frames read "[unknown]" in the golden output, as here.
    func name(pid: Int32, address: UInt64) -> String { userSymbols["\(pid) \(String(address, radix: 16))"] ?? "[unknown]" }
    func capture(pid: Int32) {}

    func symbolizer() throws -> StackSymbolizer {
        StackSymbolizer(source: self, kernelSymbols: KernelSymbolsLoader(try kernelSymbols), userNames: self)
    }
}
