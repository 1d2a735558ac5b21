"""The app's view settings and keymap: a TOML file at $AF_TUI_CONFIG, else ~/.config/af-tui/config.toml.

    [view]
    theme = "textual-dark"      # any Textual theme name
    sync_scroll = true          # the pair view scrolls both tiers together
    show_stats = true

    [keys]                      # binding id = keys, comma-separated (ids: press F1 / see the README)
    "pairs.candidates" = "a,A"
    "pair.copy" = "y"

Everything else the app shows comes from the store; this file is the only thing it remembers.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from af_tui.errors import AfError


def config_path() -> Path:
    env = os.environ.get("AF_TUI_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "af-tui" / "config.toml"


@dataclass
class Config:
    theme: str | None = None
    sync_scroll: bool = True
    show_stats: bool = True
    keys: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The settings in the file (defaults when it does not exist); a broken file is a one-line AfError."""
    path = Path(path) if path else config_path()
    if not path.is_file():
        return Config(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AfError(f"cannot read the config file {path}: {exc}; fix or remove it") from None
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


def save_view(config: Config, **settings) -> None:
    """Remember view settings (theme, sync_scroll, show_stats) in the config file, keeping [keys]. Quietly
    does nothing when the file cannot be written: a view setting is not worth an error."""
    for name, value in settings.items():
        setattr(config, name, value)
    path = config.path or config_path()
    lines = ["# af-tui view settings and keymap (see the README)", "[view]"]
    if config.theme:
        lines.append(f"theme = {_toml_str(config.theme)}")
    lines.append(f"sync_scroll = {'true' if config.sync_scroll else 'false'}")
    lines.append(f"show_stats = {'true' if config.show_stats else 'false'}")
    lines.append("")
    lines.append("[keys]")
    lines += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in sorted(config.keys.items())]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # apps of several served tabs save at once
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
