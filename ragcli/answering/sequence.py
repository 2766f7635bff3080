"""`sequence`: one passage a prompt, answers marginalised over passages (RAG-Sequence).

The retrieved passage z is a latent variable: p(y|x) = sum_z p(z|x) * p(y|x,z). p(z|x) is a
softmax of the retrieval scores; p(y|x,z) is the model's own probability of the answer's
tokens (and the end of the line) after passage z. Each passage proposes its greedy answer;
each proposal is then scored under every passage ("thorough decoding" in the RAG paper),
so an answer that several passages support adds up, and one that only a weak passage
proposes loses to it. "The context does not say." is scored the same way: it is a vote for
abstaining, not an answer, and wins only when it outweighs the best answer. This module
reads the passages; votes.py weighs what they propose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ragcli.answering.base import (
    AnswerSettings,
    OnText,
    abstains,
    check_room,
    clean_answer,
    finish,
    prompt_tokens,
    question_room,
)
from ragcli.answering.evidence import Embed, Window, evidence_passages
from ragcli.answering.grounding import Grounding, ground
from ragcli.answering.packing import separate_passages
from ragcli.answering.prompts import NOT_FOUND, sequence_prefix, single_passage_prompt
from ragcli.answering.second_look import SecondLook, second_look
from ragcli.answering.votes import (
    Choice,
    choose_by_marginal,
    memoised_grounding,
    pool_proposals,
    retrieval_prior,
    score_everywhere,
    settled,
)
from ragcli.llm.base import LLM
from ragcli.records import Answer, Completion, CopyFrom, Hit, Passage, Prompt


@dataclass(frozen=True)
class SequenceSettings:
    """How passages are weighed and answers chosen; tuned with bench/qa_bench.py."""

    # Read as windows (below), 2 passages scored as 3 on 100 tuning questions (F1 45.7 and
    # 45.9, 20 % declined both) in two thirds of the time; 5 scored 46.4 at 2.7x the time.
    passages: int = 2
    passage_tokens: int = 300
    answer_tokens: int = 32
    # p(z|x) = softmax(score / temperature) over the passages' retrieval scores. Hybrid
    # scores of the top passages differ by about 0.05-0.1; 0.05 and 0.1 scored alike, 0.2
    # lost 3 F1 points and uniform weights 7.
    retrieval_temperature: float = 0.1
    # Score every answer under every passage (thorough decoding), or count each passage's
    # own answer only (fast decoding): alike on the tuning questions (F1 36.4 and 36.9),
    # and fast saves a second pass over the passages.
    thorough: bool = False
    # Abstain when p(does not say) exceeds this many times p(best answer): at 1 the model's
    # caution abstained on 22-35 % of answerable questions; at 10, 13 %.
    abstain_ratio: float = 10.0
    # Search the passage's copies again for an answer that is not one (see _complete).
    copy_search: bool = True
    # Read each chunk's best sentences with their neighbours (evidence.py) instead of the
    # whole chunk; None reads whole chunks, merged where they touch, cut to passage_tokens.
    # On 100 tuning questions (3 passages): whole chunks F1 36.8, windows of 150 tokens
    # 39.7, 100 38.1, 60 44.7, 40 45.9; adding the embeddings' cosine did not help.
    window: Window | None = Window()
    # When every window declines, read the same chunks whole before declining.
    widen: bool = False


class SequenceStrategy:
    """Passages one at a time; the answer with the highest marginal probability wins."""

    name = "sequence"

    def __init__(
        self, llm: LLM, settings: AnswerSettings, sequence: SequenceSettings | None = None
    ) -> None:
        self.llm = llm
        self.settings = settings
        self.sequence = sequence or SequenceSettings()
        # The store's query embedder, when the caller lends it, for scoring sentences.
        self.embed: Embed | None = None
        self.generation = replace(
            settings.generation,
            max_tokens=min(settings.generation.max_tokens, self.sequence.answer_tokens),
        )

    def prepare(self) -> None:
        """Check the prompt fits the context; have the model ready for its fixed start."""
        # The user's --max-tokens, not the shorter cap this strategy answers within: the
        # option's range is one rule whichever strategy is used.
        check_room(
            self._fixed_tokens(""),
            self.llm.context_tokens,
            self.settings,
            self.settings.generation.max_tokens,
        )
        if not self.llm.has_chat_template:
            self.llm.prepare_prefix(sequence_prefix())

    def _fixed_tokens(self, question: str) -> int:
        empty = Passage(0, "", None, 1, 1, "", "", ())
        prompt = self._prompt(question, empty)
        return prompt_tokens(self.llm, prompt)

    def passages(self, question: str, hits: Sequence[Hit]) -> tuple[Passage, ...]:
        """The passages, each cut to fit its own prompt with room for the answer."""
        room = self._room(question)
        if self.sequence.window is not None:
            return evidence_passages(
                question,
                hits,
                self.llm.count_tokens,
                room,
                self.sequence.passages,
                self.sequence.window,
                self.embed,
            )
        return self._whole_chunks(hits, room)

    def _room(self, question: str) -> int:
        return question_room(
            question,
            self._fixed_tokens(question),
            self.llm.context_tokens,
            self.settings,
            self.generation.max_tokens,
        )

    def _whole_chunks(self, hits: Sequence[Hit], room: int) -> tuple[Passage, ...]:
        """Whole chunks, merged where they touch, each cut to passage_tokens."""
        return separate_passages(
            hits,
            self.llm.count_tokens,
            min(room, self.sequence.passage_tokens),
            self.sequence.passages,
        )

    def answer(self, question: str, hits: Sequence[Hit], on_text: OnText | None) -> Answer:
        passages = self.passages(question, hits)
        answer = self._read(question, passages)
        if (
            self.sequence.widen
            and self.sequence.window is not None
            and passages
            and answer.text == NOT_FOUND
        ):
            # Every window declined: the answer may lie outside them. Read the chunks whole.
            whole = self._whole_chunks(hits, self._room(question))
            if whole:
                wider = self._read(question, whole)
                answer = wider if wider.answerable else answer
        if on_text is not None:
            on_text(answer.text)
        return answer

    def _read(self, question: str, passages: tuple[Passage, ...]) -> Answer:
        """Answer from these passages, one prompt each, answers weighed (module docstring)."""
        if not passages:
            return finish(question, NOT_FOUND, passages, self.settings, self.name)
        prompts = [self._prompt(question, passage) for passage in passages]
        weights = self._prior(passages)
        completions: list[Completion] = []
        groundings: dict[str, Grounding] = {}  # by answer text, across the passages read
        for prompt, passage in zip(prompts, passages, strict=True):
            completions.append(self._complete(prompt, passage))
            choice = self.choose(question, prompts, passages, completions, groundings)
            if self._settled(choice, sum(weights[len(completions) :])):
                break
        best, abstain = choice.best, choice.abstain
        # An answer no passage supports does not outvote a passage that says it does not
        # know: only the ratio applies to supported answers.
        unsupported = best is not None and not best.grounded and abstain > 0
        if (
            best is None
            or unsupported
            or abstain >= self.sequence.abstain_ratio * (best.probability)
        ):
            answer = self._decline(question, passages, completions, best is None)
        elif best.probability < self.settings.min_confidence:
            answer = finish(question, NOT_FOUND, passages, self.settings, self.name)
        else:
            answer = finish(
                question, best.text, passages, self.settings, self.name, prefer=best.best_passage
            )
            if answer.answerable:
                answer = replace(answer, confidence=best.probability)
        return answer

    def _decline(
        self,
        question: str,
        passages: tuple[Passage, ...],
        completions: list[Completion],
        nothing: bool,
    ) -> Answer:
        """Abstain, unless a second look finds an answer likely enough (second_look.py)."""
        if nothing and all(c.looped for c in completions):
            return finish(question, None, passages, self.settings, self.name)
        found = (
            self.reconsider(question, passages[: len(completions)])
            if self.settings.answer_threshold <= 0
            else None
        )
        if found is None or found.logprob < self.settings.answer_threshold:
            return finish(question, NOT_FOUND, passages, self.settings, self.name)
        answer = finish(
            question, found.text, passages, self.settings, self.name, prefer=found.passage
        )
        return replace(answer, confidence=math.exp(found.logprob)) if answer.answerable else answer

    def reconsider(self, question: str, passages: Sequence[Passage]) -> SecondLook | None:
        """The likeliest grounded answer under the passages read, abstaining ruled out."""
        prompts = [self._prompt(question, passage) for passage in passages]
        weights = self._prior(passages)
        return second_look(self.llm, prompts, passages, weights, self.generation)

    def _complete(self, prompt: Prompt, passage: Passage) -> Completion:
        """The passage's answer: the model's own when it copies the passage, else a copy.

        A small model's greedy answer is sometimes not grounded in the passage at all: a
        number from one sentence with the unit of another ("63.2 billion"), or a run of
        digits that breaks down into a loop. Those are searched again among the copies of
        the passage (and the abstention), for the one the model finds most likely; a
        backend that cannot search keeps its answer, for grounding to judge. A paraphrase
        of the passage ("30 states" for "30 U.S. states") is kept: searching it again
        turned more such answers into abstentions than it made right (bench/qa_bench.py).
        """
        completion = self.llm.complete(prompt, self.generation)
        if not self.sequence.copy_search:
            return completion
        text = clean_answer(completion.text)
        if abstains(text) and not completion.looped:
            return completion
        if text and not abstains(text) and ground(text, (passage,)).grounded:
            return completion  # its words are the passage's, if not always in its order
        copied = self.llm.copy(prompt, CopyFrom((passage.text,), (NOT_FOUND,)), self.generation)
        return completion if copied is None else copied

    def _settled(self, choice: Choice, unread: float) -> bool:
        """Whether the passages not yet read cannot change the answer (votes.settled).

        Thorough decoding scores after all passages are read, so it always reads them all.
        """
        if self.sequence.thorough:
            return False
        return settled(choice, unread, self.settings.min_confidence, self.sequence.abstain_ratio)

    def choose(
        self,
        question: str,
        prompts: list[Prompt],
        passages: Sequence[Passage],
        completions: list[Completion],
        groundings: dict[str, Grounding] | None = None,
    ) -> Choice:
        """Pick the best answer from the completions of the first passages read.

        Weights p(z|x) come from all the passages, read or not, so marginals keep their
        scale as more passages are read. `groundings` keeps each answer's grounding between
        calls, so one answer is matched against the passages once.
        """
        grounding = memoised_grounding(passages, groundings)
        proposals = pool_proposals(question, completions, grounding)
        if self.sequence.thorough and len(completions) == len(prompts):
            score_everywhere(proposals, prompts, self.llm.score)
        weights = self._prior(passages)
        return choose_by_marginal(proposals, weights, passages, grounding)

    def _prior(self, passages: Sequence[Passage]) -> list[float]:
        """p(z|x) over these passages (votes.retrieval_prior)."""
        return retrieval_prior([p.score for p in passages], self.sequence.retrieval_temperature)

    def _prompt(self, question: str, passage: Passage) -> Prompt:
        return single_passage_prompt(question, passage, self.llm.has_chat_template)
