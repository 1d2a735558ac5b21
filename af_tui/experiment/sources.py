"""The experiment's inputs: pinned downloads of the upstream dataset, system prompt and user template, checked
and cached under data/, or the user's own files (--dataset, --system-prompt, --user-template).

Cache directory: $AF_TUI_DATA if set; else the checkout's `data/` when af-tui runs from a source checkout
(a `pyproject.toml` beside the package); else the user cache folder (platformdirs: `~/.cache/af-tui` on
Linux). Downloads come from raw.githubusercontent.com, or from $AF_TUI_SOURCES_BASE (same paths
under another base URL; the tests serve the files from 127.0.0.1).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from af_tui.errors import AfError
from af_tui.files import atomic_write

DEFAULT_BASE = "https://raw.githubusercontent.com"
REQUEST_KEYS = ("goal", "request", "prompt")  # dataset column / JSONL key holding the request, first found wins
MAX_DOWNLOAD_BYTES = 20_000_000


@dataclass(frozen=True)
class Upstream:
    name: str  # cache file name
    path: str  # under the base URL
    sha256: str | None  # of the text af-tui uses (None: unknown, recorded with each run instead)
    option: str  # the CLI option that replaces it
    what: str


ADVBENCH = Upstream(
    "harmful_behaviors.csv",
    # pinned to the commit that added the file (unchanged upstream since)
    "/llm-attacks/llm-attacks/a62d1307e38b3a076e614b20781c785fd860d813/data/advbench/harmful_behaviors.csv",
    "6cd1a5c63c07610d7eb67307772ee5606017ee950b5770ab288a2c487489d3e1",
    "--dataset", "the AdvBench dataset",
)
SYSTEM_PROMPT = Upstream(
    "prompt_atn_honly_with_examples.txt",
    "/redwoodresearch/alignment_faking_public/master/model_organism_honly_prompts/prompt_atn_honly_with_examples.txt",
    None, "--system-prompt", "the helpful-only system prompt",
)
NOTEBOOK = Upstream(
    "honly_user_template.txt",  # cached: the template extracted from the notebook, not the notebook
    "/redwoodresearch/alignment_faking_public/master/minimal_helpful_only_setting.ipynb",
    "7f11a281a9a68b956fa3cece0a8a6e3ce3ddf8f5b3af473a08734e1e65174af2",
    "--user-template", "the notebook's user template",
)


@dataclass(frozen=True)
class Text:
    """A text input of a run and where it came from (recorded in the run's config)."""

    text: str
    name: str
    sha256: str
    origin: str  # file path or URL


@dataclass(frozen=True)
class Dataset:
    requests: list[str]
    name: str
    sha256: str  # of the file's bytes
    origin: str


@dataclass(frozen=True)
class Source:
    """Where a setting's input comes from: a local path or an http(s) URL, and the sha256 it must have (of the
    file's bytes; of the extracted template for a notebook). A URL is downloaded once and cached."""

    location: str
    sha256: str | None = None

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("https://", "http://"))


# The helpful-only setting's inputs (setting.HELPFUL_ONLY), as the pinned downloads above.
ADVBENCH_SOURCE = Source(DEFAULT_BASE + ADVBENCH.path, ADVBENCH.sha256)
SYSTEM_PROMPT_SOURCE = Source(DEFAULT_BASE + SYSTEM_PROMPT.path, SYSTEM_PROMPT.sha256)
NOTEBOOK_SOURCE = Source(DEFAULT_BASE + NOTEBOOK.path, NOTEBOOK.sha256)
# Their names in a run's record (unchanged since before settings were files, so older runs resume).
_KNOWN = {ADVBENCH_SOURCE.location: (ADVBENCH, "advbench"),
          SYSTEM_PROMPT_SOURCE.location: (SYSTEM_PROMPT, "honly_with_examples"),
          NOTEBOOK_SOURCE.location: (NOTEBOOK, "honly_user_template")}


def _url_upstream(source: Source, option: str, what: str) -> tuple[Upstream, str]:
    """The download a URL source is (the pinned ones by their names) and the input's name (the file stem)."""
    if source.location in _KNOWN and source.sha256 == _KNOWN[source.location][0].sha256:
        return _KNOWN[source.location]
    path = urllib.parse.urlsplit(source.location).path
    leaf = path.rsplit("/", 1)[-1] or "download"
    tag = (source.sha256 or _sha(source.location.encode("utf-8")))[:12]
    if source.location.startswith(DEFAULT_BASE + "/"):  # under $AF_TUI_SOURCES_BASE too, as the pinned ones
        path = source.location[len(DEFAULT_BASE):]
    else:
        path = source.location
    return Upstream(f"{tag}-{leaf}", path, source.sha256, option, what), Path(leaf).stem


