"""The LLM judge of scratchpads: its prompt, the parser of its replies, the vote over samples, the judgements
table, and the run that judges a store's samples."""
