"""Data in and out of a store: export of labeled samples, merging annotators' copies, and import of Inspect logs."""
