"""The LLM client: one completion call over litellm with af-tui's retry policy and reachability check, and the
simulated providers (`sim/...`) that answer offline for the demo and the tests."""
