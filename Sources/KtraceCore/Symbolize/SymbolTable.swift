/// Sorted ELF function symbols with a size-respecting lookup.
///
/// An address is only ever given to a symbol whose [value, value+size) covers it: guessing that a
/// symbol extends to the next one (kallsyms-style) would blame padding, PLT stubs or code of a
/// stripped static function on whatever precedes it. Size-0 symbols (assembly labels such as
/// `_init`) match their exact address only: that can be right for a leaf IP at a function entry
/// and can never be wrong, whereas giving them any extent would be a guess.
public struct SymbolTable: Sendable {
    private var starts: [UInt64] = []
    private var ends: [UInt64] = []       // exclusive; start+1 for size-0 symbols
    private var maxEnds: [UInt64] = []    // running max of ends: lets lookups find enclosing symbols
    private var names: [String] = []

    public var count: Int { starts.count }

    public init(_ symbols: [ELFSymbol]) {
        // Sort by address, best name first among equal addresses.
        let sorted = symbols.sorted { a, b in
            a.value != b.value ? a.value < b.value : SymbolTable.better(a, b)
        }
        var prev: ELFSymbol?
        for s in sorted {
            // Same address and size = aliases (e.g. `read`/`__read`/`__libc_read`): keep only the best.
            if let p = prev, p.value == s.value, p.size == s.size { continue }
            prev = s
            let end = s.value &+ max(s.size, 1)
            starts.append(s.value)
            ends.append(end < s.value ? .max : end)
            maxEnds.append(max(maxEnds.last ?? 0, ends.last!))
            names.append(s.name)
        }
    }

    /// Preference among symbols at one address: sized over size-0, then global over weak over
    /// local (the exported name, like perf and gdb), then fewer leading underscores, then by name
    /// so the choice does not depend on symbol table order.
    static func better(_ a: ELFSymbol, _ b: ELFSymbol) -> Bool {
        if (a.size > 0) != (b.size > 0) { return a.size > 0 }
        func rank(_ binding: UInt8) -> Int {
            switch binding {
            case 1, 10: 0  // STB_GLOBAL, STB_GNU_UNIQUE
            case 2: 1      // STB_WEAK
            default: 2     // STB_LOCAL
            }
        }
        if rank(a.binding) != rank(b.binding) { return rank(a.binding) < rank(b.binding) }
        let ua = a.name.prefix { $0 == "_" }.count, ub = b.name.prefix { $0 == "_" }.count
        if ua != ub { return ua < ub }
        return a.name < b.name
    }

    /// The name of the innermost symbol covering `address`, or nil.
    public func lookup(_ address: UInt64) -> String? {
        // Last index with start <= address.
        var j = starts.partitionPoint { $0 > address } - 1
        // Walk back only while some earlier symbol could still reach `address` (almost always 0 or 1
        // steps); the first cover found has the greatest start, then the best name for that start.
        var found: Int?
        while j >= 0, maxEnds[j] > address {
            if let f = found, starts[j] != starts[f] { break }
            if ends[j] > address { found = j }
            j -= 1
        }
        return found.map { names[$0] }
    }
}
