/// Self-contained interactive SVG flame graphs (the behaviour of Brendan Gregg's flamegraph.pl, our own code).

public struct FlameGraphOptions: Sendable {
    public var title: String = "Flame Graph"
    public var subtitle: String? = nil        // e.g. "pid 9 (ksoftirqd/0) · 30 s · 99 Hz · 0 lost samples"
    public var countName: String = "samples"
    public var width: Int = 1200
    public var frameHeight: Int = 16
    public var minWidthPx: Double = 0.1        // frames narrower than this are omitted (like flamegraph.pl --minwidth)
    public var inverted: Bool = false          // icicle
    public var palette: FlameGraphPalette = .hot
    public init() {}
}

/// Which frames are drawn in the warm on-CPU colours and which in the blues of off-CPU time.
public enum FlameGraphPalette: Sendable, Equatable {
    case hot
    /// An off-CPU profile: every function frame in blues, as flamegraph.pl --colors=io.
    case cold
    /// A hot/cold profile: the frames under the root's `[off-cpu]` child in blues, the rest warm.
    case hotCold
}

/// What a frame is drawn as: its kind, or its place (the root, the task name at depth 1).
enum FlameFrameKind: Sendable, Equatable {
    case root, comm, kernel, user, pseudo, jit, inlined, waker

    init(_ kind: FrameKind) {
        switch kind {
        case .user: self = .user
        case .waker: self = .waker
        case .kernel: self = .kernel
        case .pseudo: self = .pseudo
        case .jit: self = .jit
        case .inlined: self = .inlined
        }
    }
}

public enum FlameGraphSVG {
    static let xpad = 10.0
    static let fontSize = 12.0
    /// Average glyph advance of Verdana/DejaVu Sans relative to the font size; used to truncate labels.
    static let charAdvance = 0.59

    public static func render(_ profile: FoldedProfile, options: FlameGraphOptions = .init()) -> String {
        render(InternedProfile(profile), options: options)
    }

    public static func render(_ profile: InternedProfile, options: FlameGraphOptions = .init()) -> String {
        let tree = Tree(profile)
        let cold = coldNodes(tree, options.palette)
        return draw(tree, options: options) { n, total, out in
            let count = tree.totals[n]
            out += " (\(count) "
            escape(options.countName, into: &out)
            out += ", \(num(Double(count) / Double(total) * 100, places: 2, trim: false))%)"
        } fill: { n in color(name: tree.names[n], kind: tree.kinds[n], cold: cold[n]) }
    }

    /// Per node: drawn in off-CPU blues. Parents come before their children in the tree's order.
    static func coldNodes(_ tree: Tree, _ palette: FlameGraphPalette) -> [Bool] {
        switch palette {
        case .hot: return Array(repeating: false, count: tree.names.count)
        case .cold: return Array(repeating: true, count: tree.names.count)
        case .hotCold:
            var cold = Array(repeating: false, count: tree.names.count)
            for n in 1..<max(tree.names.count, 1) {
                let p = Int(tree.parents[n])
                cold[n] = cold[p] || (p == 0 && tree.names[n] == HotCold.offCPUFrame)
            }
            return cold
        }
    }

