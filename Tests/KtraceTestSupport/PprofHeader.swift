import Foundation
import KtraceCore
import SwiftProtobuf

/// A pprof file's time span, decoded exactly (go tool pprof -raw prints the duration to four characters):
/// when the profile began and how long it lasted.
public struct PprofHeader: Sendable {
    public var timeNanos: Int64
    public var durationNanos: Int64

    /// Reads a .pb.gz: gunzipped by gzip(1), decoded by SwiftProtobuf from profile.proto.
    public static func read(_ path: String) throws -> PprofHeader {
        let p = try Perftools_Profiles_Profile(serializedBytes: gunzip(file: path))
        return PprofHeader(timeNanos: p.timeNanos, durationNanos: p.durationNanos)
    }
}

public struct GzipError: Error, CustomStringConvertible {
    public let description: String
}

/// zlib's inflate, through gzip's own tool: the tests read what any reader would.
public func gunzip(file path: String) throws -> [UInt8] {
    let p = Process(), out = Pipe()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-dc", path]
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw GzipError(description: "gzip -dc \(path): exit \(p.terminationStatus)") }
    return [UInt8](data)
}
