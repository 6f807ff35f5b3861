/// A format ktrace writes: the name --format takes, and the -o suffixes that choose it. Each format is
/// declared in its own file under Formats/, with its writers.
public struct OutputFormat: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    /// The first names the files written for it (continuous profiles).
    public let suffixes: [String]

    public init(name: String, suffixes: [String]) {
        self.name = name
        self.suffixes = suffixes
    }

    public var description: String { name }

    /// "pb.gz": what a file written in this format is named with.
    public var fileExtension: String { suffixes.first.map { String($0.dropFirst()) } ?? name }
}

/// A writer could not produce its format (an encoder failed): one line to show as is.
public struct OutputError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
