/// Kernel symbol names kept as their '_'-separated words, each distinct word stored once and a name as
/// the list of its words' numbers. Kernel names repeat their words (`__x64_sys_`, `tcp_v4_`, `_rcv`): a
/// 6.18 kernel's 121k text names take 2.96 MB as bytes and 1.2 MB so (11k distinct words), and the names
/// live through a whole `stacks` run, whose peak memory is a benchmark target. Decoding a name is a few
/// appends; names are decoded only for the frames of the stacks that were sampled.
///
/// A name's code: each word's number as LEB128 (numbers below 128 in one byte), and for a module symbol
/// ("func [module]") the number 0 and then the module's number.
struct SymbolNames {
    private(set) var codes: [UInt8] = []
    private var wordBytes: [UInt8] = []
    private var wordEnds: [UInt32] = [0]  // word n is wordBytes[wordEnds[n - 1]..<wordEnds[n]]; 0 is no word
    private var slots: [UInt32] = []      // open addressing while names are added: a word's number, 0 empty

    init(reservingCodeBytes bytes: Int = 0) {
        codes.reserveCapacity(bytes)
    }

    var count: Int { codes.count }

    /// Adds `name` (with its module, if any) and returns where its code starts; it ends at `count`.
    mutating func append(_ name: UnsafeBufferPointer<UInt8>, module: UnsafeBufferPointer<UInt8>?) -> Int {
        let start = codes.count
        _ = Self.forEachWord(of: name) { put(number(of: $0)); return true }
        if let module {
            put(0)
            put(number(of: module))
        }
        return start
    }

    /// The name whose code is codes[offset..<offset + length].
    func name(offset: Int, length: Int) -> String {
        var bytes: [UInt8] = []
        var at = offset, first = true, moduleNext = false
        let end = offset + length
        while at < end {
            var n = 0, shift = 0
            while true {
                let b = codes[at]
                at += 1
                n |= Int(b & 0x7f) << shift
                shift += 7
                if b < 0x80 { break }
            }
            if n == 0 {
                moduleNext = true
                continue
            }
            let word = self.word(n)
            if moduleNext {
                bytes += " [".utf8
                bytes += word
                bytes.append(UInt8(ascii: "]"))
            } else {
                if !first { bytes.append(UInt8(ascii: "_")) }
                bytes += word
            }
            first = false
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The code `name` (no module) would have; nil when one of its words is in no name.
    func code(of name: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        let known = name.withUnsafeBufferPointer { name in
            Self.forEachWord(of: name) { word in
                guard let n = find(word) else { return false }
                Self.leb128(n, into: &out)
                return true
            }
        }
        return known ? out : nil
    }

    /// Frees what only adding names needs (the words' hash table).
    mutating func finish() {
        slots = []
    }

    // MARK: - Words

    /// Calls `body` with each '_'-separated word of `name` in order (empty ones too: "__x" is "", "", "x"),
    /// until it returns false; returns whether every call returned true.
    private static func forEachWord(of name: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        var wordStart = 0
        for i in 0...name.count where i == name.count || name[i] == UInt8(ascii: "_") {
            guard body(UnsafeBufferPointer(rebasing: name[wordStart..<i])) else { return false }
            wordStart = i + 1
        }
        return true
    }

    private mutating func put(_ n: Int) { Self.leb128(n, into: &codes) }

    private static func leb128(_ value: Int, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func hash(_ word: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261  // FNV-1a
        for b in word { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    private func word(_ n: Int) -> ArraySlice<UInt8> { wordBytes[Int(wordEnds[n - 1])..<Int(wordEnds[n])] }

    /// The slot holding `word`'s number, or the empty slot where it would go.
    private func slot(of word: UnsafeBufferPointer<UInt8>) -> Int {
        let mask = slots.count - 1
        var i = Int(Self.hash(word)) & mask
        while slots[i] != 0, !self.word(Int(slots[i])).elementsEqual(word) { i = (i + 1) & mask }
        return i
    }

    private func find(_ word: UnsafeBufferPointer<UInt8>) -> Int? {
        if slots.isEmpty {  // after finish(): a scan, for the odd lookup by name
            for n in 1..<wordEnds.count where self.word(n).elementsEqual(word) { return n }
            return nil
        }
        let n = slots[slot(of: word)]
        return n == 0 ? nil : Int(n)
    }

    private mutating func number(of word: UnsafeBufferPointer<UInt8>) -> Int {
        if slots.count < 2 * wordEnds.count { grow() }
        let i = slot(of: word)
        if slots[i] != 0 { return Int(slots[i]) }
        wordBytes += word
        wordEnds.append(UInt32(wordBytes.count))
        slots[i] = UInt32(wordEnds.count - 1)
        return wordEnds.count - 1
    }

    private mutating func grow() {
        slots = [UInt32](repeating: 0, count: max(1024, slots.count * 2))
        let mask = slots.count - 1
        for n in 1..<wordEnds.count {
            let h = word(n).withUnsafeBufferPointer { Self.hash($0) }
            var i = Int(h) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = UInt32(n)
        }
    }
}