    /// The SVG of `tree`: `info` appends what a frame's tooltip says after its name, `fill` gives its colour.
    static func draw(_ tree: Tree, options: FlameGraphOptions, info: (_ node: Int, _ total: UInt64, _ out: inout String) -> Void,
                     fill: (_ node: Int) -> RGB) -> String {
        let width = max(options.width, 100)
        let frameHeight = max(options.frameHeight, 4)
        let total = tree.totals[0]
        let topPad = options.subtitle == nil ? 42 : 60
        let bottomPad = 34
        let graphWidth = Double(width) - 2 * xpad

        guard total > 0 else {
            let height = topPad + bottomPad + 40
            var out = header(width: width, height: height)
            out += titles(options, width: width)
            out += "<text id=\"nosamples\" x=\"\(width / 2)\" y=\"\(topPad + 30)\" text-anchor=\"middle\" font-size=\"14\">no samples</text>\n"
            out += "</svg>\n"
            return out
        }

        // Visible frames in depth-first order, children alphabetical; positions in samples.
        let pxPerSample = graphWidth / Double(total)
        var visible: [(node: Int32, x: UInt64, depth: Int)] = []
        var maxDepth = 0
        var work: [(node: Int32, x: UInt64, depth: Int)] = [(0, 0, 0)]
        while let (node, x, depth) = work.popLast() {
            guard node == 0 || (tree.totals[Int(node)] > 0 && Double(tree.totals[Int(node)]) * pxPerSample >= options.minWidthPx) else { continue }
            visible.append((node, x, depth))
            maxDepth = max(maxDepth, depth)
            var cx = x
            var next: [(Int32, UInt64, Int)] = []
            for c in tree.children[Int(node)] {
                next.append((c, cx, depth + 1))
                cx.addSaturating(tree.totals[Int(c)])
            }
            work.append(contentsOf: next.reversed())
        }

        let height = topPad + bottomPad + (maxDepth + 1) * frameHeight
        let labelFont = min(fontSize, Double(frameHeight - 3))
        let charWidth = labelFont * charAdvance
        var out = header(width: width, height: height)
        out += titles(options, width: width)
        let bottomY = height - 12
        out += "<text id=\"unzoom\" class=\"btn hide\" x=\"\(num(xpad))\" y=\"24\">Reset Zoom</text>\n"
        out += "<text id=\"search\" class=\"btn\" x=\"\(num(Double(width) - xpad))\" y=\"24\" text-anchor=\"end\">Search</text>\n"
        out += "<text id=\"details\" x=\"\(num(xpad))\" y=\"\(bottomY)\"> </text>\n"
        out += "<text id=\"matched\" x=\"\(num(Double(width) - xpad))\" y=\"\(bottomY)\" text-anchor=\"end\"> </text>\n"
        out += "<g id=\"frames\" data-total=\"\(total)\" data-xpad=\"\(num(xpad))\" data-gw=\"\(num(graphWidth))\""
        out += " data-cw=\"\(num(charWidth, places: 3))\" data-unit=\""
        escape(options.countName, into: &out)
        out += "\" font-size=\"\(num(labelFont))\">\n"

        for (node, x, depth) in visible {
            let n = Int(node)
            let count = tree.totals[n]
            let y = options.inverted ? topPad + depth * frameHeight : height - bottomPad - (depth + 1) * frameHeight
            let px = xpad + Double(x) * pxPerSample
            let pw = Double(count) * pxPerSample
            let name = tree.names[n]
            out += "<g data-x=\"\(x)\" data-w=\"\(count)\" data-d=\"\(depth)\"><title>"
            escape(name, into: &out)
            info(n, total, &out)
            out += "</title><rect x=\"\(num(px))\" y=\"\(y)\" width=\"\(num(pw))\""
            out += " height=\"\(frameHeight - 1)\" fill=\"\(fill(n).svg)\" rx=\"2\" ry=\"2\"/>"
            out += "<text x=\"\(num(px + 3))\" y=\"\(num(Double(y) + Double(frameHeight) / 2 + labelFont * 0.35))\">"
            escape(label(name, widthPx: pw, charWidth: charWidth), into: &out)
            out += "</text></g>\n"
        }
        out += "</g>\n<script type=\"text/ecmascript\"><![CDATA[\n"
        out += FlameGraphScript.script
        out += "]]></script>\n</svg>\n"
        return out
    }

    // MARK: - Tree

    /// Merged call tree. Node 0 is "all"; a node's children are unique by frame (name and kind) and
    /// sorted by name. `totals` are the drawn widths.
    struct Tree {
        var names: [String] = ["all"]
        var kinds: [FlameFrameKind] = [.root]
        var totals: [UInt64] = [0]
        var children: [[Int32]] = [[]]
        /// A differential tree's: both profiles' counts under each node, and the change of the node's
        /// own count (its stacks that end there), after − before.
        var before: [UInt64] = [], after: [UInt64] = [], selfDelta: [Int64] = []

        private struct Key: Hashable { var parent: Int32; var frame: Int32 }
        private var lookup: [Key: Int32] = [:]
        private(set) var parents: [Int32] = [-1]

        init(_ profile: InternedProfile) {
            for stack in profile.stacks where stack.count > 0 {
                for node in insert(stack.frames, table: profile.table) { totals[node].addSaturating(stack.count) }
            }
            finish()
        }

        /// Widths from AFTER, or from BEFORE when `drawBefore` (a stack that went away has a width there).
        init(_ diff: DiffProfile, drawBefore: Bool) {
            before = [0]; after = [0]; selfDelta = [0]
            for s in diff.stacks where s.before > 0 || s.after > 0 {
                let path = insert(s.frames, table: diff.table)
                for node in path {
                    totals[node].addSaturating(drawBefore ? s.before : s.after)
                    before[node].addSaturating(s.before)
                    after[node].addSaturating(s.after)
                }
                selfDelta[path[path.count - 1]].addSaturating(.change(from: s.before, to: s.after))
            }
            finish()
        }

        /// The nodes of `frames` from the root, created where new.
        private mutating func insert(_ frames: [Int32], table: FrameTable) -> [Int] {
            var path = [0]
            var node: Int32 = 0
            path.reserveCapacity(frames.count + 1)
            for (depth, frame) in frames.enumerated() {
                let key = Key(parent: node, frame: frame)
                if let c = lookup[key] {
                    node = c
                } else {
                    let child = Int32(names.count)
                    lookup[key] = child
                    names.append(table[frame])
                    kinds.append(depth == 0 ? .comm : FlameFrameKind(table.kind(frame)))
                    totals.append(0)
                    parents.append(node)
                    if !selfDelta.isEmpty { before.append(0); after.append(0); selfDelta.append(0) }
                    node = child
                }
                path.append(Int(node))
            }
            return path
        }

