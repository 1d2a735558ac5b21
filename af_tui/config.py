"""The app's view settings and keymap: a TOML file at $AF_TUI_CONFIG, else config.toml in the user's config
folder (platformdirs: ~/.config/af-tui on Linux, ~/Library/Application Support/af-tui on macOS).

    [view]
    theme = "textual-dark"      # any Textual theme name
    sync_scroll = true          # the pair view scrolls both tiers together
    show_stats = true

    [keys]                      # binding id = keys, comma-separated (ids: press F1 / see the README)
    "pairs.filters" = "f,ctrl+f"
    "pair.copy" = "y"

    [prices]                    # USD per million tokens, for models litellm's cost map does not price
    "anthropic/claude-3-opus-20240229" = [15, 75]          # input, output
    "openai/my-model" = [1, 2, 0.5, 1]                     # and the batch API's input, output

Everything else the app shows comes from the store; this file is the only thing it remembers. The app reads
[view] and [keys]; `af-tui run` and `af-tui judge` read [prices] (price_table).
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from af_tui.errors import AfError
from af_tui.files import atomic_write


def config_path() -> Path:
    env = os.environ.get("AF_TUI_CONFIG")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("af-tui", appauthor=False)) / "config.toml"


@dataclass
class Config:
    theme: str | None = None
    sync_scroll: bool = True
    show_stats: bool = True
    keys: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def _read(path: Path) -> dict | None:
    """The config file's TOML, None when there is no file; a file that cannot be read (a folder on the way that
    this user may not enter included) is a one-line AfError."""
    try:
        if not path.is_file():
            return None
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AfError(f"cannot read the config file {path}: {exc}; fix or remove it") from None


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The settings in the file (defaults when it does not exist); a broken file is a one-line AfError."""
    path = Path(path) if path else config_path()
    data = _read(path)
    if data is None:
        return Config(path=path)
    view = data.get("view", {})
    keys = data.get("keys", {})
    if not isinstance(view, dict) or not isinstance(keys, dict):
        raise AfError(f"{path}: [view] and [keys] must be tables; fix or remove the file")
    bad = [k for k, v in keys.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise AfError(f"{path}: [keys] {bad[0]!r} must be a string of keys such as \"a,ctrl+a\"")
    return Config(
        theme=view.get("theme") if isinstance(view.get("theme"), str) else None,
        sync_scroll=bool(view.get("sync_scroll", True)),
        show_stats=bool(view.get("show_stats", True)),
        keys={str(k): v.replace(" ", "") for k, v in keys.items()},
        path=path,
    )


def price_table(path: str | os.PathLike | None = None) -> tuple[dict[str, list], Path]:
    """The config file's [prices] as {model: [input, output(, batch input, batch output)]} in USD per million
    tokens, as written (llm.pricing checks the numbers), and the file's path. Read apart from load_config, so
    that a mistyped price stops a run, never the app."""
    path = Path(path) if path else config_path()
    data = _read(path)
    if data is None:
        return {}, path
    table = data.get("prices", {})
    if not isinstance(table, dict):
        raise AfError(f"{path}: [prices] must be a table of \"MODEL\" = [INPUT, OUTPUT]")
    prices = {}
    for model, value in table.items():
        if isinstance(value, dict):  # { input = 15, output = 75 } (batch_input, batch_output optional)
            value = [value.get(k) for k in ("input", "output", "batch_input", "batch_output") if k in value]
        if not isinstance(value, list):
            raise AfError(f"{path}: [prices] {model!r} must be [INPUT, OUTPUT] in USD per million tokens")
        prices[str(model)] = value
    return prices, path


def save_view(config: Config, **settings) -> Path | None:
    """Remember view settings (theme, sync_scroll, show_stats) in the config file and return its path. The
    rest of the file (the user's comments, [keys], other keys) is kept as written. Returns None when the file
    cannot be written: a view setting is not worth an error."""
    import tomlkit  # only when saving: the app starts without it

    for name, value in settings.items():
        setattr(config, name, value)
    path = config.path or config_path()
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError):
        doc = tomlkit.document()  # none yet, or broken (load_config said so): start afresh
        doc.add(tomlkit.comment("af-tui view settings and keymap (see the README)"))
    view = _table(doc, "view")
    wanted = {"theme": config.theme or None, "sync_scroll": config.sync_scroll, "show_stats": config.show_stats}
    for name, value in wanted.items():
        if value is None:
            view.pop(name, None)
        elif view.get(name) != value:  # untouched lines keep their comments
            _put(view, name, value)
    keys = _table(doc, "keys")
    for name in [k for k in keys if k not in config.keys]:
        del keys[name]
    for name, value in config.keys.items():
        if not isinstance(keys.get(name), str) or keys[name].replace(" ", "") != value:
            _put(keys, name, value)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as fh:  # apps of several served tabs may save at once
            fh.write(tomlkit.dumps(doc))
    except (OSError, AfError):
        return None
    return path


def _put(table, name: str, value) -> None:
    """Set a key; a new one goes after the table's last key, not below the blank lines and comments that
    head the next table (which tomlkit keeps at the end of this one)."""
    body = table.value.body
    keyed = [i for i, (key, _) in enumerate(body) if key is not None]
    if name in table or not keyed or keyed[-1] == len(body) - 1:
        table[name] = value
    else:
        table.value._insert_at(keyed[-1] + 1, name, value)


def _table(doc, name: str):
    """The document's table `name`, added when missing (or when the file had a non-table there)."""
    import tomlkit

    if not isinstance(doc.get(name), dict):
        doc.pop(name, None)
        doc.add(name, tomlkit.table())
    return doc[name]


def resolve_annotator(name: str | None = None) -> str:
    """--annotator, else $AF_TUI_ANNOTATOR, else the login name."""
    if name and name.strip():
        return name.strip()
    env = os.environ.get("AF_TUI_ANNOTATOR", "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "annotator"
