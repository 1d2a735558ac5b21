"""A run's record must describe its samples: the settings that shape a sample, compared between a stored run's
config and a command resuming it, and the config a resume stores (the run's models kept, new ones added)."""

from __future__ import annotations

from pathlib import PurePath

from af_tui.domain import LEGACY_RULE
from af_tui.experiment.setting import HELPFUL_ONLY, stored_sha256


def _shown(value, quoted: bool = False) -> str:
    """A setting's value as the refusal line shows it: a text quoted if asked (a prefill), nothing as `none`."""
    if value is None or value == "":
        return "none"
    return repr(value) if quoted and isinstance(value, str) else str(value)


def _file(entry) -> tuple[str | None, str | None]:
    """(name, sha256) of a stored or new dataset/template entry; (None, None) when the config lacks it."""
    if not isinstance(entry, dict):
        return None, None
    return entry.get("name"), entry.get("sha256")


def _file_change(label: str, old, new) -> str | None:
    (old_name, old_sha), (new_name, new_sha) = _file(old), _file(new)
    if not old_sha or not new_sha or old_sha == new_sha:
        return None
    if old_name == new_name:  # same name, other content: the hashes tell them apart
        return f"{label} {old_name} ({old_sha[:8]}) → {new_name} ({new_sha[:8]})"
    return f"{label} {old_name} → {new_name}"


def _variants(variants: list[dict]) -> str:
    """The system prompts by name and the start of their hash (two texts may share a file name)."""
    return ",".join(f"{v.get('name')} ({str(v.get('sha256'))[:8]})" for v in variants)


def _per_model(stored, models: list[str]) -> dict:
    """A per-model setting as stored: a dict by model, or (older runs) one value for every model; {} if absent
    or unknown (None)."""
    if isinstance(stored, dict):
        return stored
    if stored is None or isinstance(stored, list | bool):
        return {}
    return dict.fromkeys(models, stored)


def _model_change(label: str, old: dict, new: dict, models: list[str], quoted: bool = False) -> str | None:
    changed = [(m, old[m], new[m]) for m in models if m in old and m in new and old[m] != new[m]]
    if not changed:
        return None
    if len({(o, n) for _, o, n in changed}) == 1 and len(changed) == len([m for m in models if m in old]):
        return f"{label} {_shown(changed[0][1], quoted)} → {_shown(changed[0][2], quoted)}"
    return ", ".join(f"{label} {m} {_shown(o, quoted)} → {_shown(n, quoted)}" for m, o, n in changed)


def stored_models(config: dict) -> list[str]:
    """The models a run's config names (strings only; an odd config names none)."""
    models = config.get("models")
    return [m for m in models if isinstance(m, str)] if isinstance(models, list) else []


def _setting_name(config: dict) -> str:
    stored = config.get("setting")
    return str(stored.get("name")) if isinstance(stored, dict) else HELPFUL_ONLY.name


