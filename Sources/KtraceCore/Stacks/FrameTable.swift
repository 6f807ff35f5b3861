/// Folded stacks with frames as small integers into one name table: the form ktrace builds its own
/// output from. Thousands of stacks share a few thousand names, so merging and tree building hash
/// integers instead of strings, and no string is built per frame occurrence.

/// Names by id; each distinct name is stored once.
public struct FrameTable: Sendable {
    public private(set) var names: [String] = []
    private var ids: [String: Int32] = [:]

    public init() {}

    public mutating func id(_ name: String) -> Int32 {
        if let id = ids[name] { return id }
        let id = Int32(names.count)
        names.append(name)
        ids[name] = id
        return id
    }

    public subscript(id: Int32) -> String { names[Int(id)] }
}

public struct InternedStack: Sendable {
    /// Root first, as in `FoldedStack`.
    public var frames: [Int32]
    public var count: UInt64

    public init(frames: [Int32], count: UInt64) {
        self.frames = frames
        self.count = count
    }
}

public struct InternedProfile: Sendable {
    public var table: FrameTable
    public var stacks: [InternedStack]

    public init(table: FrameTable = FrameTable(), stacks: [InternedStack] = []) {
        self.table = table
        self.stacks = stacks
    }

    public init(_ profile: FoldedProfile) {
        var table = FrameTable()
        stacks = profile.stacks.map { s in InternedStack(frames: s.frames.map { table.id($0) }, count: s.count) }
        self.table = table
    }

    /// Folded text exactly as `FoldedProfile.render()` writes it: identical stacks merged, lines in
    /// byte order.
    public func renderFolded() -> String {
        var merged: [[Int32]: UInt64] = [:]
        for s in stacks { merged[s.frames, default: 0].addSaturating(s.count) }
        // Distinct ids can still join into equal lines (a name containing ";"): merge those too.
        var joined: [String: UInt64] = [:]
        for (frames, count) in merged { joined[frames.map { table[$0] }.joined(separator: ";"), default: 0].addSaturating(count) }
        var lines = joined.map { ($0.key, $0.value) }
        lines.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        var out = ""
        for (k, count) in lines {
            out += k
            out += " "
            out += String(count)
            out += "\n"
        }
        return out
    }
}
