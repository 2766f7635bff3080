"""A second look when every passage declines: the likeliest answer that is not abstaining.

A small model's first token decides whether it answers at all, and "The context does not
say." is often its most likely start even where a passage holds the answer (issue 22: two
thirds of the answerable questions it declined had a gold answer in the passages it read).
So the passages are decoded again with the abstention ruled out: the copy search
(llm/copying.py) may then only copy a passage's words, which keeps the answer
grounded, and the answer's log-probability under the model says how much the model
believes it. The caller keeps it only above a threshold calibrated on answerable and
unanswerable questions together (bench/qa_bench.py --unanswerable).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ragcli.answering.base import abstains, clean_answer
from ragcli.answering.grounding import ground, tokenize
from ragcli.llm.base import LLM
from ragcli.records import CopyFrom, GenerationSettings, Passage, Prompt


@dataclass(frozen=True)
class SecondLook:
    """The likeliest answer with abstaining ruled out, and how likely it is.

    `logprob` is log sum_z p(z|x) p(y|x,z) over the passages that proposed it: the model's
    own probability of the answer's tokens, weighted by the passages' retrieval prior.
    """

    text: str
    logprob: float
    passage: int
    tokens: int


def second_look(
    llm: LLM,
    prompts: Sequence[Prompt],
    passages: Sequence[Passage],
    weights: Sequence[float],
    generation: GenerationSettings,
) -> SecondLook | None:
    """Decode each passage again, copying only its words; the likeliest grounded answer.

    None when the backend cannot search copies (a chat model, a server) or no passage
    yields an answer.
    """
    marginal: dict[str, float] = {}
    found: dict[str, tuple[str, int, int, float]] = {}  # key: text, passage, tokens, best
    for prompt, passage, weight in zip(prompts, passages, weights, strict=True):
        # No replies: the abstention is no copy of the passage, so it cannot be chosen.
        completion = llm.copy(prompt, CopyFrom((passage.text,), ()), generation)
        if completion is None or completion.logprob is None:
            continue
        text = clean_answer(completion.text)
        key = " ".join(t.key for t in tokenize(text))
        if not key or abstains(text) or not ground(text, (passage,)).grounded:
            continue
        mass = weight * math.exp(completion.logprob)
        marginal[key] = marginal.get(key, 0.0) + mass
        if key not in found or mass > found[key][3]:
            found[key] = (text, passage.number, completion.tokens, mass)
    if not marginal:
        return None
    key = max(marginal, key=lambda k: marginal[k])
    text, number, tokens, _ = found[key]
    return SecondLook(text, math.log(marginal[key]), number, tokens)
