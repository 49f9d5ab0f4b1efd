import LMScoreBatch

extension Progress {
    /// The progress line of one scoring call (`score`, `perplexity`, `compare`): the tokens its windows
    /// read (overlaps included), as `lmscore batch` shows lines; on a terminal, or every 10 s in a log.
    static func tokensRead(_ label: String, quiet: Bool) -> Progress {
        Progress(mode: automaticMode(quiet: quiet, logEvery: 10), label: label, unit: "tokens read", total: nil)
    }

    /// The scorer's `progress` callback: the total is known once the call is planned.
    func update(read: Int, total: Int) {
        self.total = total
        update(done: read, tokens: read, errors: nil)
    }
}
