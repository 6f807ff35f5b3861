extension RandomAccessCollection where Index == Int {
    /// The first index whose element is past the point, in a collection ordered so that `isPast` is
    /// false for a prefix and true for the rest (a binary search: the one ktrace uses everywhere).
    @inlinable
    func partitionPoint(_ isPast: (Element) -> Bool) -> Int {
        var lo = startIndex, hi = endIndex
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if isPast(self[mid]) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
