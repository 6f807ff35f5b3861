import Glibc

/// A continuous profile's file name, "ktrace-20261203T061200Z-0001.pb.gz": when its interval began (UTC,
/// to the second) and its number in the recording. A recording's names sort as its intervals follow one
/// another, given starts that only grow (the session counts them on the monotonic clock from one reading
/// of the wall clock): two that begin within the same second are told apart by their number.
public enum IntervalFileName {
    public static func name(startUnixNs: Int64, number: Int, fileExtension: String) -> String {
        var t = time_t(startUnixNs >= 0 ? startUnixNs / 1_000_000_000 : (startUnixNs - 999_999_999) / 1_000_000_000)
        var parts = tm()
        gmtime_r(&t, &parts)
        let date = pad(Int(parts.tm_year) + 1900, 4) + pad(Int(parts.tm_mon) + 1, 2) + pad(Int(parts.tm_mday), 2)
        let time = pad(Int(parts.tm_hour), 2) + pad(Int(parts.tm_min), 2) + pad(Int(parts.tm_sec), 2)
        return "ktrace-\(date)T\(time)Z-\(pad(number, 4)).\(fileExtension)"
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(width - s.count, 0)) + s
    }
}