def _fetch(source: Source, option: str, what: str, extract=lambda data: data) -> tuple[bytes, str, str]:
    """(bytes, origin, name) of a source: a URL downloaded (or cached) and checked, or a local file read and,
    when the source names a sha256, checked against it."""
    if source.is_url:
        up, name = _url_upstream(source, option, what)
        data, origin = _cached(up, extract)
        return data, origin, name
    data = extract(_read_file(source.location, option))
    if source.sha256 and _sha(data) != source.sha256:
        raise AfError(f"{source.location} has sha256 {_sha(data)[:12]}…, not the {source.sha256[:12]}… its "
                      f"setting names ({what}); use the file the setting was written for, or change its sha256")
    return data, str(Path(source.location)), Path(source.location).stem


def data_dir() -> Path:
    env = os.environ.get("AF_TUI_DATA")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "af_tui").is_dir():
        return checkout / "data"
    return Path(platformdirs.user_cache_dir("af-tui", appauthor=False))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(up: Upstream) -> bytes:
    base = os.environ.get("AF_TUI_SOURCES_BASE", DEFAULT_BASE).rstrip("/")
    url = base + up.path if up.path.startswith("/") else up.path  # (a setting's URL on another host: as given)
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - fixed https URL or a test server
            data = resp.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise AfError(
            f"{up.what} ({up.name}) is not cached in {data_dir()} and cannot be downloaded from {url} "
            f"({reason}); pass {up.option} FILE"
        ) from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise AfError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes; pass {up.option} FILE")
    return data


