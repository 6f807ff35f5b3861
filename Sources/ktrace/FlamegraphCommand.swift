import ArgumentParser
import Foundation
import KtraceCore

struct FlamegraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flamegraph",
        abstract: "Render folded stacks (ktrace, perf + stackcollapse, bpftrace) as an interactive SVG flame graph.",
        discussion: "Example: perf script | stackcollapse-perf.pl | ktrace flamegraph > perf.svg"
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
        let data: Data
        if let input {
            guard let d = FileManager.default.contents(atPath: input) else { fail("cannot read \(input)") }
            data = d
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let profile: FoldedProfile
        do { profile = try FoldedProfile.parse(String(decoding: data, as: UTF8.self)) } catch { fail("\(input ?? "stdin"): \(error)") }
        var o = FlameGraphOptions()
        o.title = title
        o.subtitle = subtitle
        o.width = width
        o.inverted = inverted
        writeOutput(FlameGraphSVG.render(profile, options: o), to: output)
    }
}
