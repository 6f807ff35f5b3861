import FoundationEssentials
import Glibc

/// Which Debian package installed a file, as `dpkg -S` answers it: the `info/*.list` files of dpkg's
/// database, one path per line. Read through the target's root (/proc/PID/root) so a container's own
/// packages answer for its files; the answers are cached per database (device and inode of its
/// directory), so host processes share one.
final class PackageOwners: @unchecked Sendable {  // used under UserSymbolizer's lock
    let infoDir: String
    /// A lookup reads every list (about 900 files, 10 MB here): this many per database at most.
    static let maxLookups = 32

    private var answers: [String: String?] = [:]  // "dev:ino|path"
    private var lookups: [String: Int] = [:]      // per database

    init(infoDir: String = "/var/lib/dpkg/info") { self.infoDir = infoDir }

    /// The binary package that owns `path` (without its `:arch`), or nil. `root` is "/proc/PID/root"
    /// or "" for this machine's view.
    func owner(of path: String, root: String) -> String? {
        let dir = root + infoDir
        var st = stat()
        guard stat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            return root.isEmpty ? nil : owner(of: path, root: "")
        }
        let db = "\(st.st_dev):\(st.st_ino)"
        let key = db + "|" + path
        if let known = answers[key] { return known }
        guard lookups[db, default: 0] < Self.maxLookups else { return nil }
        lookups[db, default: 0] += 1
        let found = scan(dir, for: Self.aliases(of: path))
        answers[key] = .some(found)
        return found
    }

    /// A merged /usr lists files under /bin, /lib... in dpkg's database but maps them under /usr (and
    /// the other way round).
    static func aliases(of path: String) -> [String] {
        var out = [path]
        if path.hasPrefix("/usr/") {
            out.append(String(path.dropFirst(4)))
        } else if path.hasPrefix("/") {
            out.append("/usr" + path)
        }
        return out
    }

    /// "libc6:amd64.list" -> "libc6".
    static func package(ofListFile name: String) -> String {
        let base = name.hasSuffix(".list") ? String(name.dropLast(5)) : name
        return String(base.split(separator: ":", maxSplits: 1).first ?? Substring(base))
    }

    private func scan(_ dir: String, for paths: [String]) -> String? {
        guard let d = opendir(dir) else { return nil }
        defer { closedir(d) }
        let needles = paths.map { Array($0.utf8) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasSuffix(".list") else { continue }
            guard let bytes = readRegularFile(dir + "/" + name, limit: 64 << 20) else { continue }
            if needles.contains(where: { Self.hasLine(bytes, $0) }) { return Self.package(ofListFile: name) }
        }
        return nil
    }

    /// Whether one line of `text` is exactly `line`. Each line's end is found with memchr and only a line
    /// of the same length is compared: a lookup reads some 10 MB of lists, and a byte-by-byte walk of
    /// them was most of the time a run spent naming frames.
    static func hasLine(_ text: [UInt8], _ line: [UInt8]) -> Bool {
        text.withUnsafeBufferPointer { t in
            line.withUnsafeBufferPointer { l in
                guard let base = t.baseAddress else { return false }
                var start = 0
                while start < t.count {
                    let end = memchr(base + start, 0x0a, t.count - start)
                        .map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? t.count
                    if end - start == l.count, l.count == 0 || memcmp(base + start, l.baseAddress!, l.count) == 0 { return true }
                    start = end + 1
                }
                return false
            }
        }
    }
}
