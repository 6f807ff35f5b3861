/// Differential flame graphs: AFTER's shape (or BEFORE's, negated), each frame coloured by how its own
/// count changed. The reading of flamegraph.pl's differential mode, so that its graphs and ours agree.

extension FlameGraphSVG {
    /// Widths from AFTER (BEFORE with `drawBefore`); red grew, blue shrank, white unchanged, saturated
    /// by the change relative to the largest one. A tooltip names the frame's width, its own change as a
    /// percent of the drawn total (flamegraph.pl's figure) and both profiles' counts under it.
    public static func render(_ diff: DiffProfile, drawBefore: Bool = false, options: FlameGraphOptions = .init()) -> String {
        let tree = Tree(diff, drawBefore: drawBefore)
        let maxDelta = tree.selfDelta.reduce(Int64(1)) { max($0, Int64(clamping: $1.magnitude)) }
        return draw(tree, options: options) { n, total, out in
            let count = tree.totals[n], d = tree.selfDelta[n]
            out += " (\(count) "
            escape(options.countName, into: &out)
            out += ", \(num(Double(count) / Double(total) * 100, places: 2, trim: false))%; "
            let pct = num(Double(d) / Double(total) * 100, places: 2, trim: false)
            out += d > 0 ? "+\(pct)%" : "\(pct)%"
            out += "; before \(tree.before[n]), after \(tree.after[n]))"
        } fill: { n in diffColor(tree.selfDelta[n], max: maxDelta) }
    }

    /// White for no change; towards full red (grew) or blue (shrank) as |delta| approaches `max`.
    static func diffColor(_ delta: Int64, max: Int64) -> RGB {
        let fade = Int(210 * (Double(max) - Double(delta.magnitude)) / Double(max))
        if delta > 0 { return RGB(r: 255, g: fade, b: fade) }
        if delta < 0 { return RGB(r: fade, g: fade, b: 255) }
        return RGB(r: 255, g: 255, b: 255)
    }
}