def changed_settings(stored: dict, new: dict) -> list[str]:
    """`temperature 1.0 → 0.5` for each setting that shapes a sample (dataset, user template, system prompts,
    temperature, max_tokens, prefill, outcome rule, reasoning options, the setting by its hash) and differs between the stored run's
    config and the new one. Models of only one side are not compared: adding a model is a resume. A field an
    older run's config lacks is not compared, except those whose absence had one meaning: no rule was the
    last-scratchpad rule, no reasoning option was none."""
    changes = [_file_change("dataset", stored.get("dataset"), new.get("dataset")),
               _file_change("user template", stored.get("template"), new.get("template"))]
    old_variants, new_variants = stored.get("variants"), new.get("variants") or []
    if isinstance(old_variants, list) and all(isinstance(v, dict) and v.get("sha256") for v in old_variants):
        if {v["sha256"] for v in old_variants} != {v["sha256"] for v in new_variants}:
            changes.append("system prompt " + _variants(old_variants) + " → " + _variants(new_variants))
    old_t = stored.get("temperature")
    if isinstance(old_t, int | float) and not isinstance(old_t, bool) and float(old_t) != float(new["temperature"]):
        changes.append(f"temperature {old_t} → {new['temperature']}")
    shared = [m for m in new.get("models", []) if m in stored_models(stored)]
    changes.append(_model_change("max_tokens", _per_model(stored.get("max_tokens"), shared),
                                 new.get("max_tokens") or {}, shared))
    old_prefill = stored.get("prefill_text")
    if isinstance(old_prefill, dict):
        changes.append(_model_change("prefill", old_prefill, new.get("prefill_text") or {}, shared, quoted=True))
    old_setting, new_setting = stored_sha256(stored), stored_sha256(new)
    if old_setting and new_setting and old_setting != new_setting:
        changes.append(f"setting {_setting_name(stored)} ({old_setting[:8]}) → {_setting_name(new)} "
                       f"({new_setting[:8]})")
    old_rule = stored.get("rule") or str(LEGACY_RULE)
    if old_rule != new.get("rule"):
        changes.append(f"rule {old_rule} → {new.get('rule')}")
    for key in ("reasoning_effort", "thinking_budget"):
        if stored.get(key) != new.get(key):
            changes.append(f"{key.replace('_', '-')} {_shown(stored.get(key))} → {_shown(new.get(key))}")
    return [c for c in changes if c]


def resumed_config(stored: dict, new: dict) -> dict:
    """The config a resume stores: the new session's, keeping the run's models (and their per-model settings)
    that this session does not name and its largest extent (epochs, limit, requests), so that the record
    still describes every sample of the run. The live throttling state belongs to the session that wrote it."""
    config = {**{k: v for k, v in stored.items() if k != "live"}, **new}
    if _same_setting(stored, new):  # the hash leaves the name out: the run keeps the setting it was drawn under
        config["setting"] = stored["setting"]
    old_models = stored_models(stored)
    config["models"] = old_models + [m for m in new.get("models", []) if m not in old_models]
    for key in ("max_tokens", "prefill_text"):
        if isinstance(stored.get(key), dict) and isinstance(new.get(key), dict):
            config[key] = {**stored[key], **new[key]}
    if isinstance(stored.get("epochs"), int) and isinstance(new.get("epochs"), int):
        config["epochs"] = max(stored["epochs"], new["epochs"])
    if "limit" in stored:
        old, now = stored.get("limit"), new.get("limit")
        config["limit"] = None if old is None or now is None else max(old, now)
    old_n = stored.get("dataset", {}).get("requests") if isinstance(stored.get("dataset"), dict) else None
    if isinstance(old_n, int) and isinstance(new.get("dataset"), dict):
        config["dataset"] = {**new["dataset"], "requests": max(old_n, new["dataset"].get("requests") or 0)}
    return config


def _same_setting(stored: dict, new: dict) -> bool:
    """Whether the stored run's setting record and the new one read the same (equal hashes)."""
    old, now = stored.get("setting"), new.get("setting")
    return (isinstance(old, dict) and isinstance(now, dict) and isinstance(old.get("sha256"), str)
            and old.get("sha256") == now.get("sha256"))


def kept_setting_note(name: str, stored: dict, new: dict) -> str | None:
    """The line that says a resume keeps the run's setting (resumed_config) though the new one is named
    otherwise; None when the names agree or the settings differ (check_resumable refuses those)."""
    if not _same_setting(stored, new) or stored["setting"].get("name") == new["setting"].get("name"):
        return None
    origin = str(new["setting"].get("origin"))
    given = f"the built-in {new['setting'].get('name')}" if origin == "built-in" else PurePath(origin).name
    return f"af-tui: resuming run {name!r} under its setting {stored['setting'].get('name')!r} (same reading as {given})"


def refusal(name: str, changes: list[str]) -> str:
    """The one line that refuses a resume under other settings: what differs and the way out."""
    return (f"run {name!r} holds samples drawn with other settings ({'; '.join(changes)}); nothing was written. "
            f"Give the run's own settings to resume it, or name a new run with --run NEW")
