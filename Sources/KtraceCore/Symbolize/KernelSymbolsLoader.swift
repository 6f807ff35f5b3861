import CSupport
import Glibc

/// Loads /proc/kallsyms on its own thread while sampling runs, so symbolizing at the end does not wait
/// for it (the kernel alone takes ~50 ms to produce the file).
public final class KernelSymbolsLoader: @unchecked Sendable {  // `result` is written by the thread before join
    private var result: Result<KernelSymbols, Error>?
    private var thread = pthread_t()
    private var running = false
    private let report: (String) -> Void

    /// `report`: told once why the symbols could not be loaded (e.g. hidden addresses).
    public init(path: String = "/proc/kallsyms", report: @escaping (String) -> Void) {
        self.report = report
        self.path = path
        let context = Unmanaged.passRetained(self).toOpaque()
        running = pthread_create(&thread, nil, { context in
            let loader = Unmanaged<KernelSymbolsLoader>.fromOpaque(context!).takeRetainedValue()
            loader.result = Result { try KernelSymbols.load(path: loader.path) }
            kt_trim_heap()  // the parse's freed memory sits in this thread's malloc arena otherwise
            return nil
        }, context) == 0
        if !running {
            Unmanaged<KernelSymbolsLoader>.fromOpaque(context).release()
            result = Result { try KernelSymbols.load(path: path) }
        }
    }

    private let path: String

    /// Already loaded symbols (tests, recorded inputs).
    public init(_ symbols: KernelSymbols) {
        report = { _ in }
        path = ""
        result = .success(symbols)
    }

    /// Waits for the load; reports a failure once.
    public lazy var symbols: KernelSymbols? = {
        if running { pthread_join(thread, nil); running = false }
        switch result {
        case .success(let s): return s
        case .failure(let e): report("\(e)"); return nil
        case nil: return nil
        }
    }()
}
