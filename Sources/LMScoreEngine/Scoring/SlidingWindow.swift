/// One window over a long sequence: the tokens it reads and the tokens it scores.
struct Window: Equatable {
    /// Tokens fed to the model: at most n_positions of them.
    let span: Range<Int>
    /// Tokens whose log-probability this window reports (each has context inside `span`).
    let scored: Range<Int>
}

/// The Hugging Face perplexity guide's sliding window: windows start at 0, S, 2S, …, each spans up
/// to `context` tokens, and every token from the second on is scored exactly once, by the first window
/// that covers it past the end of the previous window.
///
/// A stride equal to the context would leave each later window's first token without context (HF's
/// loop silently skips it), so the stride is capped at context − 1 to keep "every token scored once".
func slidingWindows(length: Int, context: Int, stride: Int) -> [Window] {
    precondition(length > 0 && context > 0)
    let step = max(1, min(stride, context - 1))
    var windows: [Window] = []
    var begin = 0
    var previousEnd = 0
    while true {
        let end = min(begin + context, length)
        let firstScored = max(previousEnd, begin + 1)
        windows.append(Window(span: begin..<end, scored: min(firstScored, end)..<end))
        previousEnd = end
        if end == length { break }
        begin += step
    }
    return windows
}
