import KtraceCore
import KtraceTestSupport
import Testing

struct OffCPUCoreTests {
    /// The waker's context is the innermost one entered. Stacks leaf first, as ktrace folds them; the
    /// second is the one 6.12 recorded under TCG (an hrtimer interrupt on top of a softirq), which the
    /// classifier called a softirq's before.
    @Test func wakerContextIsTheInnermost() {
        let softirqAtIrqExit = ["try_to_wake_up", "sock_def_readable", "net_rx_action", "handle_softirqs", "__irq_exit_rcu",
                                "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt", "pv_native_safe_halt"]
        let irqOnSoftirq = ["try_to_wake_up", "hrtimer_wakeup", "__hrtimer_run_queues", "hrtimer_interrupt", "__sysvec_apic_timer_interrupt",
                            "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt", "handle_softirqs", "__irq_exit_rcu"]
        let softHrtimer = ["try_to_wake_up", "hrtimer_wakeup", "__hrtimer_run_queues", "hrtimer_run_softirq", "handle_softirqs", "run_ksoftirqd",
                           "smpboot_thread_fn", "kthread"]
        let task = ["try_to_wake_up", "__wake_up_common", "pipe_write", "vfs_write", "ksys_write", "do_syscall_64"]
        #expect(Wakeup.context(ofWakerFrames: softirqAtIrqExit) == .softirq)
        #expect(Wakeup.context(ofWakerFrames: irqOnSoftirq) == .irq)
        #expect(Wakeup.context(ofWakerFrames: softHrtimer) == .softirq)
        #expect(Wakeup.context(ofWakerFrames: task) == .task)
    }

    @Test func statesParseAsPsLetters() {
        #expect(OffCPUState(letter: "d") == .disk && OffCPUState(letter: "S") == .sleep)
        #expect(OffCPUState(letter: "R") == .runnable && OffCPUState(letter: "I") == .other)
        #expect(OffCPUState(letter: "X") == nil && OffCPUState(letter: "") == nil)
        #expect(OffCPUState.disk.frame == "[state:D]")
    }

    /// One unit for hot/cold: an on-CPU sample is one sample period, an off-CPU count is nanoseconds.
    @Test func hotColdWeightsAreMicroseconds() {
        let on = StackCount(pid: 1, tid: 0, comm: "a", softirq: nil, kernel: .none, user: .none, count: 3)
        var off = on
        off.offCPU = .sleep
        off.count = 2_499_600
        #expect(HotCold.microseconds(on, samplePeriodNs: 10_101_010) == 30_303)
        #expect(HotCold.microseconds(off, samplePeriodNs: 10_101_010) == 2_500)
    }

    /// Hot/cold SVG: frames under [off-cpu] in blues, the rest warm; the off-CPU palette blues everything.
    @Test func paletteColoursOffCPUFramesBlue() throws {
        let folded = try FoldedProfile.parse("[off-cpu];app;wait_here 30\n[on-cpu];app;run_here 10\n")
        var o = FlameGraphOptions()
        o.palette = .hotCold
        o.countName = "us"
        let frames = FlameGraphFrame.parse(FlameGraphSVG.render(folded, options: o))
        let wait = try #require(frames.first { $0.name == "wait_here" }), run = try #require(frames.first { $0.name == "run_here" })
        #expect(wait.fill.b > wait.fill.r && wait.fill.b >= 190, "\(wait.fill)")
        #expect(run.fill.r > run.fill.b, "\(run.fill)")
        #expect(wait.samples == 30)
        o.palette = .cold
        let cold = FlameGraphFrame.parse(FlameGraphSVG.render(folded, options: o))
        #expect(cold.first { $0.name == "run_here" }.map { $0.fill.b > $0.fill.r } == true)
    }

    @Test func offCPUSummaryNamesEveryLoss() {
        var l = ProfileLosses()
        l.offCPUSwitches = 100
        l.offCPUCounted = 90
        l.offCPUOutOfRange = 8
        #expect(l.offCPUText == "100 switch-outs, 90 blocked times counted (8 outside --min-us/--max-us), 0 lost (0.00%)")
        l.offCPUStartFull = 2
        #expect(l.offCPUText.contains("2 lost (2.00%)") && l.offCPUText.contains("too many tasks off the CPU at once: 2"))
        #expect(!l.offCPUText.contains("scheduler's clock"))
        l.offCPUStalled = 1
        #expect(l.offCPUText.hasSuffix("; 1 switch-out stamped at the scheduler's clock read: the CPU stalled 1 ms or more inside the scheduler before the switch-out was traced (an emulator's or hypervisor's turn)"))
    }
}
