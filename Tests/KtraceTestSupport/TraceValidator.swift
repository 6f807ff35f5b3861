import FoundationEssentials
import Glibc
import KtraceCore

/// Checks exported traces before a viewer silently drops or misplaces what it cannot nest. Its own small
/// JSON reader keeps numbers as text, so µs decimals convert to ns exactly and errors can name a line.
public enum TraceValidator {
    /// TraceProblems found in Chrome Trace Event JSON (empty = valid): well-formed JSON, required fields per ph,
    /// ts monotonic per track for X events sorted as emitted, B/E balanced, X events properly nested per
    /// (pid,tid) (a child starts at/after and ends at/before its parent), dur >= 0, metadata names present
    /// for every track used.
    ///
    /// Stricter than the viewers on purpose: B/E events must also be in ts order per track as emitted
    /// (ktrace emits them sorted), pid/tid must be integers, and times compare in whole ns (µs × 1000,
    /// rounded), which is what Perfetto stores.
    public static func validateChromeTrace(_ data: Data) -> [String] {
        var p = TraceProblems()
        let root: TJSON
        do { root = try TJSONParser.parse(data) } catch { return ["not valid JSON: \(error)"] }

        let events: [TJSON]
        switch root {
        case .array(let a): events = a
        case .object:
            guard case .array(let a)? = root["traceEvents"] else { return [#"top level: an object without a "traceEvents" array"#] }
            events = a
            if let u = root["displayTimeUnit"], u.string != "ms" && u.string != "ns" {
                p.add(#"displayTimeUnit: \#(u.text) is neither "ms" nor "ns""#)
            }
        default:
            return [#"top level: expected an array of events or an object with "traceEvents""#]
        }

        struct Track: Hashable, Comparable {
            var pid: Int64, tid: Int64
            static func < (a: Track, b: Track) -> Bool { (a.pid, a.tid) < (b.pid, b.tid) }
        }
        struct Open { var name: String; var ts: Int64; var end: Int64; var index: Int }
        var lastTs: [Track: (ts: Int64, index: Int)] = [:]
        var xStack: [Track: [Open]] = [:]
        var beStack: [Track: [Open]] = [:]
        var processNamed = Set<Int64>(), threadNamed = Set<Track>()
        var pidsUsed: [Int64: Int] = [:], tracksUsed: [Track: Int] = [:] // first event index using it

        let known: Set<String> = ["B", "E", "X", "I", "i", "C", "M", "b", "n", "e", "s", "t", "f", "P", "O", "N", "D", "R", "c", "S", "T", "F"]
        for (i, ev) in events.enumerated() {
            guard case .object = ev else { p.add("traceEvents[\(i)]: not an object"); continue }
            guard let ph = ev["ph"]?.string else { p.add(#"traceEvents[\#(i)]: missing "ph""#); continue }
            let name = ev["name"]?.string
            // Message prefixes are built only when a problem is found (they cost more than the checks).
            var here: String { "traceEvents[\(i)] (\(ph)" + (name.map { " \"\($0)\"" } ?? "") + ")" }
            guard known.contains(ph) else { p.add("\(here): unknown ph"); continue }

            var ok = true
            func need(_ key: String, _ what: String, _ check: (TJSON) -> Bool) {
                guard let v = ev[key] else { p.add("\(here): missing \"\(key)\""); ok = false; return }
                if !check(v) { p.add("\(here): \"\(key)\" is \(v.text), expected \(what)"); ok = false }
            }
            let isInt = { (v: TJSON) in v.int != nil }
            let isNum = { (v: TJSON) in v.ns != nil }
            let isStr = { (v: TJSON) in v.string != nil }
            let isObj = { (v: TJSON) in if case .object = v { return true } else { return false } }
            let threadScoped = ["X", "B", "E"].contains(ph) || (["I", "i"].contains(ph) && (ev["s"]?.string ?? "t") == "t")

            if ph != "E" { need("name", "a string", isStr) }
            need("pid", "an integer", isInt)
            if ph == "M" {
                need("args", "an object", isObj)
                if let n = name, n.hasPrefix("thread_") { need("tid", "an integer", isInt) }
                guard ok, let pid = ev["pid"]?.int, let args = ev["args"] else { continue }
                switch name {
                case "process_name", "thread_name":
                    guard args["name"]?.string != nil else { p.add(#"\#(here): args has no string "name""#); continue }
                    if name == "process_name" { processNamed.insert(pid) } else { threadNamed.insert(Track(pid: pid, tid: ev["tid"]!.int!)) }
                case "process_sort_index", "thread_sort_index":
                    if args["sort_index"]?.int == nil { p.add(#"\#(here): args has no integer "sort_index""#) }
                default: break
                }
                continue
            }
            need("ts", "a number (µs)", isNum)
            if threadScoped { need("tid", "an integer", isInt) }
            if ph == "X" { need("dur", "a number (µs)", isNum) }
            if ph == "C" { need("args", "an object of numbers", isObj) }
            guard ok, let pid = ev["pid"]?.int, let ts = ev["ts"]?.ns else { continue }
            if pidsUsed[pid] == nil { pidsUsed[pid] = i }
            guard threadScoped, let tid = ev["tid"]?.int else { continue }
            let track = Track(pid: pid, tid: tid)
            if tracksUsed[track] == nil { tracksUsed[track] = i }
            var at: String { "\(here) on pid \(pid) tid \(tid) at ts \(us(ts))" }
            guard ph != "I" && ph != "i" else { continue }

            if let last = lastTs[track], ts < last.ts {
                p.add("\(at): ts goes back from \(us(last.ts)) (traceEvents[\(last.index)]); events of a track must be in ts order")
            }
            lastTs[track] = (max(ts, lastTs[track]?.ts ?? ts), i)

            switch ph {
            case "X":
                let dur = ev["dur"]!.ns!
                if dur < 0 { p.add("\(at): negative dur \(us(dur))"); continue }
                let end = ts + dur
                var stack = xStack[track] ?? []
                while let top = stack.last, top.end <= ts { stack.removeLast() }
                if let parent = stack.last, end > parent.end {
                    p.add("\(at): ends at \(us(end)), after its enclosing \"\(parent.name)\" (traceEvents[\(parent.index)], \(us(parent.ts))–\(us(parent.end))) ends: overlapping, not nested"
                          + (parent.ts == ts ? " (same start: emit the longer one first)" : ""))
                } else {
                    stack.append(Open(name: name ?? "", ts: ts, end: end, index: i))
                }
                xStack[track] = stack
            case "B":
                beStack[track, default: []].append(Open(name: name ?? "", ts: ts, end: ts, index: i))
            case "E":
                guard let b = beStack[track]?.popLast() else { p.add("\(at): E without an open B on this track"); continue }
                if let name, !name.isEmpty, name != b.name {
                    p.add("\(at): E named \"\(name)\" closes B \"\(b.name)\" (traceEvents[\(b.index)])")
                }
            default: break
            }
        }
        for track in beStack.keys.sorted() {
            for b in beStack[track]! {
                p.add("traceEvents[\(b.index)] (B \"\(b.name)\") on pid \(track.pid) tid \(track.tid) at ts \(us(b.ts)): never closed by an E")
            }
        }
        for pid in pidsUsed.keys.sorted() where !processNamed.contains(pid) {
            p.add("pid \(pid) (first used by traceEvents[\(pidsUsed[pid]!)]) has no process_name metadata")
        }
        for track in tracksUsed.keys.sorted() where !threadNamed.contains(track) {
            p.add("pid \(track.pid) tid \(track.tid) (first used by traceEvents[\(tracksUsed[track]!)]) has no thread_name metadata")
        }
        return p.list
    }

    /// TraceProblems found in a speedscope file (empty = valid): `$schema`, frame indices within
    /// `shared.frames`, evented profiles with non-decreasing `at`, balanced and properly nested O/C
    /// (a C closes the frame on top), startValue <= at <= endValue; sampled profiles with one
    /// non-negative weight per sample.
    public static func validateSpeedscope(_ data: Data) -> [String] {
        var p = TraceProblems()
        let root: TJSON
        do { root = try TJSONParser.parse(data) } catch { return ["not valid JSON: \(error)"] }
        guard case .object = root else { return ["top level: not an object"] }
        if root["$schema"]?.string != Speedscope.schema {
            p.add("$schema: \(root["$schema"]?.text ?? "missing"), expected \"\(Speedscope.schema)\"")
        }
        var frameNames: [String] = []
        if case .array(let frames)? = root["shared"]?["frames"] {
            for (i, f) in frames.enumerated() {
                if let n = f["name"]?.string { frameNames.append(n) } else {
                    p.add(#"shared.frames[\#(i)]: no string "name""#)
                    frameNames.append("?")
                }
            }
        } else {
            p.add(#"shared.frames: missing or not an array"#)
        }
        func frameName(_ i: Int) -> String { "\(i) \"\(frameNames[i])\"" }

        guard case .array(let profiles)? = root["profiles"], !profiles.isEmpty else {
            p.add("profiles: missing, not an array, or empty")
            return p.list
        }
        if let a = root["activeProfileIndex"], a.int.map({ $0 < 0 || $0 >= profiles.count }) ?? true {
            p.add("activeProfileIndex: \(a.text) is not an index into profiles")
        }
        let units: Set<String> = ["none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"]
        for (pi, prof) in profiles.enumerated() {
            let here = "profiles[\(pi)]" + (prof["name"]?.string.map { " \"\($0)\"" } ?? "")
            if prof["name"]?.string == nil { p.add(#"\#(here): no string "name""#) }
            if !units.contains(prof["unit"]?.string ?? "") { p.add("\(here): unit \(prof["unit"]?.text ?? "missing") is not a speedscope unit") }
            guard let startValue = prof["startValue"]?.double, let endValue = prof["endValue"]?.double else {
                p.add("\(here): startValue and endValue must be numbers")
                continue
            }
            if startValue > endValue { p.add("\(here): startValue \(startValue) > endValue \(endValue)") }
            switch prof["type"]?.string {
            case "evented":
                guard case .array(let events)? = prof["events"] else { p.add(#"\#(here): no "events" array"#); continue }
                var open: [(frame: Int, index: Int)] = []
                var lastAt = -Double.infinity
                for (ei, ev) in events.enumerated() {
                    var at: String { "\(here) events[\(ei)]" }
                    guard let type = ev["type"]?.string, type == "O" || type == "C" else { p.add(#"\#(at): type is not "O" or "C""#); continue }
                    guard let t = ev["at"]?.double else { p.add(#"\#(at): "at" is not a number"#); continue }
                    guard let f = ev["frame"]?.int.map({ Int($0) }), f >= 0, f < frameNames.count else {
                        p.add("\(at): frame \(ev["frame"]?.text ?? "missing") is not an index into shared.frames (\(frameNames.count) frames)")
                        continue
                    }
                    if t < lastAt { p.add("\(at): at \(t) goes back from \(lastAt); events must be in time order") }
                    lastAt = max(lastAt, t)
                    if t < startValue || t > endValue { p.add("\(at): at \(t) outside [startValue \(startValue), endValue \(endValue)]") }
                    if type == "O" {
                        open.append((f, ei))
                    } else if let top = open.last {
                        if top.frame == f {
                            open.removeLast()
                        } else {
                            p.add("\(at): closes frame \(frameName(f)) but frame \(frameName(top.frame)) (opened by events[\(top.index)]) is on top: not nested")
                            if let k = open.lastIndex(where: { $0.frame == f }) { open.removeSubrange(k...) }
                        }
                    } else {
                        p.add("\(at): closes frame \(frameName(f)) with nothing open")
                    }
                }
                for o in open { p.add("\(here) events[\(o.index)]: frame \(frameName(o.frame)) opened and never closed") }
            case "sampled":
                guard case .array(let samples)? = prof["samples"], case .array(let weights)? = prof["weights"] else {
                    p.add(#"\#(here): sampled profile needs "samples" and "weights" arrays"#)
                    continue
                }
                if samples.count != weights.count { p.add("\(here): \(samples.count) samples but \(weights.count) weights") }
                for (si, s) in samples.enumerated() {
                    guard case .array(let stack) = s else { p.add("\(here) samples[\(si)]: not an array"); continue }
                    for f in stack where f.int.map({ $0 < 0 || $0 >= frameNames.count }) ?? true {
                        p.add("\(here) samples[\(si)]: frame \(f.text) is not an index into shared.frames")
                    }
                }
                for (wi, w) in weights.enumerated() where (w.double ?? -1) < 0 {
                    p.add("\(here) weights[\(wi)]: \(w.text) is not a non-negative number")
                }
            default:
                p.add(#"\#(here): type \#(prof["type"]?.text ?? "missing") is neither "evented" nor "sampled""#)
            }
        }
        return p.list
    }

    static func us(_ ns: Int64) -> String {
        let a = ns.magnitude
        let s = String(a / 1000) + "." + String(String(a % 1000 + 1000).dropFirst()) + "µs"
        return ns < 0 ? "-" + s : s
    }
}

/// Collects problems, keeping the report readable on a badly broken file.
struct TraceProblems {
    static let limit = 50
    private(set) var all: [String] = []
    mutating func add(_ s: String) { all.append(s) }
    var list: [String] {
        all.count <= TraceProblems.limit ? all : Array(all.prefix(TraceProblems.limit)) + ["… and \(all.count - TraceProblems.limit) more problems"]
    }
}

// MARK: - JSON reader

/// Parsed JSON with numbers kept as their text.
indirect enum TJSON {
    case object([(String, TJSON)])
    case array([TJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    subscript(key: String) -> TJSON? {
        guard case .object(let kv) = self else { return nil }
        return kv.first { $0.0 == key }?.1
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }

    var double: Double? { if case .number(let n) = self { return Double(n) } else { return nil } }

    /// Integral numbers only ("3", not "3.5"; "3.0" is accepted).
    var int: Int64? {
        guard case .number(let n) = self else { return nil }
        if let v = Int64(n) { return v }
        guard let d = Double(n), d == d.rounded(), abs(d) < 9e18 else { return nil }
        return Int64(d)
    }

    /// A µs number as whole ns, exact for plain decimals (rounded at the 4th decimal), via Double otherwise.
    var ns: Int64? {
        guard case .number(let n) = self else { return nil }
        var u = Substring(n).utf8[...]
        let negative = u.first == UInt8(ascii: "-")
        if negative { u = u.dropFirst() }
        var ip: Int64 = 0, f: Int64 = 0, intDigits = 0, fracDigits = 0, plain = true, inFrac = false
        for c in u {
            if c == UInt8(ascii: ".") { inFrac = true; continue }
            guard c >= 0x30, c <= 0x39, intDigits <= 15 else { plain = false; break }
            let d = Int64(c - 0x30)
            if !inFrac {
                ip = ip * 10 + d
                intDigits += 1
            } else {
                if fracDigits < 3 { f = f * 10 + d } else if fracDigits == 3, d >= 5 { f += 1 }
                fracDigits += 1
            }
        }
        if plain {
            while fracDigits < 3 { f *= 10; fracDigits += 1 }
            let v = ip * 1000 + f
            return negative ? -v : v
        }
        guard let d = Double(n), abs(d) < 9e15 else { return nil }
        return Int64((d * 1000).rounded())
    }

    /// Short JSON-ish rendering for messages.
    var text: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string(let s): return "\"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }
}

struct TJSONParser {
    struct Failure: Error, CustomStringConvertible {
        var message: String
        var line: Int, column: Int
        var description: String { "line \(line) column \(column): \(message)" }
    }

    let b: [UInt8]
    var i = 0
    var depth = 0

    init(_ data: Data) { b = [UInt8](data) }

    static func parse(_ data: Data) throws -> TJSON {
        var p = TJSONParser(data)
        return try p.parse()
    }

    mutating func parse() throws -> TJSON {
        let v = try value()
        skipSpace()
        if i < b.count { throw fail("trailing characters after the JSON value") }
        return v
    }

    func fail(_ m: String) -> Failure {
        var line = 1, col = 1
        for c in b[..<min(i, b.count)] { if c == 0x0A { line += 1; col = 1 } else { col += 1 } }
        return Failure(message: m, line: line, column: col)
    }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    mutating func value() throws -> TJSON {
        skipSpace()
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            depth += 1
            defer { depth -= 1 }
            if depth > 512 { throw fail("nested too deeply") }
            i += 1
            var kv: [(String, TJSON)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(k)\"") }
                i += 1
                kv.append((k, try value()))
                skipSpace()
                guard i < b.count else { throw fail("unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
                throw fail("expected ',' or '}' in object")
            }
        case UInt8(ascii: "["):
            depth += 1
            defer { depth -= 1 }
            if depth > 512 { throw fail("nested too deeply") }
            i += 1
            var a: [TJSON] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                a.append(try value())
                skipSpace()
                guard i < b.count else { throw fail("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw fail("expected ',' or ']' in array")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try number()
        }
    }

    mutating func literal(_ word: String, _ v: TJSON) throws -> TJSON {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { throw fail("invalid literal") }
        i += w.count
        return v
    }

    mutating func number() throws -> TJSON {
        let start = i
        func digits() -> Int {
            let s = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i - s
        }
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let n = digits()
        guard n > 0 else { throw fail("unexpected character '\(Character(UnicodeScalar(b[start])))'") }
        if n > 1, b[intStart] == UInt8(ascii: "0") { throw fail("number with a leading zero") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw fail("number without digits after '.'") }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("number without exponent digits") }
        }
        return .number(String(decoding: b[start..<i], as: UTF8.self))
    }

    mutating func string() throws -> String {
        i += 1 // opening quote
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < b.count else { throw fail("unterminated string") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var u = try hex4()
                    if (0xD800..<0xDC00).contains(u), i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let lo = try hex4()
                        u = 0x10000 + ((u - 0xD800) << 10) + (lo &- 0xDC00)
                    }
                    out.append(contentsOf: Array(String(UnicodeScalar(u).map(Character.init) ?? "\u{FFFD}").utf8))
                default: throw fail("invalid escape '\\\(Character(UnicodeScalar(e)))'")
                }
            case 0..<0x20:
                throw fail("control character in string")
            default:
                out.append(c)
            }
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        i += 4
        return v
    }
}
