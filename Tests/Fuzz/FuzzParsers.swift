// libFuzzer entry for the parsers that read files any user can craft: the ELF reader, the .eh_frame /
// .debug_frame compiler (CIEs, FDEs, CFA programs, pointer encodings, and auto's sampled look at them) and
// the perf map reader. Built by scripts/fuzz-parsers.sh with the KtraceCore sources they need and
// -sanitize=fuzzer,address; not part of the package. Each input goes to all of them; a crash, a hang
// (libFuzzer's -timeout) or an allocation past -rss_limit_mb is a finding, kept by libFuzzer as a file to
// turn into a unit test.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let build = try? UnwindTableBuilder.build(elf: bytes) {
        // Whatever was built must be a well-formed table: rows strictly increasing.
        let rows = build.table.rows
        for i in rows.indices.dropFirst() where rows[i - 1].pc >= rows[i].pc { fatalError("rows out of order at \(i)") }
        _ = build.table.lookup(UInt64(size))
    }
    // auto's sampled look at the same FDEs (a share, or nil; never past 1).
    if let share = try? UnwindTableBuilder.rbpShare(elf: bytes, sample: 8), !(0...1).contains(share) {
        fatalError("rbp share \(share)")
    }
    _ = try? ELFFile(bytes: bytes)
    _ = PerfMap(bytes: bytes)
    return 0
}
