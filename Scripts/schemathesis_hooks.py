"""schemathesis hooks for Scripts/check_schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

openapi.yaml states three rules that JSON Schema cannot express, because they compare two arrays or
depend on the served model ("What the schema cannot know" in its description):
  - `inputs` and `targets` hold as many rows, and each pair of rows is equally long;
  - rows that no sliding window splits (inputs/targets, choices, /v1/completions prompts) fit the
    model's n_positions;
  - token ids are below its vocab_size (the script binds TokenId's maximum to it instead);
  - `add_bos: true` needs a tokenizer that has a BOS token.
A schema-valid request that breaks one of them is refused with 422, which schemathesis reports as ST202
("schema-valid request rejected"). This hook drops exactly those reports, recognised by the server's
error code (`context_length_exceeded` for rows longer than n_positions) and message; every other
failure, and every other check on the same response, stands.
"""
import json
import re

import schemathesis

MODEL_BOUND_MESSAGES = [
    re.compile(r"^\d+ target rows for \d+ input rows$"),
    re.compile(r"^\d+ targets for \d+ inputs; they must be equal$"),
    re.compile(r"^this model's tokenizer has no BOS token$"),   # add_bos: true with a tokenizer without one
]


def breaks_an_inexpressible_rule(response) -> bool:
    if response is None or response.status_code != 422:
        return False
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if error.get("code") == "context_length_exceeded":
        return True
    message = error.get("message") or ""
    return error.get("code") == "invalid_value" and any(p.search(message) for p in MODEL_BOUND_MESSAGES)


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep a failure unless it is ST202 for one of the rules above."""
    return not (getattr(failure, "code", None) == "ST202" and breaks_an_inexpressible_rule(response))
