import ArgumentParser
import KtraceCore

/// --comm's help: one meaning in every command.
let commHelp = "Task name: exact, or a glob ('kworker*', 'ksoftirqd/?')."

/// --comm's pattern (nil without --comm), or why it is refused, as a usage error.
func commPattern(_ comm: String?) throws -> CommPattern? {
    guard let comm else { return nil }
    do { return try CommPattern(comm) } catch { throw ValidationError("--comm \(error)") }
}
