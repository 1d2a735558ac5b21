"""The experiment: the setting's pure rules (rules.py), where its texts come from (sources.py), and the runner
that sends every request once per tier through the LLM client and streams each sample into the store."""
