import CKtrace
import KtraceCore

/// The ABI's encodings, decoded once.
func softirqVector(_ v: UInt32) -> SoftirqVector? {
    v == UInt32(KT_SOFTIRQ_NONE) ? nil : SoftirqVector(rawValue: Int(v) - 1)
}

func stackRef(_ id: UInt64) -> StackRef {
    switch id {
    case UInt64(KT_STACK_NONE): .none
    case UInt64(KT_STACK_LOST): .lost
    default: .stored(id)
    }
}

/// A C char[16] as a Swift string.
func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
}
