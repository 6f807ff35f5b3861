import ArgumentParser
import KtraceCore

/// --comm's help: one meaning in every command; where the kernel filters, a '*' only at the end.
let commHelp = "Task name: exact, or a glob ('kworker*', 'ksoftirqd/?')."
let kernelCommHelp = "Task name: exact, or a glob with '*' only at the end ('ksoftirqd/*', 'kworker/?:?')."

/// --comm's pattern (nil without --comm), or why it is refused, as a usage error. `maxLength`: the longest
/// name it is matched against (the kernel's comm; kthreads also matches /proc's longer kworker names).
func commPattern(_ comm: String?, maxLength: Int = CommPattern.maxLength) throws -> CommPattern? {
    guard let comm else { return nil }
    do { return try CommPattern(comm, maxLength: maxLength) } catch { throw ValidationError("--comm \(error)") }
}
