extension Timeline {
    /// The recorded events in time order, their stacks named through the one interned form. Events
    /// arrive in per-CPU ring order, which is time order per CPU only: all CPUs are merged here.
    public static func build(_ events: [TraceEvent], symbolizer s: StackSymbolizer, functions: [String],
                             startNs: UInt64, endNs: UInt64, samplePeriodNs: UInt64) -> Timeline {
        for pid in Set(events.lazy.compactMap { if case .sample(let e) = $0 { e.pid } else { nil } }) { s.userNames.capture(pid: pid) }
        s.prefetch()
        var samples: [TimelineSample] = [], slices: [SoftirqSlice] = [], switches: [SwitchEvent] = []
        var calls: [FunctionEvent] = [], work: [WorkSlice] = []
        let missingUser = s.missingUser, missingKernel = s.missingKernel
        for event in events {
            switch event {
            case .sample(let e):
                let frames = StackComposer.compose(comm: nil, softirq: nil, user: s.user(pid: e.pid, e.user), kernel: s.kernel(e.kernel),
                                                   missingUser: missingUser, missingKernel: missingKernel)
                samples.append(TimelineSample(ts: e.ts, cpu: e.cpu, pid: e.pid, tid: e.tid, comm: e.comm,
                                              frames: frames.map { s.table[$0] }, softirq: e.softirq))
            case .softirq(let slice): slices.append(slice)
            case .contextSwitch(let sw): switches.append(sw)
            case .work(let w):
                work.append(WorkSlice(ts: w.ts, dur: w.dur, cpu: w.cpu, pid: w.pid, tid: w.tid, comm: w.comm,
                                      function: s.kernelFunctionName(w.function)))
            case .call(let c):
                guard c.slot < functions.count else { continue }
                calls.append(FunctionEvent(ts: c.ts, cpu: c.cpu, pid: c.pid, tid: c.tid, comm: c.comm, function: functions[c.slot],
                                           depth: c.depth, kind: c.kind))
            }
        }
        samples.sort { $0.ts < $1.ts }
        slices.sort { $0.ts < $1.ts }
        switches.sort { $0.ts < $1.ts }
        work.sort { $0.ts < $1.ts }
        return Timeline(samples: samples, slices: slices, switches: switches, startNs: startNs, endNs: endNs,
                        samplePeriodNs: samplePeriodNs, calls: calls, work: work)
    }
}
