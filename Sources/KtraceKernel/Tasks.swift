import FoundationEssentials
import KtraceCore

/// A task that exists and has not exited (a zombie waiting for its parent counts as gone).
public func isAlive(_ pid: Int32) -> Bool {
    guard let state = taskStat(pid)?.state else { return false }
    return state != "Z" && state != "X"
}

/// /proc/PID/stat's fields, nil when the task is gone or its stat unreadable.
func taskStat(_ pid: Int32) -> TaskStatText.Fields? {
    (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).flatMap(TaskStatText.parse)
}

/// The name /proc gives a process or thread now (a kworker carries its current workqueue: "kworker/u8:2-events_unbound").
public func processName(_ pid: Int32) -> String? {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return nil }
    let name = s.trimmed
    return name.isEmpty ? nil : name
}

/// A kernel thread (PF_KTHREAD in /proc/PID/stat's flags): it never runs in user mode, so it has no user
/// stack to walk. False when the task is gone or unreadable.
public func isKernelThread(_ pid: Int32) -> Bool {
    taskStat(pid)?.isKernelThread ?? false
}
