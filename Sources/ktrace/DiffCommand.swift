import ArgumentParser
import KtraceCore

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two folded profiles (ktrace's, perf's): a differential flame graph, red grew, blue shrank.",
        discussion: """
        Draws AFTER with each frame coloured by the change of its own samples; the tooltip gives both \
        counts and the change in percent. Stacks only in BEFORE cannot be drawn in AFTER's shape: their \
        count is printed, and --negate draws BEFORE's shape instead.

        Examples:
          ktrace stacks -a -d 10 > before.folded       before a change
          ktrace stacks -a -d 10 > after.folded        after it
          ktrace diff before.folded after.folded -o diff.svg   red grew, blue shrank
          ktrace diff before.folded after.folded --normalize --format folded   difffolded.pl's output
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case svg, folded }

    @Argument(help: "Folded stacks before the change.") var before: String
    @Argument(help: "Folded stacks after the change.") var after: String
    @Option(name: [.short, .long], help: "Output file (default: stdout).") var output: String?
    @Option(help: "svg, or folded: difffolded.pl's \"stack BEFORE AFTER\" lines, which flamegraph.pl draws.")
    var format: Format = .svg
    @Flag(help: "Scale BEFORE to AFTER's total (runs of different length or rate).") var normalize = false
    @Flag(help: "Draw BEFORE's shape (what went away is visible); colours still say AFTER against BEFORE.") var negate = false
    @Option(help: "Title.") var title = "Differential Flame Graph"
    @Option(help: "Image width in pixels.") var width = 1200

    func validate() throws {
        if width < 200 { throw ValidationError("--width must be at least 200") }
        if before == "-" && after == "-" { throw ValidationError("BEFORE and AFTER cannot both be standard input") }
    }

    func run() throws {
        checkWritable(output)
        let raw = DiffProfile(before: InternedProfile(readFolded(before == "-" ? nil : before)),
                              after: InternedProfile(readFolded(after == "-" ? nil : after)))
        let diff = normalize ? raw.normalized() : raw
        note(summary(raw: raw, diff: diff))
        switch format {
        case .folded:
            writeOutput(diff.renderFolded(), to: output)
        case .svg:
            var o = FlameGraphOptions()
            o.title = title
            o.subtitle = "\(negate ? "shape of BEFORE" : "shape of AFTER") (\(after) against \(before)): red grew, blue shrank"
                + (normalize ? "; BEFORE normalized" : "")
            o.width = width
            writeOutput(FlameGraphSVG.render(diff, drawBefore: negate, options: o), to: output)
        }
    }

    /// One line: the totals, how many stacks changed which way, and what the drawn shape leaves out.
    func summary(raw: DiffProfile, diff: DiffProfile) -> String {
        let (grew, shrank) = diff.changed
        var s = "diff: before \(raw.totalBefore) samples"
        if normalize && diff.totalBefore != raw.totalBefore { s += " (\(diff.totalBefore) normalized)" }
        s += ", after \(raw.totalAfter); \(diff.stacks.count) stacks: \(grew) grew, \(shrank) shrank"
        let gone = diff.onlyInBefore, new = diff.onlyInAfter
        s += "; \(gone.stacks) only in BEFORE (\(gone.samples) samples)"
        if gone.stacks > 0 { s += negate ? "" : ", not in AFTER's shape: --negate draws them" }
        s += "; \(new.stacks) only in AFTER (\(new.samples) samples)"
        if new.stacks > 0 && negate { s += ", not in BEFORE's shape" }
        return s
    }
}
