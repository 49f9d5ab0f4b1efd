// The examples that end each command's --help (see CommandExamples in LMScoreCommand+Help.swift).

extension ServeCommand: CommandExamples {
    static let examples = """
        # The bundled model on port 8080; then: curl -s localhost:8080/score -d '{"texts": ["Hello world"]}'
        lmscore serve --port 8080
        # A Hugging Face GPT-2 directory, larger batches
        LMSCORE_MAX_BATCH_TOKENS=8192 lmscore serve --model ./gpt2 --port 8080
        # Two models: "q8" by default, compared with "f16" by {"reference": "f16"} in /score
        lmscore serve --model q8=x.q8_0.gguf --model f16=x.f16.gguf --port 8080
        """
}

extension HealthcheckCommand: CommandExamples {
    static let examples = """
        # Exit 0 when the server on port 8080 is ready (the container's HEALTHCHECK)
        lmscore healthcheck --port 8080
        """
}

extension ScoreCommand: CommandExamples {
    static let examples = """
        # Log-probabilities, loss and perplexity of two texts with the bundled model
        echo '{"texts": ["The cat sat on the mat.", "Mat the on sat cat the."]}' | lmscore score
        # Token ids with the 5 likeliest tokens at each position, from a file, indented
        lmscore score --model ./gpt2 --pretty request.json    # request.json: {"sequences": [[464, 3797, 3332]], "top_k": 5}
        """
}

extension PerplexityCommand: CommandExamples {
    static let examples = """
        # Perplexity of a whole book: tokenize it, then slide a window with stride 128
        lmscore tokenize book.txt > ids.json && tr -d '[]' < ids.json | lmscore perplexity --tokens - --stride 128
        """
}

extension CompareCommand: CommandExamples {
    static let examples = """
        # How far an 8-bit GGUF is from its F16 source, llama.cpp's KL-divergence report on a text
        lmscore compare --model x.q8_0.gguf --reference x.f16.gguf wiki.test.raw
        # Two Hugging Face directories, for machines
        lmscore compare --model ./gpt2-finetuned --reference ./gpt2 --json text.txt
        """
}

extension InspectCommand: CommandExamples {
    static let examples = """
        # What the bundled model is
        lmscore inspect
        # A downloaded checkpoint, as JSON
        lmscore inspect --model ./gpt2 --json
        """
}

extension MakeCheckpointCommand: CommandExamples {
    static let examples = """
        # GPT-2 124M's shape with random weights, for benchmarks
        lmscore make-checkpoint --preset gpt2 --random --seed 0 /tmp/gpt2-random
        """
}

extension BenchCommand: CommandExamples {
    static let examples = """
        # Speed of one short and eight long rows
        lmscore bench --model /tmp/gpt2-random --shapes 1x16,8x128
        # Multiple choice: a 500-token context with 4 continuations of 5 tokens
        lmscore bench --model /tmp/gpt2-random --choices 500x4x5
        """
}

extension TokenizeCommand: CommandExamples {
    static let examples = """
        # Text to GPT-2 token ids
        echo 'Hello world' | lmscore tokenize
        # And back, with where each token starts
        echo '[15496, 995]' | lmscore tokenize --decode
        """
}
