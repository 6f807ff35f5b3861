import FoundationEssentials
import Glibc
import KtraceCore

/// write(2) until done; returns false on an error such as a closed pipe.
@discardableResult
func writeAll(_ fd: Int32, _ text: String) -> Bool {
    var text = text
    return text.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
}

func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer) -> Bool {
    var off = 0
    while off < buf.count {
        let n = write(fd, buf.baseAddress! + off, buf.count - off)
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        off += n
    }
    return true
}

/// Everything readable from `fd` until end of file.
func readAll(_ fd: Int32) -> [UInt8]? {
    var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
    }
}

/// Write text to a file or stdout, with a clear error when the path is not writable. `atomic` writes a
/// temporary file beside it and renames it, so a reader never sees half a file (for outputs rewritten
/// while sampling).
func writeOutput(_ text: String, to path: String?, atomic: Bool = false) {
    writeOutput(to: path, atomic: atomic) { writeAll($0, text) }
}

func writeOutput(bytes: [UInt8], to path: String?, atomic: Bool = false) {
    writeOutput(to: path, atomic: atomic) { fd in bytes.withUnsafeBytes { writeAll(fd, $0) } }
}

private func writeOutput(to path: String?, atomic: Bool, _ write: (Int32) -> Bool) {
    guard let path, path != "-" else {
        if !write(1) { fail("cannot write to standard output: \(String(cString: strerror(errno)))") }
        return
    }
    let target = atomic ? "\(path).ktrace-\(getpid()).tmp" : path
    let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { fail("cannot write \(target): \(String(cString: strerror(errno)))") }
    let ok = write(fd), err = errno
    if close(fd) != 0 || !ok {
        if atomic { unlink(target) }
        fail("cannot write \(target): \(String(cString: strerror(ok ? errno : err)))")
    }
    if atomic, rename(target, path) != 0 {
        let err = errno
        unlink(target)
        fail("cannot write \(path): \(String(cString: strerror(err)))")
    }
}

/// Fail early, before any tracing, if an output path cannot be created (or, for an `atomic` output,
/// replaced: that needs its directory).
func checkWritable(_ path: String?, atomic: Bool = false) {
    guard let path, path != "-" else { return }
    let fm = FileManager.default
    if fm.fileExists(atPath: path) {
        if !fm.isWritableFile(atPath: path) { fail("cannot write \(path): permission denied") }
        if !atomic { return }
    }
    let dir = parentDirectory(of: path)
    let d = dir.isEmpty ? "." : dir
    var isDir = false
    if !fm.fileExists(atPath: d, isDirectory: &isDir) || !isDir {
        fail("cannot write \(path): directory \(d) does not exist")
    }
    if !fm.isWritableFile(atPath: d) { fail("cannot write \(path): directory \(d) is not writable") }
}

/// Create an output directory (and its parents) if need be, or fail in one line.
func makeDirectory(_ path: String) {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        fail("cannot create directory \(path): \(String(cString: strerror(errno)))")
    }
    if !FileManager.default.isWritableFile(atPath: path) { fail("cannot write into \(path): permission denied") }
}
