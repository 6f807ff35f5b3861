import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore

struct FlamegraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flamegraph",
        abstract: "Render folded stacks (ktrace, perf + stackcollapse, bpftrace) as an interactive SVG flame graph.",
        discussion: """
        Examples:
          perf script | stackcollapse-perf.pl | ktrace flamegraph > perf.svg   perf's samples, drawn
          ktrace flamegraph all.folded --inverted -o icicle.svg                 roots at the top
        """
    )

    @Argument(help: "Folded stacks file (default: stdin).") var input: String?
    @Option(name: [.short, .long], help: "SVG file (default: stdout).") var output: String?
    @Option(help: "Title.") var title = "Flame Graph"
    @Option(help: "Subtitle.") var subtitle: String?
    @Option(help: "Image width in pixels.") var width = 1200
    @Flag(help: "Icicle graph: roots at the top.") var inverted = false

    func validate() throws {
        if width < 200 { throw ValidationError("--width must be at least 200") }
    }

    func run() throws {
        checkWritable(output)
        let profile = readFolded(input)
        var o = FlameGraphOptions()
        o.title = title
        o.subtitle = subtitle
        o.width = width
        o.inverted = inverted
        writeOutput(FlameGraphSVG.render(profile, options: o), to: output)
    }
}

/// A folded file (`nil`: standard input) parsed, or one line naming the file, the line and what is wrong.
func readFolded(_ path: String?) -> FoldedProfile {
    let data: [UInt8]
    if let path {
        guard let d = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
        data = Array(d)
    } else {
        guard let d = readAll(0) else { fail("cannot read standard input: \(String(cString: strerror(errno)))") }
        data = d
    }
    do { return try FoldedProfile.parse(String(decoding: data, as: UTF8.self)) } catch { fail("\(path ?? "stdin"): \(error)") }
}
