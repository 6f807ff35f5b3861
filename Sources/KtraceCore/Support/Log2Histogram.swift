/// Text rendering of log2 histograms in the style of bcc / libbpf-tools (print_log2_hist).
public enum Log2Histogram {
    /// buckets[i] counts values in [2^i, 2^(i+1)) (bucket 0 also holds 0 and 1).
    public static func render(_ buckets: [UInt64], unit: String = "nsecs", width: Int = 40) -> String {
        guard let last = buckets.lastIndex(where: { $0 > 0 }) else { return "" }
        let first = buckets.firstIndex(where: { $0 > 0 }) ?? 0
        let maxCount = buckets.max() ?? 1
        var lines = [pad(unit, 20, left: true) + " : count    distribution"]
        for i in first...last {
            let low: UInt64 = i == 0 ? 0 : (1 << UInt64(i))
            let high: UInt64 = i >= 63 ? UInt64.max : (1 << UInt64(i + 1)) - 1
            let stars = maxCount == 0 ? 0 : Int((Double(buckets[i]) / Double(maxCount) * Double(width)).rounded(.down))
            let bar = String(repeating: "*", count: stars) + String(repeating: " ", count: width - stars)
            lines.append(pad(String(low), 10, left: true) + " -> " + pad(String(high), 10) + ": "
                         + pad(String(buckets[i]), 8) + " |" + bar + "|")
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
        s.count >= n ? s : (left ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
    }
}
