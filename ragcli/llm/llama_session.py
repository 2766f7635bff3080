"""llama.cpp's cache as the token session decoding works on, with a sequence a branch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragcli.llm.branching import BranchStep, BranchTable


class LlamaSession:
    """The few llama.cpp calls greedy decoding needs, over one loaded model."""

    def __init__(self, llama: Any) -> None:
        self._llama = llama
        self._branches: BranchTable | None = None

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def detokenize(self, tokens: list[int]) -> bytes:
        return bytes(self._llama.detokenize(tokens))

    def is_end(self, token: int) -> bool:
        return (
            bool(self._llama._model.token_is_eog(token))
            if hasattr(self._llama._model, "token_is_eog")
            else token == self._llama.token_eos()
        )

    def evaluate(self, tokens: list[int], logits_from: int) -> Any:
        """Extend the cached tokens to `tokens`; return logits of positions logits_from.. .

        The longest prefix already in the cache is kept (so the instructions and worked
        examples are evaluated once per process, a passage once per question).
        """
        import llama_cpp
        import numpy as np

        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens].tolist()
        keep = 0
        limit = min(len(cached), logits_from, len(tokens) - 1)
        while keep < limit and cached[keep] == tokens[keep]:
            keep += 1
        if not llama._ctx.kv_cache_seq_rm(-1, keep, -1):
            # A cache that cannot drop its tail (sliding-window layers) starts over.
            llama._ctx.kv_cache_seq_rm(-1, 0, -1)
            keep = 0
        llama.n_tokens = keep
        rows = []
        vocab = llama.n_vocab()
        for start in range(keep, len(tokens), llama.n_batch):
            batch = tokens[start : start + llama.n_batch]
            llama._batch.set_batch(batch=batch, n_past=start, logits_all=False)
            wanted = [i for i in range(len(batch)) if start + i >= logits_from]
            for i in wanted:
                llama._batch.batch.logits[i] = True
            llama._ctx.decode(llama._batch)
            llama.input_ids[start : start + len(batch)] = batch
            llama.n_tokens = start + len(batch)
            for i in wanted:
                pointer = llama_cpp.llama_get_logits_ith(llama._ctx.ctx, i)
                rows.append(np.ctypeslib.as_array(pointer, shape=(vocab,)).copy())
        return np.stack(rows) if rows else np.zeros((0, vocab), dtype=np.float32)

    def evaluate_branches(self, head: list[int], branches: list[tuple[int, ...]]) -> list[Any]:
        """Return the logits row after head + each branch, all branches in one batch.

        Each branch is held in a sequence of its own, made from its parent's cells, so a
        beam search's step evaluates one token a hypothesis. The head (and a context with
        one sequence) goes through evaluate, which keeps the longest cached prefix.
        """
        table = self._branches
        if table is None or table.head != tuple(head) or not all(branches):
            return self._evaluate_one_by_one(head, branches)
        if len(branches) > table.capacity():
            return self._evaluate_one_by_one(head, branches)
        import llama_cpp

        llama = self._llama
        memory = llama_cpp.llama_get_memory(llama._ctx.ctx)
        steps = table.plan(branches)
        for step in steps:
            llama_cpp.llama_memory_seq_cp(memory, step.parent, step.sequence, -1, -1)
        for sequence in table.commit(steps):
            llama_cpp.llama_memory_seq_rm(memory, sequence, -1, -1)
        return self._decode_steps(steps)

    def _evaluate_one_by_one(self, head: list[int], branches: list[tuple[int, ...]]) -> list[Any]:
        """Evaluate each branch after head in sequence 0; hold the head when it is last."""
        self.end_branches()
        rows = []
        for branch in branches:
            tokens = [*head, *branch]
            rows.append(self.evaluate(tokens, len(tokens) - 1)[-1])
        if branches and branches[-1] == ():
            import llama_cpp

            from ragcli.llm.branching import BranchTable

            sequences = int(llama_cpp.llama_n_seq_max(self._llama._ctx.ctx))
            self._branches = BranchTable(head, sequences)
        return rows

    def _decode_steps(self, steps: list[BranchStep]) -> list[Any]:
        """Decode the steps' tokens in one batch; return the row after each step's last."""
        import llama_cpp
        import numpy as np

        llama = self._llama
        batch = llama._batch.batch
        last = []
        count = 0
        for step in steps:
            for offset, token in enumerate(step.tokens):
                batch.token[count] = token
                batch.pos[count] = step.start + offset
                batch.n_seq_id[count] = 1
                batch.seq_id[count][0] = step.sequence
                batch.logits[count] = offset == len(step.tokens) - 1
                count += 1
            last.append(count - 1)
        batch.n_tokens = count
        llama._ctx.decode(llama._batch)
        vocab = llama.n_vocab()
        return [
            np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llama._ctx.ctx, i), shape=(vocab,)
            ).copy()
            for i in last
        ]

    def end_branches(self) -> None:
        """Drop the branches' sequences; sequence 0 keeps the head for evaluate."""
        if self._branches is None:
            return
        import llama_cpp

        memory = llama_cpp.llama_get_memory(self._llama._ctx.ctx)
        for sequence in self._branches.held():
            llama_cpp.llama_memory_seq_rm(memory, sequence, -1, -1)
        self._branches = None


def allow_branches(llama: Any, sequences: int) -> None:
    """Give the model a context whose cache holds `sequences` sequences sharing its cells.

    llama-cpp-python makes a one-sequence context; this one, unified (every sequence may use
    all of n_ctx), lets a copy search keep a hypothesis a sequence. It costs a second
    context's set-up (tens of milliseconds) and a full-size sliding-window cache.
    """
    import llama_cpp
    from llama_cpp._internals import LlamaContext

    params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
    params.n_seq_max = sequences
    params.kv_unified = True
    context = LlamaContext(model=llama._model, params=params, verbose=False)
    previous, llama._ctx, llama.context_params = llama._ctx, context, params
    previous.close()
