"""How the explorer's screens read: checkboxes that say [x] / [ ] in every theme, cells and status lines cut with
… rather than silently, the footers' keys at small sizes."""

from __future__ import annotations

from builders import make_app
from helpers import loaded, settle, until
from textual.coordinate import Coordinate
from textual.geometry import Region


def rendered(widget) -> list[list[tuple[str, object]]]:
    """The widget's lines as drawn (border and padding included): (text, rich style) per segment."""
    return [[(seg.text, seg.style) for seg in strip] for strip in widget.render_lines(Region(0, 0, *widget.outer_size))]


def contrast(style) -> float:
    """The WCAG contrast ratio of a segment's colour on its background."""

    def luminance(color) -> float:
        def channel(c: int) -> float:
            c = c / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = color.triplet
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)

    a, b = sorted((luminance(style.color), luminance(style.bgcolor)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def footer_keys(screen) -> tuple[list[str], object]:
    """The footer's keys shown whole left of the palette's key, and the palette's key."""
    from textual.widgets._footer import FooterKey

    keys = list(screen.query(FooterKey))
    palette = next(k for k in keys if k.has_class("-command-palette"))
    shown = [str(k.render()).strip() for k in keys
             if k is not palette and k.region.right <= palette.region.x]
    return shown, palette


def test_criteria_row_fits_the_width():
    from af_tui.rubric import DEFAULT_RUBRIC, LEGACY_RUBRIC, load_rubric
    from af_tui.tui.screens.label import criteria_row

    paper = load_rubric(DEFAULT_RUBRIC)
    assert "\n" not in criteria_row(paper, {}, 158).plain  # 160 columns, less the form's padding
    assert "(flag)" in criteria_row(paper, {}, 200).plain and "(flag)" in criteria_row(paper, {}, 98).plain
    for rubric in (paper, load_rubric(LEGACY_RUBRIC)):
        for width in (200, 158, 98, 78, 40):
            lines = criteria_row(rubric, {rubric.criteria[0].id: 1}, width).plain.splitlines()
            assert all(len(line) <= width for line in lines) or len(lines) == len(rubric.criteria)
            assert all(sum(c.short in line for line in lines) == 1 for c in rubric.criteria)


def test_request_cell_is_cut_with_an_ellipsis():
    from dataclasses import replace

    from af_tui.explorer.pairs import PairRow
    from af_tui.tui.widgets.pairs_list import row_text

    row = PairRow(7, "r", "sim/faker", "v", 0, 0, "complied", "refused", "word " * 60)
    for width in (160, 100, 80):
        text = row_text(7, row, width)
        assert text.cell_len == width and text.plain.endswith("…")
    assert row_text(7, replace(row, request="short"), 100).plain.endswith("short")


async def check_checkboxes(app, pilot) -> None:
    """The filter dialog drew `▐X▌ [ ]` (Textual's box and a label that said it again); the export dialog's
    unchecked box was drawn in the panel's colour. Now one mark, [x] or [ ], legible in the default themes; and
    the filter dialog fits 100×30 whole."""
    from textual.containers import Vertical
    from textual.widgets import Select

    from af_tui.tui.widgets.on_off import OnOff

    for theme in ("textual-dark", "textual-light"):
        app.theme = theme
        for key, dialog in (("f", "FilterScreen"), ("ctrl+e", "ExportLabelsScreen")):
            await pilot.press(key)
            await until(pilot, lambda dialog=dialog: type(app.screen).__name__ == dialog)
            await settle(pilot)
            boxes = list(app.screen.query(OnOff))
            assert len(boxes) == 3
            if dialog == "FilterScreen":  # the whole dialog on screen, each field's value drawn inside it
                frame = app.screen.query_one(Vertical)
                assert frame.max_scroll_y == 0 and frame.region.bottom <= 30
                for select in app.screen.query(Select):
                    shown = select.query_one("#label").region
                    assert select.region.contains_region(shown), (select.id, select.region, shown)
            for box in boxes:
                segments = [s for line in rendered(box) for s in line]
                text = "".join(t for t, _ in segments)
                assert "▐" not in text and "▌" not in text
                marks = [(t, style) for t, style in segments if t in ("[x]", "[ ]")]
                assert len(marks) == 1 and marks[0][0] == ("[x]" if box.value else "[ ]"), text
                assert contrast(marks[0][1]) >= 4.5, (theme, dialog, text)
            box = boxes[-1]
            box.toggle()
            await pilot.pause()
            assert any(t == ("[x]" if box.value else "[ ]") for line in rendered(box) for t, _ in line)
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.main)
    app.theme = "textual-dark"


async def check_ellipses(app, pilot) -> None:
    """At 100×30 on a judged and labeled store: the statistics cells the panel's edge cuts (an AF cell with its
    undecided count), the filter status and the request cells end with … (they stopped silently)."""
    from af_tui.explorer.filters import PairFilter
    from af_tui.tui.widgets.stats_panel import StatsPanel

    stats = app.main.query_one(StatsPanel)
    lines = ["".join(t for t, _ in line).rstrip() for line in rendered(stats)][2:]  # (the border, the header)
    af = [c.value for c in stats.columns].index("af")
    cells = [str(stats.get_cell_at(Coordinate(row, af))) for row in range(stats.row_count)]
    assert any("undecided" in cell for cell in cells)
    assert any(line.endswith("…") for line in lines)  # the demo's store cuts one at 100 columns
    for line, cell in zip(lines, cells, strict=True):
        assert line.endswith(cell) or line.endswith("…"), (line, cell)
    pairs = app.pairs_list
    room = pairs.scrollable_content_region.width  # less the scrollbar, which covers the rest
    assert pairs.show_vertical_scrollbar and room < pairs.size.width
    rows = ["".join(t for t, _ in line)[:room].rstrip() for line in rendered(pairs)]
    assert rows and all(row.endswith("…") for row in rows), rows
    app.main.set_filter(PairFilter(model="sim/faker", free_outcome="complied", paid_outcome="refused",
                                   search="words enough to fill the request column", order="model"))
    await until(pilot, lambda: app.main.loaded and app.pairs_list.count > 0)
    await settle(pilot)
    status = "".join(t for line in rendered(app.main.query_one("#status")) for t, _ in line).rstrip()
    assert status.endswith("…") and "showing" in status
    rows = ["".join(t for t, _ in line).rstrip() for line in rendered(pairs)][:pairs.count]
    assert rows and all(row.endswith("…") for row in rows), rows


async def check_footers_and_label_rows(app, pilot) -> None:
    """The palette's key reaches the last column (a letter of a key scrolled under it showed there:
    `^p paletteE`) on the list, a pair and the label screen, whose footer keeps `b Blind` at 80 columns; its
    criteria row is one line at 160 columns and wraps between criteria below, its top line one line."""
    from af_tui.tui.screens.label import LabelScreen
    from af_tui.tui.screens.pair import PairScreen

    await pilot.press("x")  # the view's filters cleared: the label queue is named "every pair"
    await until(pilot, lambda: app.main.pair_filter.is_empty and app.main.loaded)
    await pilot.resize_terminal(80, 24)
    await settle(pilot)
    for key, screen_type in ((None, None), ("enter", PairScreen), ("l", LabelScreen)):
        if key:
            await pilot.press(key)
            await until(pilot, lambda screen_type=screen_type: isinstance(app.screen, screen_type))
            await settle(pilot)
        shown, palette = footer_keys(app.screen)
        assert palette.region.right == 80, (type(app.screen).__name__, palette.region)
        assert str(palette.render()).strip().endswith("palette")
        if screen_type is LabelScreen:
            assert {"esc Back", "⏎ Save", "b Blind", "u Undo", "s Skip"} <= set(shown), shown
    # the criteria row: one line at 160 columns, wrapped between criteria (never inside one) below
    shorts = [c.short for c in app.screen.rubric.criteria]
    for size, lines in (((160, 48), 1), ((100, 30), 2), ((80, 24), 3)):
        await pilot.resize_terminal(*size)
        await settle(pilot)
        form = str(app.screen.query_one("#label-form").render()).splitlines()
        criteria = form[:lines]
        assert form[lines].startswith("verdict:"), (size, form)
        assert all(sum(short in line for line in criteria) == 1 for short in shorts), (size, criteria)
        assert all(len(line) <= size[0] - 2 for line in form), (size, form)
        status = str(app.screen.query_one("#label-status").render()).splitlines()
        assert len(status) == 1 and "left of" in status[0], (size, status)  # (it wrapped at 100 columns)
        assert ("labels/h" in status[0]) == (size[0] >= 160)  # the first part to go


async def test_the_screens_read_whole_at_100x30_and_80x24(tmp_path):
    """One explorer on a judged and labeled store (one app start for the checks above): at 100×30 the cuts end
    with …, the dialogs' checkboxes read [x] / [ ] in both themes; then at 80×24 the footers and the label
    screen's rows."""
    from test_small_terminals import judged_store

    from af_tui.tui.widgets.stats_panel import StatsPanel

    app = make_app(judged_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: loaded(app) and app.main.query_one(StatsPanel).row_count == 4)
        await settle(pilot)
        await check_ellipses(app, pilot)
        await check_checkboxes(app, pilot)
        await check_footers_and_label_rows(app, pilot)
