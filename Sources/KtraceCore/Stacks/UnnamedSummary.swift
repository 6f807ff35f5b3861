/// How many user frames have no name and why, each frame counted once per sample (or per nanosecond
/// off the CPU): the line ktrace prints on stderr after a profile, and the same in JSON and pprof.
public struct UnnamedSummary: Sendable {
    public struct Entry: Sendable {
        public var reason: UnnamedReason
        /// Frames of this reason, weighted as the stacks are counted.
        public var weight: UInt64
        /// Distinct placeholders (`[nginx+0x4f21a]`) of this reason.
        public var distinct: Int
    }

    /// User frames in all stacks, and those without a name, weighted as the stacks are counted.
    public var userFrames: UInt64 = 0
    public var unnamed: UInt64 = 0
    /// By weight, largest first.
    public var entries: [Entry] = []

    public var isEmpty: Bool { unnamed == 0 }

    /// The summary line lists this many reasons, then the rest as "other".
    static let listed = 6

    public init() {}

    /// `weight`: a stack's count in one unit when counts mix units (hot/cold); nil: as counted.
    public init(_ counts: [StackCount], _ s: StackSymbolizer, weight: ((StackCount) -> UInt64)? = nil) {
        var by: [UnnamedReason: (weight: UInt64, ids: Set<Int32>)] = [:]
        for c in counts {
            guard case .frames(let frames) = s.user(pid: c.pid, c.user) else { continue }
            let w = weight?(c) ?? c.count
            let cut = frames.last != nil && frames.last == s.truncatedFrame  // `[truncated]` is no frame of the program
            userFrames &+= w &* UInt64(frames.count - (cut ? 1 : 0))
            for f in frames {
                guard let u = s.unnamedFrames[f] else { continue }
                unnamed &+= w
                by[u.reason, default: (0, [])].weight &+= w
                by[u.reason, default: (0, [])].ids.insert(f)
            }
        }
        entries = by.map { Entry(reason: $0.key, weight: $0.value.weight, distinct: $0.value.ids.count) }
            .sorted { ($0.weight, $1.reason.text) > ($1.weight, $0.reason.text) }
    }

    func share(_ w: UInt64) -> Double { userFrames == 0 ? 0 : Double(w) / Double(userFrames) * 100 }

    /// "12%", "3.4%", "<0.1%".
    static func percent(_ p: Double) -> String {
        if p >= 9.95 { return fixed(p, 0) + "%" }
        if p >= 0.05 { return fixed(p, 1) + "%" }
        return "<0.1%"
    }

    /// "12% of user frames unnamed: 9% /usr/sbin/nginx stripped, install nginx-dbgsym (build id …); 3%
    /// anonymous JIT code without /tmp/perf-1234.map"; nil when every user frame has a name.
    public var line: String? {
        guard !isEmpty else { return nil }
        var parts = entries.prefix(Self.listed).map { "\(Self.percent(share($0.weight))) \($0.reason.text)" }
        let rest = entries.dropFirst(Self.listed)
        if !rest.isEmpty {
            let w = rest.reduce(UInt64(0)) { $0 &+ $1.weight }
            parts.append("\(Self.percent(share(w))) in \(rest.count) other mappings")
        }
        return "\(Self.percent(share(unnamed))) of user frames unnamed: " + parts.joined(separator: "; ")
    }

    /// The JSON document's `unnamed` object (schema in docs/stacks.md).
    public var json: JSONValue {
        .object([
            ("user_frames", .uint(userFrames)), ("unnamed_frames", .uint(unnamed)),
            ("share", .double((share(unnamed) * 10).rounded() / 1000)),
            ("reasons", .array(entries.map { e in
                var o: [(String, JSONValue)] = [("reason", .string(e.reason.kind.rawValue))]
                o.append(("file", e.reason.file.map { .string($0) } ?? .null))
                if let b = e.reason.buildID { o.append(("build_id", .string(b))) }
                if let p = e.reason.package { o.append(("package", .string(p))) }
                if let p = e.reason.perfMap { o.append(("perf_map", .string(p))) }
                o += [("frames", .uint(e.weight)), ("share", .double((share(e.weight) * 10).rounded() / 1000)),
                      ("distinct", .int(Int64(e.distinct))), ("text", .string(e.reason.text))]
                if let f = e.reason.fix { o.append(("fix", .string(f))) }
                return .object(o)
            })),
        ])
    }
}
