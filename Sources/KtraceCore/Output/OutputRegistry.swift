/// One format's writer for one kind of output: bytes of a file from the model the command built.
public struct OutputWriter<Model> {
    public let format: OutputFormat
    let write: (Model) throws -> [UInt8]

    public init(_ format: OutputFormat, write: @escaping (Model) throws -> [UInt8]) {
        self.format = format
        self.write = write
    }
}

/// The formats one kind of output (stacks, a timeline) is written in, and the one written when neither
/// --format nor the -o path names one. A command takes its format from here once, then writes by it.
public struct OutputRegistry<Model> {
    public let writers: [OutputWriter<Model>]
    public let fallback: OutputFormat

    public init(_ writers: [OutputWriter<Model>], fallback: OutputFormat) {
        self.writers = writers
        self.fallback = fallback
    }

    public var formats: [OutputFormat] { writers.map(\.format) }

    /// "folded, svg, json or pprof", for help and errors.
    public var formatList: String {
        let names = formats.map(\.name)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    public func format(named name: String) -> OutputFormat? { formats.first { $0.name == name } }

    /// `given` (--format) if set, else the format whose suffix ends `path`, the longest winning
    /// (.speedscope.json before .json), else the fallback. nil: `given` is not one of these formats.
    public func resolve(_ given: String?, path: String?) -> OutputFormat? {
        if let given { return format(named: given) }
        guard let path else { return fallback }
        let matches = formats.flatMap { f in f.suffixes.filter { path.hasSuffix($0) }.map { (f, $0.utf8.count) } }
        return matches.max { $0.1 < $1.1 }?.0 ?? fallback
    }

    public func write(_ model: Model, as format: OutputFormat) throws -> [UInt8] {
        guard let w = writers.first(where: { $0.format == format }) else { throw OutputError("no \(format) output for this command") }
        return try w.write(model)
    }
}
