extension OutputFormat {
    /// profile.proto, gzip-compressed: go tool pprof, Pyroscope, Parca, Grafana.
    public static let pprof = OutputFormat(name: "pprof", suffixes: [".pb.gz", ".pprof"])
}

extension OutputWriter where Model == StackOutput {
    static var pprof: Self {
        Self(.pprof) { m in
            do { return try Pprof.file(Pprof.profile(m.counts, m.symbolizer, run: m.pprof, wakers: m.labels.contains(.wakers))) } catch {
                throw OutputError("cannot encode the pprof profile: \(error)")
            }
        }
    }
}