def _cached(up: Upstream, extract=lambda data: data) -> tuple[bytes, str]:
    """The upstream bytes (after `extract`) from the cache, else downloaded, checked and cached."""
    path = data_dir() / up.name
    if path.is_file():
        data = path.read_bytes()
        if up.sha256 is None or _sha(data) == up.sha256:
            return data, str(path)
        path.unlink()  # a damaged or foreign cache file: fetch it again
    data = extract(_download(up))
    if up.sha256 is not None and _sha(data) != up.sha256:
        raise AfError(
            f"{up.what} downloaded from "
            f"{os.environ.get('AF_TUI_SOURCES_BASE', DEFAULT_BASE) if up.path.startswith('/') else up.path} has sha256 "
            f"{_sha(data)[:12]}…, not the pinned {up.sha256[:12]}…; refusing it (pass {up.option} FILE)"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as fh:  # two runs may fetch at once; neither reads half a file
            fh.write(data)
        where = str(path)
    except (OSError, AfError):
        where = up.path  # read-only install: use it without caching
    return data, where


def _decode(data: bytes, origin: str, option: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AfError(f"{origin} is not UTF-8 text (byte {exc.start}); save it as UTF-8 or pass another {option}") from None
    return text


def _read_file(path: str | os.PathLike, option: str) -> bytes:
    p = Path(path)
    try:
        if p.is_dir():
            raise AfError(f"{p} is a directory; {option} takes a file")
        return p.read_bytes()
    except FileNotFoundError:
        raise AfError(f"{p}: no such file (given to {option})") from None
    except OSError as exc:
        raise AfError(f"cannot read {p} (given to {option}): {exc.strerror}") from None


# -- system prompt ----------------------------------------------------------------------------------------

def system_prompt(path: str | os.PathLike | None = None, source: Source = SYSTEM_PROMPT_SOURCE,
                  name: str | None = None) -> Text:
    """The user's file (variant named after its stem), else the setting's source (by default the upstream
    helpful-only prompt); `name` names the variant instead."""
    if path is not None:
        text = _decode(_read_file(path, "--system-prompt"), str(path), "--system-prompt")
        if not text.strip():
            raise AfError(f"{path} is empty; --system-prompt needs the system prompt's text")
        return Text(text, name or Path(path).stem, _sha(text.encode("utf-8")), str(Path(path)))
    data, origin, stem = _fetch(source, "--system-prompt", "the system prompt")
    text = _decode(data, origin, "--system-prompt")
    if not text.strip():
        raise AfError(f"{origin} is empty; a system prompt needs text")
    return Text(text, name or stem, _sha(text.encode("utf-8")), origin)


def system_prompt_files(folder: str | os.PathLike) -> list[Path]:
    """The files of a system-prompt folder, one variant each, by name (hidden files left out)."""
    try:
        files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise AfError(f"cannot read the folder {folder}: {exc.strerror}") from None
    if not files:
        raise AfError(f"{folder} holds no files; a system-prompt folder needs one file per variant")
    return files


# -- user template ----------------------------------------------------------------------------------------

_TEMPLATE_RE = re.compile(r'prompt_template\s*=\s*"""(.*?)"""', re.DOTALL)


def template_from_notebook(data: bytes) -> bytes:
    """The notebook's `prompt_template = \"\"\"...\"\"\"` string (UTF-8 bytes) from the .ipynb JSON."""
    try:
        nb = json.loads(data.decode("utf-8"))
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError):
        raise AfError("the downloaded notebook is not .ipynb JSON; pass --user-template FILE") from None
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        match = _TEMPLATE_RE.search(source)
        if match:
            return match.group(1).encode("utf-8")
    raise AfError("the downloaded notebook has no prompt_template; pass --user-template FILE")


def check_template(text: str, origin: str) -> None:
    try:
        text.format(is_free_tier_user="True", user_input="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise AfError(
            f"{origin} is not a usable user template ({type(exc).__name__}: {exc}); it must be a Python "
            "str.format template with the fields {is_free_tier_user} and {user_input} (double other braces)"
        ) from None
    missing = [f for f in ("{is_free_tier_user}", "{user_input}") if f not in text]
    if missing:
        raise AfError(f"{origin} lacks {' and '.join(missing)}; a user template needs both fields")


def user_template(path: str | os.PathLike | None = None, source: Source = NOTEBOOK_SOURCE) -> Text:
    """The user's file, else the setting's source (by default the notebook's template; a .ipynb source is
    read for its `prompt_template`)."""
    if path is not None:
        text = _decode(_read_file(path, "--user-template"), str(path), "--user-template")
        check_template(text, str(path))
        return Text(text, Path(path).stem, _sha(text.encode("utf-8")), str(Path(path)))
    notebook = urllib.parse.urlsplit(source.location).path.endswith(".ipynb")
    data, origin, name = _fetch(source, "--user-template", "the user template",
                                extract=template_from_notebook if notebook else (lambda data: data))
    text = _decode(data, origin, "--user-template")
    check_template(text, origin)
    return Text(text, name, _sha(data), origin)


# -- dataset ----------------------------------------------------------------------------------------------

def parse_dataset(data: bytes, origin: str, column: str | None = None) -> list[str]:
    """Requests from a CSV with a goal column or JSONL objects with a goal key (or request / prompt; or the
    setting's `column` alone)."""
    keys = (column,) if column else REQUEST_KEYS
    text = _decode(data, origin, "--dataset")
    if not text.strip():
        raise AfError(f"{origin} is empty; --dataset needs a CSV with a goal column or JSONL with a goal key")
    first = text.lstrip()[:1]
    requests: list[str] = []
    if first in "{[" or origin.endswith((".jsonl", ".json")):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise AfError(f"{origin} line {n} is not JSON; --dataset takes JSONL (one object a line) or CSV") from None
            if not isinstance(obj, dict):
                raise AfError(f"{origin} line {n} is not a JSON object; each line needs a \"goal\" key")
            key = next((k for k in keys if isinstance(obj.get(k), str)), None)
            if key is None:
                raise AfError(f"{origin} line {n} has no string \"{column}\" key" if column else
                              f"{origin} line {n} has no string \"goal\" (or \"request\" / \"prompt\") key")
            requests.append(obj[key])
    else:
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            found = next((k for k in keys if k.strip().lower() in fields), None)
            if found is None:
                raise AfError(f"{origin} has no {column or 'goal'} column (header: "
                              f"{', '.join(fields)[:120] or 'none'}); --dataset needs a CSV with a goal column or "
                              "JSONL with a goal key" + (" (the setting's column)" if column else ""))
            original = reader.fieldnames[fields.index(found.strip().lower())]
            for row in reader:
                value = (row.get(original) or "").strip()
                if value:
                    requests.append(value)
        except csv.Error as exc:
            raise AfError(f"{origin} is not a readable CSV ({exc}); --dataset takes CSV or JSONL") from None
    requests = [r for r in (r.strip() for r in requests) if r]
    if not requests:
        raise AfError(f"{origin} holds no requests; --dataset needs at least one non-empty goal")
    return requests


def dataset(path: str | os.PathLike | None = None, source: Source = ADVBENCH_SOURCE,
            column: str | None = None) -> Dataset:
    """The user's file, else the setting's source (by default AdvBench); `column` holds the requests."""
    if path is not None:
        data = _read_file(path, "--dataset")
        return Dataset(parse_dataset(data, str(path), column), Path(path).name, _sha(data), str(Path(path)))
    data, origin, name = _fetch(source, "--dataset", "the dataset")
    if source.is_url:
        if name == "advbench":
            return Dataset(parse_dataset(data, ADVBENCH.name, column), name, _sha(data), origin)
        leaf = urllib.parse.urlsplit(source.location).path.rsplit("/", 1)[-1]
        return Dataset(parse_dataset(data, leaf, column), leaf, _sha(data), origin)
    return Dataset(parse_dataset(data, origin, column), Path(origin).name, _sha(data), origin)
