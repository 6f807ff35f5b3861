import Foundation
import Testing
@testable import KtraceCore

@Suite struct SymbolizeScratch {
    @Test func live() throws {
        let env = ProcessInfo.processInfo.environment
        guard let pidS = env["SCRATCH_PID"], let pid = Int32(pidS) else { return }
        var t0 = Date()
        let d = readWholeFile("/proc/kallsyms")!
        print("read \(d.count) in \(Date().timeIntervalSince(t0))s")
        t0 = Date()
        let k = try KernelSymbols.load()
        print("kallsyms: \(k.count) symbols in \(Date().timeIntervalSince(t0))s")
        for a: UInt64 in [0xffffffff81e66b00 + 0x40, 0xffffffff822090c8, 0xffffffffc0201010] { print(String(a, radix: 16), k.name(for: a) ?? "nil") }
        t0 = Date()
        let s = UserSymbolizer()
        s.capture(pid: pid)
        print("capture: \(Date().timeIntervalSince(t0))s")
        for line in (env["SCRATCH_ADDRS"] ?? "").split(separator: ",") {
            let a = UInt64(line, radix: 16)!
            print(String(a, radix: 16), "->", s.name(pid: pid, address: a), s.symbolSource(pid: pid, address: a) ?? "-")
        }
        let nodebug = UserSymbolizer(debugRoots: [])
        for line in (env["SCRATCH_ADDRS"] ?? "").split(separator: ",").prefix(7) {
            let a = UInt64(line, radix: 16)!
            print("nodebug", String(a, radix: 16), "->", nodebug.name(pid: pid, address: a), nodebug.symbolSource(pid: pid, address: a) ?? "-")
        }
        let addrs = (env["SCRATCH_ADDRS"] ?? "").split(separator: ",").map { UInt64($0, radix: 16)! }
        t0 = Date()
        var n = 0
        for _ in 0..<1000 { for a in addrs { n += s.name(pid: pid, address: a).count } }
        print("\(1000 * addrs.count) lookups: \(Date().timeIntervalSince(t0))s \(n)")
    }
}
