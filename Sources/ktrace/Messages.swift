import Glibc
import KtraceKernel

/// Print one clear line to stderr and exit non-zero: bad input and faults never end in a crash trace.
func fail(_ message: String, code: Int32 = 1) -> Never {
    writeAll(2, "ktrace: error: \(message)\n")
    exit(code)
}

func note(_ message: String) {
    writeAll(2, "ktrace: \(message)\n")
}

/// Checks made before touching the kernel, so the user reads what is missing rather than an errno.
func requireTracingPrivileges() {
    if let problem = Kernel.tracingProblem() { fail(problem) }
}
