/// What a task blocked in a system call waits on, when that call's first argument is a file descriptor
/// (read, write, fsync, ioctl, ...): the file, and the file system it is on. A D-state task's stack says
/// how it waits (a page lock, a request); the file names what sits behind it (a FUSE server, an NFS
/// mount, a disk).
public enum BlockedFileText {
    /// System calls whose first argument is a file descriptor, by number (arch/x86/entry/syscalls/
    /// syscall_64.tbl; include/uapi/asm-generic/unistd.h for arm64).
    static let fdFirst: [String: Set<Int>] = [
        "x86_64": [0, 1, 16, 17, 18, 19, 20, 72, 73, 74, 75, 217, 277, 285, 295, 296],  // read write ioctl pread64 pwrite64
        // readv writev fcntl flock fsync fdatasync getdents64 sync_file_range fallocate preadv pwritev
        "aarch64": [25, 29, 32, 47, 61, 63, 64, 65, 66, 67, 68, 69, 70, 82, 83, 84],  // fcntl ioctl flock fallocate getdents64
        // read write readv writev pread64 pwrite64 preadv pwritev fsync fdatasync sync_file_range
    ]

    /// /proc/PID/task/TID/syscall ("NR ARG1 ...", args in hex; "running" or "-1 ..." outside a call):
    /// the file descriptor the call works on, when its first argument is one.
    public static func fd(syscall text: String, arch: String) -> Int? {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard f.count > 1, let nr = Int(f[0]), fdFirst[arch]?.contains(nr) == true else { return nil }
        let hex = f[1].hasPrefix("0x") ? f[1].dropFirst(2) : f[1][...]
        guard let fd = Int(hex, radix: 16), fd >= 0, fd < 1 << 20 else { return nil }
        return fd
    }

    /// One mount of /proc/PID/mountinfo: where, what type, from what.
    public struct Mount: Equatable, Sendable {
        public var mountPoint: String, fsType: String, source: String
    }

    /// The mount a path is on: the one whose mount point is the path's longest leading directory
    /// (the last such line when several are stacked there). nil for paths that are no file's (socket:[..]).
    public static func mount(of path: String, mountinfo: String) -> Mount? {
        guard path.hasPrefix("/") else { return nil }
        var best: Mount?
        for line in mountinfo.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 10, let dash = f.firstIndex(of: "-"), dash + 2 < f.count else { continue }
            let mp = unescape(String(f[4]))
            let inside = mp == "/" || path == mp || path.hasPrefix(mp + "/")
            if inside, mp.count >= (best?.mountPoint.count ?? -1) {
                best = Mount(mountPoint: mp, fsType: String(f[dash + 1]), source: unescape(String(f[dash + 2])))
            }
        }
        return best
    }

    /// "PATH on FSTYPE": what a group of blocked tasks reports.
    public static func describe(path: String, mountinfo: String) -> String {
        guard let m = mount(of: path, mountinfo: mountinfo) else { return path }
        return "\(path) on \(m.fsType)"
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out: [UInt8] = [], b = Array(s.utf8), i = 0
        while i < b.count {
            if b[i] == 0x5C, i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v); i += 4
            } else {
                out.append(b[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
