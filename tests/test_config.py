"""The config file: where it lives, and saving a view setting keeps what the user wrote in it."""

from pathlib import Path

import platformdirs
import pytest

from af_tui.config import config_path, load_config, save_view

USER_FILE = """\
# my af-tui settings, kept by hand
[view]
sync_scroll = false  # the tiers scroll apart
my_note = "not af-tui's"

# remapped for my keyboard
[keys]
"pairs.candidates" = "A, ctrl+a"  # shift, then ctrl

[elsewhere]
answer = 42
"""


def test_saving_a_view_setting_keeps_comments_and_other_keys(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USER_FILE, encoding="utf-8")
    config = load_config(path)
    save_view(config, theme="nord")
    text = path.read_text(encoding="utf-8")
    for line in USER_FILE.splitlines():
        assert line in text, line
    assert text.index("# remapped for my keyboard") > text.index('theme = "nord"')  # not under the wrong table
    again = load_config(path)
    assert again.theme == "nord" and again.sync_scroll is False and again.keys == {"pairs.candidates": "A,ctrl+a"}
    save_view(again, theme=None, sync_scroll=True)
    again = load_config(path)
    assert again.theme is None and again.sync_scroll is True
    assert "# the tiers scroll apart" in path.read_text(encoding="utf-8")


def test_a_new_config_file_is_written_whole(tmp_path):
    path = tmp_path / "folder" / "config.toml"
    config = load_config(path)
    config.keys = {"pair.copy": "y"}
    save_view(config, show_stats=False)
    again = load_config(path)
    assert (again.show_stats, again.sync_scroll, again.keys) == (False, True, {"pair.copy": "y"})
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary file left behind


def test_config_path_env_first_then_the_user_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AF_TUI_CONFIG", str(tmp_path / "mine.toml"))
    assert config_path() == tmp_path / "mine.toml"
    monkeypatch.delenv("AF_TUI_CONFIG")
    assert config_path() == Path(platformdirs.user_config_dir("af-tui", appauthor=False)) / "config.toml"


def test_a_config_file_this_user_may_not_reach_is_one_line(tmp_path, monkeypatch):
    """A config path whose folder may not be entered (stat fails) is a one-line AfError for the app and the
    prices alike, not a traceback."""
    import pathlib

    from af_tui.config import price_table
    from af_tui.errors import AfError

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "is_file", denied)
    for read in (load_config, price_table):
        with pytest.raises(AfError, match="cannot read the config file .*Permission denied"):
            read(tmp_path / "config.toml")
