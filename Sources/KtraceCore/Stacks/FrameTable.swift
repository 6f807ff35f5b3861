/// The one stack form: frames as small integers into one table of (name, kind). Every output — folded,
/// SVG, JSON, timeline — is built from it; thousands of stacks share a few thousand names, so merging
/// and tree building hash integers, and no string is built per frame occurrence.

/// What a frame is. It travels beside the name, never inside it: the folded writer alone adds perf's
/// suffixes (when asked), and the folded reader alone parses them (Folded.swift).
public enum FrameKind: UInt8, Sendable, CaseIterable {
    case user, kernel
    /// Not a function: `[softirq:net_rx]`, `[missing user stack]`, `[unknown]`.
    case pseudo
    /// Only from folded input written by other tools (`_[j]`, `_[i]`, `_[w]`).
    case jit, inlined, waker

    /// A user-side name in brackets is a placeholder, not a function.
    public static func user(named name: String) -> FrameKind {
        name.hasPrefix("[") && name.hasSuffix("]") ? .pseudo : .user
    }
}

/// Frames by id; each distinct (name, kind) is stored once.
public struct FrameTable: Sendable {
    public private(set) var names: [String] = []
    public private(set) var kinds: [FrameKind] = []
    private var ids: [Key: Int32] = [:]

    private struct Key: Hashable {
        var name: String
        var kind: FrameKind
    }

    public init() {}

    public mutating func id(_ name: String, kind: FrameKind) -> Int32 {
        let key = Key(name: name, kind: kind)
        if let id = ids[key] { return id }
        let id = Int32(names.count)
        names.append(name)
        kinds.append(kind)
        ids[key] = id
        return id
    }

    public subscript(id: Int32) -> String { names[Int(id)] }
    public func kind(_ id: Int32) -> FrameKind { kinds[Int(id)] }
}

public struct InternedStack: Sendable {
    /// Root first: the task name, then outermost to innermost frame.
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
}
