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

    public static func parse(_ text: String) -> PprofRaw {
        var r = PprofRaw(), section = ""
        for raw in text.split(separator: "\n") {
            let line = String(raw)
            let t = line.trimmingCharacters(in: .whitespaces)
            if ["Samples:", "Locations", "Mappings"].contains(t) { section = t; continue }
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
