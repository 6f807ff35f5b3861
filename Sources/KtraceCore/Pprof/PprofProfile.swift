import CSupport
import FoundationEssentials
import Glibc
import SwiftProtobuf

/// pprof's profile.proto (gzip-compressed), the form Pyroscope, Parca, Grafana and `go tool pprof` read,
/// built from the counted stacks through the one interned form.
///
/// The task is a label, not a frame (`comm`, `pid`, `tid`, `softirq`, `work`, `state`), as profilers
/// that ingest pprof expect: stacks are the functions only, leaf first. Kernel frames sit under the
/// `[kernel.kallsyms]` mapping, user frames under the file they were found in with its build id, both
/// already symbolized (`has_functions`); frames that are not functions (`[missing user stack]`, a
/// waker's `--`) have no mapping.
public enum Pprof {
    /// What a sample's count means.
    public enum Kind: Sendable, Equatable {
        /// On-CPU samples of a timed event: `samples/count` and `cpu/nanoseconds` (count × period).
        case onCPU(periodNs: UInt64)
        /// Counted events (`page-faults`, a tracepoint): `samples/count` and `EVENT/count` (count × every).
        case events(name: String, every: UInt64)
        /// Off-CPU time: counts are nanoseconds blocked, `off-cpu/nanoseconds`.
        case offCPU
    }

    /// The profile's own fields: its sample types, time span and comments.
    public struct Header: Sendable {
        public var kind: Kind
        /// Start of the profile (ns since the Unix epoch) and its length.
        public var startUnixNs: Int64
        public var durationNs: Int64
        public var perThread: Bool
        /// Free text kept in the profile's comments (target, losses).
        public var comments: [String]

        public init(kind: Kind, startUnixNs: Int64, durationNs: Int64, perThread: Bool, comments: [String] = []) {
            self.kind = kind; self.startUnixNs = startUnixNs; self.durationNs = durationNs
            self.perThread = perThread; self.comments = comments
        }
    }

    /// The profile message (not compressed).
    public static func profile(_ counts: [StackCount], _ s: StackSymbolizer, run: Header, wakers: Bool = false) -> Perftools_Profiles_Profile {
        // The interned stacks are one per count, in order; their first frame is the task, which
        // becomes a label.
        let stacks = StackProfile.interned(counts, s, labels: wakers ? .wakers : []).stacks
        var b = Builder(table: s.table, userFiles: s.userFrameFiles, unnamed: s.unnamedFrames)
        var p = Perftools_Profiles_Profile()
        let types: [(String, String)]
        switch run.kind {
        case .onCPU(let ns):
            types = [("samples", "count"), ("cpu", "nanoseconds")]
            p.periodType = b.valueType("cpu", "nanoseconds")
            p.period = Int64(ns)
        case .events(let name, let every):
            types = [("samples", "count"), (name, "count")]
            p.periodType = b.valueType(name, "count")
            p.period = Int64(max(every, 1))
        case .offCPU:
            types = [("off-cpu", "nanoseconds")]
            p.periodType = b.valueType("off-cpu", "nanoseconds")
            p.period = 1
        }
        p.sampleType = types.map { b.valueType($0.0, $0.1) }
        p.sample = zip(counts, stacks).map { c, stack in
            var sample = Perftools_Profiles_Sample()
            sample.locationID = stack.frames.dropFirst().reversed().map { b.location($0) }
            sample.value = values(c.count, run.kind)
            sample.label = b.labels(c, perThread: run.perThread, s)
            return sample
        }
        p.timeNanos = run.startUnixNs
        p.durationNanos = run.durationNs
        // Frames without a name: why, per mapping, as the stderr summary says it.
        p.comment = (run.comments + [UnnamedSummary(counts, s).line].compactMap { $0 }).map { b.string($0) }
        p.mapping = mainFirst(b.mappings, kernel: b.kernelMapping, mainPaths: s.mainPaths, strings: b.strings)
        p.location = b.locations
        p.function = b.functions
        p.stringTable = b.strings
        return p
    }

    /// pprof takes mapping 0 for the main binary (`-top`'s `File:`): the targets' executables first, then
    /// the other files, then what is not a file (`[vdso]`), the kernel last; each group in the order met.
    static func mainFirst(_ mappings: [Perftools_Profiles_Mapping], kernel: UInt64, mainPaths: Set<String>,
                          strings: [String]) -> [Perftools_Profiles_Mapping] {
        func rank(_ m: Perftools_Profiles_Mapping) -> Int {
            let path = strings[Int(m.filename)]
            if m.id == kernel { return 3 }
            if mainPaths.contains(path) { return 0 }
            return path.hasPrefix("/") ? 1 : 2
        }
        return mappings.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }

    /// The file's bytes: the profile serialized and gzip-compressed.
    public static func file(_ profile: Perftools_Profiles_Profile) throws -> [UInt8] {
        let raw: [UInt8] = try profile.serializedBytes()
        return try gzip(raw)
    }