        private mutating func finish() {
            children = Array(repeating: [], count: names.count)
            for i in 1..<names.count { children[Int(parents[i])].append(Int32(i)) }
            // Byte order keeps the result locale-independent; same-named siblings of different kinds
            // (a user and a kernel foo) keep creation order, which is deterministic for a given input.
            for i in children.indices where children[i].count > 1 {
                children[i].sort { a, b in
                    let na = names[Int(a)], nb = names[Int(b)]
                    if na == nb { return a < b }
                    return na.utf8.lexicographicallyPrecedes(nb.utf8)
                }
            }
            lookup = [:]
        }
    }

    // MARK: - Colours

    struct RGB: Equatable {
        var r: Int, g: Int, b: Int
        var svg: String { "rgb(\(r),\(g),\(b))" }
    }

    /// Deterministic across runs and machines: FNV-1a of the displayed name (Swift's Hasher is seeded per process).
    static func color(name: String, kind: FlameFrameKind, cold: Bool = false) -> RGB {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let v1 = Double(h & 0xffff) / 65536, v2 = Double((h >> 16) & 0xffff) / 65536, v3 = Double((h >> 32) & 0xffff) / 65536
        func c(_ base: Double, _ span: Double, _ v: Double) -> Int { Int(base + span * v) }
        if cold {  // off-CPU time: blues, kernel frames greyer than user ones
            switch kind {
            case .kernel: return RGB(r: c(80, 60, v1), g: c(80, 60, v1), b: c(190, 55, v2))
            case .user, .jit, .inlined: return RGB(r: c(40, 50, v1), g: c(120, 60, v1), b: c(200, 55, v2))
            default: break
            }
        }
        switch kind {
        case .user: return RGB(r: c(205, 50, v3), g: c(0, 230, v1), b: c(0, 55, v2))      // red..yellow
        // Orange with a steady hue (g follows r) and a little blue, so kernel frames stand apart from
        // the saturated red..yellow of user code.
        case .kernel: return RGB(r: c(225, 30, v1), g: c(120, 40, v1) + c(0, 15, v2), b: c(50, 30, v3))
        case .pseudo: return RGB(r: c(120, 30, v1), g: c(145, 30, v1), b: c(190, 40, v2)) // grey-blue
        case .comm: return RGB(r: c(170, 40, v1), g: c(170, 40, v1), b: c(170, 40, v1))   // grey
        case .root: return RGB(r: 190, g: 190, b: 190)
        case .jit: return RGB(r: c(50, 60, v1), g: c(190, 60, v1), b: c(50, 60, v2))      // green
        case .inlined: return RGB(r: c(60, 60, v1), g: c(180, 60, v2), b: c(180, 60, v2)) // aqua
        case .waker: return RGB(r: c(0, 60, v1), g: c(190, 65, v2), b: c(190, 65, v2))    // aqua, as flamegraph.pl's chain
        }
    }

    // MARK: - Text

    static func header(width: Int, height: Int) -> String {
        """
        <?xml version="1.0" standalone="no"?>
        <svg version="1.1" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-size="\(num(fontSize))" xmlns="http://www.w3.org/2000/svg">
        <style><![CDATA[\(FlameGraphScript.style)]]></style>
        <defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>
        <rect x="0" y="0" width="\(width)" height="\(height)" fill="url(#bg)"/>

        """
    }

    static func titles(_ options: FlameGraphOptions, width: Int) -> String {
        var out = "<text id=\"title\" x=\"\(width / 2)\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">"
        escape(options.title, into: &out)
        out += "</text>\n"
        if let sub = options.subtitle {
            out += "<text id=\"subtitle\" x=\"\(width / 2)\" y=\"44\" text-anchor=\"middle\" fill=\"#555\">"
            escape(sub, into: &out)
            out += "</text>\n"
        }
        return out
    }

    /// The label that fits in `widthPx`: the name, or a prefix ending in "..", or nothing. The script's
    /// `fit` does the same after a zoom.
    static func label(_ name: String, widthPx: Double, charWidth: Double) -> String {
        let fits = Int(((widthPx - 6) / charWidth).rounded(.down))
        if fits < 3 { return "" }
        if name.count <= fits { return name }
        return String(name.prefix(fits - 2)) + ".."
    }

    /// XML text/attribute escaping; characters XML 1.0 forbids become U+FFFD so the document stays well-formed.
    static func escape(_ s: String, into out: inout String) {
        // Most names need no escaping: one byte scan, then a single append.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x80 && $0 != 38 && $0 != 60 && $0 != 62 && $0 != 34 && $0 != 39 }) {
            out += s
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(u)
            case _ where u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF:
                out += "\u{FFFD}"
            default: out.unicodeScalars.append(u)
            }
        }
    }

    static func escape(_ s: String) -> String {
        var out = ""
        escape(s, into: &out)
        return out
    }

    /// Fixed-point number, trailing zeros trimmed unless `trim` is false.
    static func num(_ v: Double, places: Int = 2, trim: Bool = true) -> String { fixed(v, places, trim: trim) }
}
