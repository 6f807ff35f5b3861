import CKtrace
import Foundation
var err = [CChar](repeating: 0, count: 512)
var s: OpaquePointer? = nil
kt_set_verbose(0)
let rc = kt_softirq_open(&s, 0, -1, 1, &err, 512)
print("rc", rc, String(cString: err), kt_softirq_attach_kind(s))
sleep(1)
let n = Int(kt_num_possible_cpus())
var buf = [kt_vec_stats](repeating: kt_vec_stats(), count: n * 10)
print(kt_softirq_read(s, &buf, Int32(n)))
for v in 0..<10 { print(v, buf[v].count, buf[v].total_ns, buf[v].max_ns) }
kt_softirq_close(s)
