"""The pairs list: one line per request asked on both tiers, virtualised like toolong's log view.

It holds only the filtered pair ids (an array of 8-byte ints); the lines in view are fetched by a worker
(`NeedPage` → `PageLoaded`) and kept in an LRU cache, so a 200k-sample store costs what a 100-sample one does.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from af_tui.domain import OUTCOME_BADGE, Outcome, Tier
from af_tui.explorer.pair_ids import position_of
from af_tui.explorer.pairs import PairRow
from af_tui.safe_text import inert, one_line
from af_tui.tui.messages import NeedPage

ROW_CACHE = 4096  # pair rows kept (a few pages each way)
BADGE_STYLE = {
    Outcome.COMPLIED: "bold #000000 on #e0b000",
    Outcome.REFUSED: "bold #ffffff on #2f6fb8",
    Outcome.FORMAT_NOT_FOLLOWED: "bold #000000 on #a0a0a0",
    Outcome.ERROR: "bold #ffffff on #c02020",
    Outcome.BLOCKED: "bold #ffffff on #7030a0",
    None: "dim",
}


def badge(outcome: str | None) -> Text:
    return Text(f" {OUTCOME_BADGE.get(outcome, '?')} ", style=BADGE_STYLE.get(outcome, "dim"))


COLUMNS = ((" #", 7), (Tier.FREE.value, 4), (Tier.PAID.value, 4), ("model", 22), ("variant", 14), ("marks", 7))
WIDE = 140  # below this many columns, model and variant give room to the request (cut with …)


def columns(width: int | None = None) -> tuple[tuple[str, int], ...]:
    """The list's columns at a terminal width; the request takes what is left."""
    if width is None or width >= WIDE:
        return COLUMNS
    narrow = {"model": 16 if width >= 100 else 12, "variant": 9 if width >= 100 else 7}
    return tuple((title, narrow.get(title, w)) for title, w in COLUMNS)


def header_text(width: int | None = None) -> Text:
    text = Text(" ")
    for title, w in columns(width):
        text.append(title.ljust(w)[:w] + " ", style="bold")
    text.append("request", style="bold")
    return text


def _fit(value: str, width: int) -> str:
    value = one_line(value, width + 1)
    return (value[: width - 1] + "…") if len(value) > width else value.ljust(width)


def row_text(pair_id: int, row: PairRow | None, width: int | None = None, room: int | None = None) -> Text:
    """One line of the list, its columns for a list `width` wide, its request cut with … to `room` cells (the
    width less a scrollbar; default the width); `#` is the pair's id, the number the pair view, the label
    screen and the export use too."""
    room = width if room is None else room
    widths = dict(columns(width))
    text = Text(" ")
    text.append(f"{pair_id:>7} ", style="dim")
    if row is None:
        text.append("…", style="dim")
        return text
    text.append_text(badge(row.free_outcome))
    text.append("  ")
    text.append_text(badge(row.paid_outcome))
    text.append("  ")
    text.append(_fit(row.model, widths["model"]) + " ")
    text.append(_fit(row.variant, widths["variant"]) + " ", style="dim")
    text.append(_fit(row.marks, 7) + " ", style="bold magenta")
    request = Text(one_line(row.request, 240))
    if room is not None and text.cell_len + request.cell_len > room:
        request.truncate(max(room - text.cell_len, 1), overflow="ellipsis")  # cut visibly, never silently
    text.append_text(request)
    return text


