/// Number and string formatting without Foundation: ktrace imports only FoundationEssentials, which
/// has no `String(format:)` or `trimmingCharacters`, and costs a third of Foundation's start-up memory.

/// `v` with exactly `places` decimals ("12.30"), or trailing zeros trimmed ("12.3") when `trim` is set.
public func fixed(_ v: Double, _ places: Int, trim: Bool = false) -> String {
    var scale: Int64 = 1
    for _ in 0..<places { scale *= 10 }
    let r = (v * Double(scale)).rounded()
    guard r.isFinite, abs(r) < 9e15 else { return "0" }
    let i = Int64(r)
    let a = i.magnitude
    var s = (i < 0 ? "-" : "") + String(a / UInt64(scale))
    guard places > 0 else { return s }
    var frac = String(a % UInt64(scale))
    frac = String(repeating: "0", count: places - frac.count) + frac
    if trim {
        while frac.hasSuffix("0") { frac.removeLast() }
    }
    if !frac.isEmpty { s += "." + frac }
    return s
}

/// Lower-case hex of `bytes`, two digits each (build ids).
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

extension StringProtocol {
    /// Without leading and trailing whitespace (spaces, tabs, line breaks, and Unicode spaces).
    public var trimmed: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[first...last])
        return String(out)
    }
}

/// The directory part of a path, as `dirname` without the "." for a bare name: "/a/b" -> "/a",
/// "/a/b/" -> "/a", "b" -> "", "/b" -> "/".
public func parentDirectory(of path: String) -> String {
    var p = Substring(path)
    while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
    guard let slash = p.lastIndex(of: "/") else { return "" }
    return slash == p.startIndex ? "/" : String(p[..<slash])
}
