/// Columns of the kernel's symbol table kept narrower than their widest value, as the table lives through
/// a whole `stacks` run and its memory is part of the peak the benchmark compares with perf's.

/// Sorted 64-bit addresses stored as their low 32 bits, with the high half kept once per run of equal
/// high halves: kernel text, modules and BPF programs share one high half on x86-64 (0xffffffff), so a
/// 121k-symbol table takes 0.5 MB instead of 1 MB, and any other layout still reads back exactly.
struct SortedAddresses {
    private let lows: [UInt32]
    private let highs: [UInt32]      // ascending, one per run
    private let runStarts: [Int]     // index of each run's first address

    init(_ sorted: some Collection<UInt64>) {
        var highs: [UInt32] = [], runStarts: [Int] = []
        lows = sorted.enumerated().map { i, a in
            let high = UInt32(a >> 32)
            if highs.last != high {
                highs.append(high)
                runStarts.append(i)
            }
            return UInt32(truncatingIfNeeded: a)
        }
        self.highs = highs
        self.runStarts = runStarts
    }

    var count: Int { lows.count }

    subscript(i: Int) -> UInt64 {
        let run = runStarts.partitionPoint { $0 > i } - 1
        return UInt64(highs[run]) << 32 | UInt64(lows[i])
    }

    /// The index of the greatest address at or below `address`; nil when all are above it.
    func lastIndex(atOrBelow address: UInt64) -> Int? {
        let high = UInt32(address >> 32)
        let run = highs.partitionPoint { $0 > high } - 1
        guard run >= 0 else { return nil }
        let end = run + 1 < runStarts.count ? runStarts[run + 1] : lows.count
        guard highs[run] == high else { return end - 1 }  // the whole run lies below
        let low = UInt32(truncatingIfNeeded: address)
        let past = lows[runStarts[run]..<end].partitionPoint { $0 > low }
        return past > 0 ? past - 1 : nil
    }
}

/// Unsigned values stored in `Narrow`; the few that do not fit (Narrow.max and above) are kept aside by
/// index. Symbol sizes: all but 20 of 121k fit in 16 bits; name lengths: all in 8.
struct NarrowColumn<Narrow: FixedWidthInteger & UnsignedInteger> {
    private let narrow: [Narrow]
    private let wide: [Int: UInt64]

    init<Values: Collection>(_ values: Values) where Values.Element: FixedWidthInteger & UnsignedInteger {
        var wide: [Int: UInt64] = [:]
        narrow = values.enumerated().map { i, v in
            if v < Narrow.max { return Narrow(v) }
            wide[i] = UInt64(v)
            return Narrow.max
        }
        self.wide = wide
    }

    var count: Int { narrow.count }

    subscript(i: Int) -> UInt64 {
        let v = narrow[i]
        return v == Narrow.max ? wide[i]! : UInt64(v)
    }
}