class PairsList(ScrollView, can_focus=True):
    """Keyboard-first list of pairs; Enter opens the pair view."""

    DEFAULT_CSS = """
    PairsList { height: 1fr; }
    PairsList > .pairs-list--cursor { background: $accent 40%; text-style: bold; }
    PairsList:focus > .pairs-list--cursor { background: $accent; color: $text; }
    """
    COMPONENT_CLASSES = {"pairs-list--cursor"}
    BINDINGS = [
        Binding("down,j", "cursor(1)", "Next", show=False, id="pairs.next", tooltip="Next pair"),
        Binding("up,k", "cursor(-1)", "Previous", show=False, id="pairs.previous", tooltip="Previous pair"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="pairs.page_down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="pairs.page_up"),
        Binding("home,g", "first", "First", show=False, id="pairs.first", tooltip="First pair"),
        Binding("end,G", "last", "Last (follow)", show=False, id="pairs.last",
                tooltip="Last pair; new pairs are followed until you move up"),
        Binding("enter", "open", "Open", id="pairs.open", tooltip="Open the pair: free and paid side by side"),
    ]

    cursor = reactive(0, always_update=True, repaint=False)

    class Open(Message):
        def __init__(self, pair_id: int, position: int) -> None:
            super().__init__()
            self.pair_id = pair_id
            self.position = position

    class Moved(Message):
        def __init__(self, position: int) -> None:
            super().__init__()
            self.position = position

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ids: array = array("q")
        self.by_id = True  # ids ascend (the arrival order); another order keeps max_id for live updates
        self.max_id = 0
        self.count = 0  # rows of the list; more than len(ids) while the rest of the ids is on its way
        self.rows: OrderedDict[int, PairRow] = OrderedDict()
        self.follow = False
        self._asked: set[int] = set()
        self._want_page = False

    # -- data ------------------------------------------------------------------------------------------
    def set_ids(self, ids: array, keep_selection: bool = True, count: int | None = None,
                by_id: bool | None = None) -> None:
        """New filtered ids (`count`: how many there will be once all have come; `by_id`: whether they
        ascend, None: as before); the cursor stays on the same pair when it is still there."""
        current = self.current_id if keep_selection else None
        if by_id is not None and (by_id != self.by_id or ids is not self.ids):
            self.by_id = by_id
            self.max_id = 0 if by_id or not ids else max(ids)
        self.ids = ids
        self.count = max(len(ids), count or 0)
        position = 0
        if current is not None:
            position = self.position_of(current)
            if position is None:
                position = 0
        if self.follow and ids:
            position = len(ids) - 1
        self.virtual_size = Size(self.size.width, self.count)
        self.set_reactive(PairsList.cursor, min(position, max(len(ids) - 1, 0)))
        self._scroll_to_cursor()
        self.refresh()

    def position_of(self, pair_id: int) -> int | None:
        return position_of(self.ids, pair_id, self.by_id)

    def update_rows(self, rows: dict[int, PairRow]) -> None:
        for pair_id, row in rows.items():
            self.rows[pair_id] = row
            self.rows.move_to_end(pair_id)
            self._asked.discard(pair_id)
        while len(self.rows) > ROW_CACHE:
            self.rows.popitem(last=False)
        self.refresh()

    def forget(self, pair_ids) -> None:
        """These rows changed in the store: fetch them again when shown."""
        for pair_id in pair_ids:
            self.rows.pop(pair_id, None)
            self._asked.discard(pair_id)
        self.refresh()

    def visible_ids(self, margin: int = 0) -> list[int]:
        top = int(self.scroll_offset.y)
        start = max(top - margin, 0)
        end = min(top + self.size.height + margin, len(self.ids))
        return list(self.ids[start:end])

    @property
    def current_id(self) -> int | None:
        return self.ids[self.cursor] if 0 <= self.cursor < len(self.ids) else None

    # -- rendering -------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        position = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if position >= len(self.ids):
            if position < self.count:  # the rest of the ids is on its way
                return Strip([Segment("         …", base)]).crop_extend(scroll_x, scroll_x + width, base)
            return Strip.blank(width, base)
        pair_id = self.ids[position]
        row = self.rows.get(pair_id)
        if row is None and pair_id not in self._asked:
            self._ask_page()
        text = row_text(pair_id, row, width, room=self.scrollable_content_region.width)  # (less the scrollbar)
        if position == self.cursor:
            style = self.get_component_rich_style("pairs-list--cursor")
            text.stylize(style)
            base = base + style
        segments = [Segment(s.text, base + s.style if s.style else base) for s in text.render(self.app.console)
                    if "\n" not in s.text]
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, base)

    def _ask_page(self) -> None:
        if not self._want_page:
            self._want_page = True
            self.call_later(self._send_page_request)

    def _send_page_request(self) -> None:
        self._want_page = False
        wanted = [i for i in self.visible_ids(margin=self.size.height) if i not in self.rows]
        if wanted:
            self._asked.update(wanted)
            self.post_message(NeedPage(wanted))

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, self.count)

    # -- moving ----------------------------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Moved(new))

    def _scroll_to_cursor(self) -> None:
        height = max(self.size.height, 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def move_to(self, position: int) -> None:
        if not self.ids:
            return
        position = max(0, min(position, len(self.ids) - 1))
        if position < len(self.ids) - 1:
            self.follow = False
        self.cursor = position

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(self.size.height - 1, 1))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.ids) - 1)
        self.follow = True

    def action_open(self) -> None:
        if self.current_id is not None:
            self.post_message(self.Open(self.current_id, self.cursor))

    def on_click(self, event: events.Click) -> None:
        position = int(self.scroll_offset.y) + event.y
        if 0 <= position < len(self.ids):
            self.move_to(position)
            if event.chain >= 2:
                self.action_open()

    def request_text(self, pair_id: int) -> str:
        row = self.rows.get(pair_id)
        return inert(row.request) if row else ""