    public struct CompressionError: Error, CustomStringConvertible {
        public var description: String { "gzip failed (zlib)" }
    }

    static func gzip(_ raw: [UInt8]) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var n = 0
        guard raw.withUnsafeBytes({ kt_gzip($0.baseAddress, $0.count, &out, &n) }) == 0, let out else { throw CompressionError() }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: n))
    }

    static func values(_ count: UInt64, _ kind: Kind) -> [Int64] {
        let n = Int64(clamping: count)
        switch kind {
        case .onCPU(let ns): return [n, n.multipliedReportingOverflow(by: Int64(ns)).partialValue]
        case .events(_, let every): return [n, n * Int64(max(every, 1))]
        case .offCPU: return [n]
        }
    }

    /// Interns strings, mappings, functions and locations, each once, with ids from 1 (0 means none).
    struct Builder {
        let table: FrameTable
        let userFiles: [Int32: MappedFile]
        let unnamed: [Int32: UnnamedFrame]
        var strings: [String] = [""]
        var stringIDs: [String: Int64] = ["": 0]
        var mappings: [Perftools_Profiles_Mapping] = []
        var mappingIDs: [MappedFile: UInt64] = [:]
        var kernelMapping: UInt64 = 0
        var functions: [Perftools_Profiles_Function] = []
        var locations: [Perftools_Profiles_Location] = []
        var locationIDs: [Int32: UInt64] = [:]  // by frame id

        init(table: FrameTable, userFiles: [Int32: MappedFile], unnamed: [Int32: UnnamedFrame] = [:]) {
            self.table = table
            self.userFiles = userFiles
            self.unnamed = unnamed
        }

        mutating func string(_ s: String) -> Int64 {
            if let id = stringIDs[s] { return id }
            let id = Int64(strings.count)
            strings.append(s)
            stringIDs[s] = id
            return id
        }

        mutating func valueType(_ type: String, _ unit: String) -> Perftools_Profiles_ValueType {
            var v = Perftools_Profiles_ValueType()
            v.type = string(type)
            v.unit = string(unit)
            return v
        }

        mutating func mapping(_ file: MappedFile) -> UInt64 {
            if let id = mappingIDs[file] { return id }
            var m = Perftools_Profiles_Mapping()
            m.id = UInt64(mappings.count + 1)
            m.filename = string(file.path)
            m.buildID = string(file.buildID ?? "")
            m.hasFunctions_p = true
            mappings.append(m)
            mappingIDs[file] = m.id
            return m.id
        }

        /// One location per frame: ktrace names functions, not addresses, so there is one line each.
        mutating func location(_ frame: Int32) -> UInt64 {
            if let id = locationIDs[frame] { return id }
            var f = Perftools_Profiles_Function()
            f.id = UInt64(functions.count + 1)
            f.name = string(table[frame])
            f.systemName = f.name
            var l = Perftools_Profiles_Location()
            l.id = UInt64(locations.count + 1)
            switch table.kind(frame) {
            case .kernel:
                if kernelMapping == 0 { kernelMapping = mapping(MappedFile(path: "[kernel.kallsyms]", buildID: nil)) }
                l.mappingID = kernelMapping
            case .user:
                if let file = userFiles[frame] { l.mappingID = mapping(file) }
            case .pseudo where unnamed[frame] != nil:
                // An unnamed frame: its file's mapping says not every location is symbolized, and the
                // location keeps the ELF address, so pprof can name it given the debug file.
                if let file = userFiles[frame] {
                    l.mappingID = mapping(file)
                    mappings[Int(l.mappingID) - 1].hasFunctions_p = false
                }
                if let a = unnamed[frame]?.fileAddress { l.address = a }
            case .pseudo, .jit, .inlined, .waker:
                break
            }
            var line = Perftools_Profiles_Line()
            line.functionID = f.id
            l.line = [line]
            functions.append(f)
            locations.append(l)
            locationIDs[frame] = l.id
            return l.id
        }

        mutating func labels(_ c: StackCount, perThread: Bool, _ s: StackSymbolizer) -> [Perftools_Profiles_Label] {
            var out = [text("comm", StackComposer.commFrame(c.comm)), number("pid", Int64(c.pid))]
            if perThread { out.append(number("tid", Int64(c.tid))) }
            if let v = c.softirq { out.append(text("softirq", v.name)) }
            if c.work != 0 { out.append(text("work", s.kernelFunctionName(c.work))) }
            if let st = c.offCPU { out.append(text("state", st.letter)) }
            return out
        }

        mutating func text(_ key: String, _ value: String) -> Perftools_Profiles_Label {
            var l = Perftools_Profiles_Label()
            l.key = string(key)
            l.str = string(value)
            return l
        }

        mutating func number(_ key: String, _ value: Int64) -> Perftools_Profiles_Label {
            var l = Perftools_Profiles_Label()
            l.key = string(key)
            l.num = value
            return l
        }
    }
}
