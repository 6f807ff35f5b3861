import ArgumentParser
import KtraceCore

extension OutputRegistry {
    /// The usage error of a --format this output is not written in.
    func validate(format: String?) throws {
        if let format, self.format(named: format) == nil { throw ValidationError("--format \(format): give \(formatList)") }
    }

    /// One output's format: --format (validated), else the -o path's, else the default.
    func format(_ given: String?, path: String?) -> OutputFormat { resolve(given, path: path) ?? fallback }

    /// The file's bytes, or one line saying why there are none.
    func bytes(_ model: Model, as format: OutputFormat) -> [UInt8] {
        do { return try write(model, as: format) } catch { fail("\(error)") }
    }
}
