import ArgumentParser

/// A command whose `--help` ends with worked examples. ArgumentParser's help has no examples section
/// (it ends with the options), so `LMScoreCommand.main` appends these after it.
protocol CommandExamples {
    /// Shell lines, each example a `# what it does` line followed by the command.
    static var examples: String { get }
}

extension LMScoreCommand: CommandExamples {
    static let examples = """
        # Score texts with the bundled model (per-token log-probabilities, loss, perplexity)
        echo '{"texts": ["The cat sat on the mat."]}' | lmscore score
        # Serve the same over HTTP on port 8080
        lmscore serve --port 8080
        """

    /// `lmscore` alone: the short usage and the most common command, not the full help.
    func run() async throws {
        let commands = Self.configuration.subcommands.compactMap { $0.configuration.commandName }
        print("""
            Usage: lmscore <command> [options]
              lmscore --help lists the commands (\(commands.joined(separator: ", "))); \
            lmscore <command> --help explains one.

            The most common command: score texts with the bundled model.
              echo '{"texts": ["The cat sat on the mat."]}' | lmscore score
            """)
    }

    /// ArgumentParser's `main`, plus the examples at the end of a help text.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let message = fullMessage(for: error)
            // A help request is a successful exit whose text has a USAGE section (not --version, not an error).
            guard exitCode(for: error).isSuccess, message.contains("USAGE: "),
                  let examples = (helpedCommand(arguments) as? CommandExamples.Type)?.examples else {
                exit(withError: error)
            }
            print(message)
            print("\nEXAMPLES:\n" + examples.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            exit(withError: nil)
        }
    }

    /// The command a help request is about: the subcommand named first (`lmscore score --help`,
    /// `lmscore help score`), else lmscore itself.
    private static func helpedCommand(_ arguments: [String]) -> ParsableCommand.Type {
        let words = arguments.filter { !$0.hasPrefix("-") && $0 != "help" }
        guard let first = words.first else { return self }
        return configuration.subcommands.first { $0.configuration.commandName == first } ?? self
    }
}
