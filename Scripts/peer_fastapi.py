"""The peer lmscore's HTTP load is measured against: the FastAPI + transformers script a team would
write first to score token sequences. One request at a time through the model, no batching across
requests; same request and answer shape as lmscore's /score for `sequences` (per-token logprobs,
loss, perplexity per sequence).

    python Scripts/peer_fastapi.py --model MODEL_DIR --port 18091 [--threads N]

Run by Scripts/load_bench.sh (PEER=fastapi) from the venv of Scripts/setup_venv.sh. Benchmark
material only: never part of the service or its tests.
"""
import argparse
import math

import torch
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from transformers import AutoModelForCausalLM


class ScoreRequest(BaseModel):
    sequences: list[list[int]]


def make_app(model_dir: str) -> FastAPI:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    vocab = model.config.vocab_size
    app = FastAPI()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/score")
    def score(request: ScoreRequest):
        results = []
        for ids in request.sequences:
            if len(ids) < 2 or any(i < 0 or i >= vocab for i in ids):
                raise HTTPException(status_code=400, detail="each sequence needs >= 2 ids in the vocabulary")
            with torch.inference_mode():
                tokens = torch.tensor([ids])
                logits = model(tokens).logits[0, :-1].float()
                logprobs = torch.log_softmax(logits, dim=-1).gather(1, tokens[0, 1:, None])[:, 0]
            loss = -logprobs.mean().item()
            results.append({"token_logprobs": logprobs.tolist(), "loss": loss, "perplexity": math.exp(loss)})
        return {"results": results}

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18091)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    uvicorn.run(make_app(args.model), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
