/// The frames of a flame graph SVG, ktrace's or flamegraph.pl's: name, tooltip figures, width and fill.
/// Both write each frame as `<title>NAME (N samples, P%[; ±D%][; before B, after A])</title><rect x=..
/// y=.. width=.. ... fill="rgb(r,g,b)"` (flamegraph.pl with thousands separators), which is what a
/// differential comparison needs.
public struct FlameGraphFrame: Sendable, Equatable {
    public let name: String
    public let samples: UInt64
    /// The frame's own change as a percent of the drawn total (differential graphs only).
    public let deltaPercent: Double?
    public let before: UInt64?, after: UInt64?
    public let y: Int
    public let fill: (r: Int, g: Int, b: Int)

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.samples == b.samples && a.deltaPercent == b.deltaPercent && a.before == b.before
            && a.after == b.after && a.y == b.y && a.fill == b.fill
    }

    public static func parse(_ svg: String) -> [FlameGraphFrame] {
        let frame = /<title>([^<]*) \(([\d,]+) \w+, [\d.]+%(?:; ([+-]?[\d.]+)%)?(?:; before (\d+), after (\d+))?\)<\/title>\s*<rect x="[\d.]+" y="(\d+)" width="[\d.]+"[^>]*? fill="rgb\((\d+),(\d+),(\d+)\)"/
        return svg.matches(of: frame).map { m in
            FlameGraphFrame(name: unescape(String(m.1)), samples: UInt64(m.2.filter { $0 != "," })!, deltaPercent: m.3.flatMap { Double($0) },
                            before: m.4.flatMap { UInt64($0) }, after: m.5.flatMap { UInt64($0) }, y: Int(m.6)!,
                            fill: (Int(m.7)!, Int(m.8)!, Int(m.9)!))
        }
    }

    static func unescape(_ s: String) -> String {
        s.replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"")
            .replacing("&apos;", with: "'").replacing("&amp;", with: "&")
    }
}
