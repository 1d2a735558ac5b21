"""Numbers a paper reports: estimators and intervals, statistics per slice, agreement between annotators,
the judge against people, and the figure."""
