import Foundation
import Testing

/// What an installed ktrace gives a user besides the binary: man pages that cover every flag, shell
/// completions that complete, a version that names its commit. (The Debian package itself is built and
/// installed into a throwaway root by `make deb-test`, with the release binary.)
@Suite(.serialized)
struct InstallIntegrationTests {
    static let subcommands = ["softirq", "kthreads", "stacks", "offcpu", "timeline", "flamegraph", "diff", "exporter"]

    /// Long and short options a command's --help shows.
    func flags(inHelp text: String) -> Set<String> {
        var out = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("  -") {
            for word in line.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "=" || $0 == "<" }) where word.hasPrefix("-") {
                let f = word.trimmingCharacters(in: CharacterSet(charactersIn: ",<>"))
                if f.count > 1 && f != "--" { out.insert(f) }
            }
        }
        return out
    }

    /// Each subcommand's page (docs/man/ktrace-NAME.1) names every flag its --help shows, and has
    /// examples. Fails when an option is added without `make man`.
    @Test(arguments: [""] + subcommands)
    func manPageCoversEveryFlag(command: String) throws {
        let help = try run(Env.ktrace, (command.isEmpty ? [] : [command]) + ["--help"], timeout: 30)
        #expect(help.status == 0, "\(help.stderr)")
        let want = flags(inHelp: help.stdout)
        #expect(!want.isEmpty || command.isEmpty, "no flags parsed from: \(help.stdout.prefix(300))")
        let page = Env.root.appendingPathComponent("docs/man/ktrace\(command.isEmpty ? "" : "-" + command).1").path
        let roff = try String(contentsOfFile: page, encoding: .utf8)
        // mdoc writes a flag as `Fl -name` or `Fl name` (the dash added on rendering): match the name.
        let missing = want.filter { f in
            let bare = f.hasPrefix("--") ? String(f.dropFirst(2)) : String(f.dropFirst())
            return !roff.contains("Fl \(bare)") && !roff.contains("Fl -\(bare)") && !roff.contains(f)
        }
        #expect(missing.isEmpty, "\(page) lacks \(missing.sorted()): run 'make man'")
        #expect(roff.contains(".Sh EXAMPLES"), "\(page) has no EXAMPLES section")
    }

    /// `ktrace --version`: the release and the commit it was built from.
    @Test func versionNamesTheCommit() throws {
        let r = try run(Env.ktrace, ["--version"], timeout: 30)
        #expect(r.status == 0)
        #expect(r.stdout.range(of: #"^\d+\.\d+\.\d+ \(commit [0-9a-f]{7,}(\+changes)?\)\n$"#, options: .regularExpression) != nil
                || r.stdout.contains("(commit unknown)"), "\(r.stdout)")
    }

    /// Bash completion in a real bash under tmux: `ktrace st<TAB>` completes to `stacks`, and
    /// `ktrace stacks --ev<TAB>` to `--event`.
    @Test func bashCompletesSubcommandsAndFlags() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") else {
            print("SKIP: bashCompletesSubcommandsAndFlags: tmux not installed (scripts/setup.sh installs it)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-compl-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/ktrace", withDestinationPath: Env.ktrace)
        let script = try run(Env.ktrace, ["--generate-completion-script", "bash"], timeout: 30)
        try script.stdout.write(toFile: "\(dir)/ktrace.bash", atomically: true, encoding: .utf8)
        try "PS1='$ '\nPATH=\(dir):$PATH\nsource \(dir)/ktrace.bash\n".write(toFile: "\(dir)/rc", atomically: true, encoding: .utf8)
        let session = "ktt-compl-\(getpid())"
        _ = try run("/usr/bin/tmux", ["-L", session, "new-session", "-d", "-s", session, "-x", "200", "-y", "20", "bash --noprofile --rcfile \(dir)/rc -i"], timeout: 30)
        defer { _ = try? run("/usr/bin/tmux", ["-L", session, "kill-session", "-t", session], timeout: 30) }
        /// Types keys, then reads the screen until it shows `want` (5 s at most).
        func screen(after keys: [String], showing want: String) throws -> String {
            for k in keys { _ = try run("/usr/bin/tmux", ["-L", session, "send-keys", "-t", session, k], timeout: 30) }
            var text = ""
            for _ in 0..<50 where !text.contains(want) {
                usleep(100_000)
                text = try run("/usr/bin/tmux", ["-L", session, "capture-pane", "-p", "-t", session], timeout: 30).stdout
            }
            return text
        }
        usleep(500_000)
        let first = try screen(after: ["ktrace st", "Tab"], showing: "$ ktrace stacks")
        #expect(first.contains("$ ktrace stacks"), "after 'ktrace st<TAB>': \(first)")
        let second = try screen(after: ["C-u", "ktrace stacks --ev", "Tab"], showing: "$ ktrace stacks --event")
        #expect(second.contains("$ ktrace stacks --event"), "after 'ktrace stacks --ev<TAB>': \(second)")
    }
}
