import CSupport

/// C++ and Swift names as people read them, as perf does for C++. The one place that decides which
/// names are mangled and by which scheme.
public struct Demangler: Sendable {
    public enum Scheme: Sendable { case itanium, swift }

    /// Itanium C++ ABI (also Rust's legacy mangling) or Swift's, by prefix.
    public static func scheme(of name: String) -> Scheme? {
        if name.hasPrefix("_Z") { return .itanium }
        if name.hasPrefix("$s") || name.hasPrefix("_$s") || name.hasPrefix("$S") || name.hasPrefix("_T0") { return .swift }
        return nil
    }

    /// The readable name, or nil when `name` is not mangled or the demangler refuses it.
    public static func demangle(_ name: String) -> String? {
        guard let scheme = scheme(of: name) else { return nil }
        var buf = [CChar](repeating: 0, count: 4096)
        let ok = switch scheme {
        case .itanium: kt_demangle_cxx(name, &buf, buf.count)
        case .swift: kt_demangle_swift(name, &buf, buf.count)
        }
        guard ok == 1 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
