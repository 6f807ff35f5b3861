/// A stack id as the kernel side hands it over: not taken, taken but lost (counted by BPF), or stored.
public enum StackRef: Sendable, Hashable {
    /// Not collected (not asked for; a kernel thread's user part; a user-mode sample's kernel part).
    case none
    /// Collected but not stored: the loss counters say why.
    case lost
    case stored(UInt64)
}

/// One half of a sampled stack (user or kernel), as read from the stack map.
public enum StackPart<Frame: Sendable & Equatable>: Sendable, Equatable {
    /// Frames leaf first, as the kernel's stack map stores them.
    case frames([Frame])
    /// Not collected (kernel thread's user part, --kernel-only, a user-mode sample's kernel part).
    case none
    /// Collected but lost (map full, no memory, a fault): shown so the loss stays visible.
    case missing

    @inlinable
    public var frameCount: Int {
        if case .frames(let f) = self { return f.count }
        return 1
    }
}
