"""The Textual app: explorer, labeling, statistics. It reads the store and never calls a model."""
