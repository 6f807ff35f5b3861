import Foundation
import KtraceCore
import SwiftProtobuf

/// A pprof file's own fields, decoded exactly (go tool pprof -raw prints the duration to four characters):
/// when the profile began, how long it lasted, its comments.
public struct PprofHeader: Sendable {
    public var timeNanos: Int64
    public var durationNanos: Int64
    public var comments: [String]

    /// Reads a .pb.gz: gunzipped by gzip(1), decoded by SwiftProtobuf from profile.proto.
    public static func read(_ path: String) throws -> PprofHeader {
        let gzip = Process(), out = Pipe()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-dc", path]
        gzip.standardOutput = out
        try gzip.run()
        let bytes = out.fileHandleForReading.readDataToEndOfFile()
        gzip.waitUntilExit()
        guard gzip.terminationStatus == 0 else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path]) }
        let p = try Perftools_Profiles_Profile(serializedBytes: bytes)
        return PprofHeader(timeNanos: p.timeNanos, durationNanos: p.durationNanos,
                           comments: p.comment.map { Int($0) < p.stringTable.count ? p.stringTable[Int($0)] : "" })
    }
}
