/// The Prometheus text exposition format (version 0.0.4): families with HELP and TYPE, then their
/// samples. Label values are escaped as the format says; counters end in `_total`, histograms expose
/// cumulative `_bucket{le=...}` with `+Inf`, `_sum` and `_count`.
public struct PrometheusText {
    public enum Kind: String { case counter, gauge, histogram }

    public private(set) var text = ""
    public init() {}

    /// Starts a family: `# HELP` and `# TYPE` lines.
    public mutating func family(_ name: String, _ kind: Kind, help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += name + Self.labelText(labels) + " " + Self.number(value) + "\n"
    }

    /// A histogram's samples from cumulative bucket counts: `buckets` pairs each upper bound (seconds)
    /// with how many observations were at most that, in increasing order.
    public mutating func histogram(_ name: String, _ labels: [(String, String)], buckets: [(le: Double, count: UInt64)],
                                   count: UInt64, sum: Double) {
        for b in buckets { sample(name + "_bucket", labels + [("le", Self.number(b.le))], Double(b.count)) }
        sample(name + "_bucket", labels + [("le", "+Inf")], Double(count))
        sample(name + "_sum", labels, sum)
        sample(name + "_count", labels, Double(count))
    }

    static func labelText(_ labels: [(String, String)]) -> String {
        labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(escapeValue($0.1))\"" }.joined(separator: ",") + "}"
    }

    static func escapeValue(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func escapeHelp(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Integers without a fraction (counts stay exact up to 2^53); others in shortest round-trip form.
    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 9.007_199_254_740_992e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
