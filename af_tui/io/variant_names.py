"""The name an imported system prompt is stored under (Inspect logs and pipeline result files alike)."""

from __future__ import annotations

from af_tui.errors import AfError
from af_tui.store.db import Store


def variant_name(store: Store, text: str, digest: str, given: str | None = None) -> str:
    """A system prompt the store already knows keeps its name; one af-tui's export named keeps that name; the
    cached upstream prompt keeps its own; any other is named after its hash."""
    row = store.conn.execute("SELECT name FROM variants WHERE sha256 = ? ORDER BY name LIMIT 1", (digest,)).fetchone()
    if row:
        return row[0]
    if given:
        return given  # (ensure_variant appends the hash if another text holds the name here)
    try:
        from af_tui.experiment import sources

        if (sources.data_dir() / sources.SYSTEM_PROMPT.name).is_file():
            known = sources.system_prompt()  # cached: no download
            if known.sha256 == digest:
                return known.name
    except (AfError, OSError):
        pass
    return f"sha256-{digest[:12]}" if text else "no-system-prompt"
