public enum KtraceCore { public static let version = "0.1.0" }
