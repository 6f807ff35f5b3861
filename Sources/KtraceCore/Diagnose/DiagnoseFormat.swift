/// Number formatting for the diagnosis' sentences, fixed so golden files hold.
enum DiagnoseFormat {
    /// 0.934 -> "93.4%".
    static func pct(_ fraction: Double) -> String { fixed(fraction * 100, 1) + "%" }

    /// Per-second rate over the window: "1234/s" (one decimal below 10).
    static func rate(_ n: UInt64, _ window: Double) -> String {
        let r = window > 0 ? Double(n) / window : 0
        return (r < 10 ? fixed(r, 1) : fixed(r, 0)) + "/s"
    }

    /// 4.6512 -> "4.65 s".
    static func seconds(_ s: Double) -> String { fixed(s, 2) + " s" }

    /// A task count averaged over samples: "12" or "12.5".
    static func tasks(_ n: Double) -> String { fixed(n, 1, trim: true) }

    /// First letter upper-cased: causes are built from clauses that may start lower-case.
    static func sentence(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
}
