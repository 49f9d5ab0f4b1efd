import Foundation

/// Progress of a long run on standard error. On a terminal: one line rewritten in place at most
/// `terminalInterval` apart; otherwise (a log, a pod): a plain line every `logInterval` seconds; or nothing.
public final class Progress {
    public enum Mode: Sendable, Equatable {
        case terminal
        case log(every: Double)
        case quiet
    }

    public let mode: Mode
    private let label: String
    /// The amount of `unit`s the run will do, when known (it may become known once the run started).
    public var total: Int?
    private let unit: String
    private let start = ContinuousClock.Instant.now
    private var lastShown: ContinuousClock.Instant?
    private static let terminalInterval = 0.25

    /// `total`: the amount of `unit`s the run will do, when known.
    public init(mode: Mode, label: String, unit: String, total: Int?) {
        self.mode = mode
        self.label = label
        self.unit = unit
        self.total = total
    }

    /// Terminal mode when standard error is a terminal, else a log line every `logEvery` seconds.
    public static func automaticMode(quiet: Bool, logEvery: Double) -> Mode {
        if quiet { return .quiet }
        return isatty(STDERR_FILENO) == 1 ? .terminal : .log(every: logEvery)
    }

    /// Shows `done` units, `tokens` scored so far and `errors` (nil: a run without per-item errors),
    /// if the last update is old enough.
    public func update(done: Int, tokens: Int, errors: Int?) {
        let interval: Double
        switch mode {
        case .quiet: return
        case .terminal: interval = Self.terminalInterval
        case .log(let every): interval = every
        }
        if let lastShown, seconds(since: lastShown) < interval { return }
        if lastShown == nil && mode != .terminal { lastShown = .now; return }   // no log line at t = 0
        lastShown = .now
        let line = text(done: done, tokens: tokens, errors: errors)
        FileHandle.standardError.write(Data((mode == .terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    /// Ends the terminal line (the summary starts on a fresh one).
    public func finish() {
        if mode == .terminal && lastShown != nil { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    func text(done: Int, tokens: Int, errors: Int?) -> String {
        let elapsed = seconds(since: start)
        var parts: [String] = []
        if let total, total > 0 {
            parts.append(String(format: "%d/%d %@ (%.1f%%)", done, total, unit, 100 * Double(done) / Double(total)))
        } else {
            parts.append("\(done) \(unit)")
        }
        parts.append(String(format: "%.0f tokens/s", Double(tokens) / max(elapsed, 1e-9)))
        if let total, done > 0, done < total {
            parts.append("ETA " + Self.duration(elapsed / Double(done) * Double(total - done)))
        }
        if let errors { parts.append("\(errors) error\(errors == 1 ? "" : "s")") }
        return "\(label): " + parts.joined(separator: ", ")
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
