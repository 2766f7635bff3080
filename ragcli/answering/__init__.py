"""Ways of turning retrieved passages into a short, grounded answer, chosen by name.

`packed` gives the model all passages in one prompt and streams its answer; `sequence`
gives it one passage at a time and marginalises over them (RAG-Sequence). Both end in the
same grounding step: the exact span in a passage, the sentence around it, and a verdict.
"""
