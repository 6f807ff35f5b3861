import Foundation

/// `go tool pprof -raw`'s listing, parsed: the oracle that ktrace's pprof files are read as intended by
/// the real pprof, not by ktrace's own decoder.
public struct PprofRaw: Sendable {
    public struct Sample: Sendable {
        public var values: [Int64]
        public var locations: [Int]          // leaf first
        public var labels: [String: String]
    }

    public var sampleTypes: [String] = []    // "samples/count", "cpu/nanoseconds"
    public var samples: [Sample] = []
    public var functions: [Int: String] = [:]  // location id -> function name
    public var mappings: [String] = []        // each mapping line's file and build id
    public var timeNanos: Int64?               // "Time: 2026-12-07 21:48:27.123456789 +0000 UTC"

    public static func parse(_ text: String) -> PprofRaw {
        var r = PprofRaw(), section = ""
        for raw in text.split(separator: "\n") {
            let line = String(raw)
            let t = line.trimmingCharacters(in: .whitespaces)
            if ["Samples:", "Locations", "Mappings"].contains(t) { section = t; continue }
            if section.isEmpty, t.hasPrefix("Time: ") { r.timeNanos = goTime(t.dropFirst(6)); continue }
            switch section {
            case "Samples:":
                if r.sampleTypes.isEmpty { r.sampleTypes = t.split(separator: " ").map(String.init); continue }
                if t.hasSuffix("]"), !r.samples.isEmpty {
                    // "comm:[offcpu] state:[S]": string labels share a line, numbers get one each.
                    var rest = Substring(t)
                    while let open = rest.range(of: ":["), let close = rest[open.upperBound...].firstIndex(of: "]") {
                        let key = rest[..<open.lowerBound].trimmingCharacters(in: .whitespaces)
                        r.samples[r.samples.count - 1].labels[key] = String(rest[open.upperBound..<close])
                        rest = rest[rest.index(after: close)...]
                    }
                } else if let colon = t.firstIndex(of: ":") {
                    let values = t[..<colon].split(separator: " ").compactMap { Int64($0) }
                    let locations = t[t.index(after: colon)...].split(separator: " ").compactMap { Int($0) }
                    r.samples.append(Sample(values: values, locations: locations, labels: [:]))
                }
            case "Locations":
                // "     3: 0x0 M=2 __libc_start_call_main :0 s=0": the name lies between M=N and "FILE:LINE s=N".
                // pprof shortens names with parentheses ("[unknown] ([vdso])", C++ arguments) and then
                // prints the whole system name after it: "[unknown] :0 s=0([unknown] ([vdso]))".
                guard let colon = t.firstIndex(of: ":"), let id = Int(t[..<colon]) else { continue }
                if let s = t.range(of: " s=", options: .backwards), let open = t[s.upperBound...].firstIndex(of: "("), t.hasSuffix(")") {
                    r.functions[id] = String(t[t.index(after: open)..<t.index(before: t.endIndex)])
                    continue
                }
                var words = t[t.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard words.count >= 4, words[1].hasPrefix("M=") else { continue }
                words.removeFirst(2)
                if words.last?.hasPrefix("s=") == true { words.removeLast() }
                if words.last?.contains(":") == true { words.removeLast() }
                r.functions[id] = words.joined(separator: " ")
            case "Mappings":
                r.mappings.append(t)
            default: break
            }
        }
        return r
    }

    /// Go's time.Time.String(), "2006-01-02 15:04:05.999999999 -0700 MST", as ns since the Unix epoch
    /// (trailing zeros of the fraction, and then its dot, are left out).
    public static func goTime(_ s: Substring) -> Int64? {
        let f = s.split(separator: " ")
        guard f.count >= 3 else { return nil }
        let date = f[0].split(separator: "-").compactMap { Int32($0) }, clock = f[1].split(separator: ".")
        let hms = (clock.first ?? "").split(separator: ":").compactMap { Int32($0) }
        guard date.count == 3, hms.count == 3, f[2].count == 5, let zone = Int64(f[2].dropFirst()) else { return nil }
        var parts = tm()
        parts.tm_year = date[0] - 1900; parts.tm_mon = date[1] - 1; parts.tm_mday = date[2]
        parts.tm_hour = hms[0]; parts.tm_min = hms[1]; parts.tm_sec = hms[2]
        var fraction: Int64 = 0
        if clock.count > 1 {
            guard clock[1].count <= 9, let ns = Int64(clock[1] + String(repeating: "0", count: 9 - clock[1].count)) else { return nil }
            fraction = ns
        }
        let offset = (zone / 100 * 3600 + zone % 100 * 60) * (f[2].hasPrefix("-") ? -1 : 1)
        return (Int64(timegm(&parts)) - offset) * 1_000_000_000 + fraction
    }

    /// Folded stacks ("comm;root;...;leaf" -> value), the task taken from the `comm` label, summing the
    /// value at `index` of each sample.
    public func folded(valueIndex index: Int = 0) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for s in samples {
            let frames = [s.labels["comm"] ?? "?"] + s.locations.reversed().map { functions[$0] ?? "?" }
            out[frames.joined(separator: ";"), default: 0] += s.values[index]
        }
        return out
    }
}
