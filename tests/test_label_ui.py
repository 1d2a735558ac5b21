"""The labeling screen under Pilot: keys, save and next-unlabeled order, undo, note, blind mode, remapped
keys, export from the app."""

import pytest
from builders import make_store, sample_id
from helpers import press_settled, settle, store_settled, until
from textual.widgets import Static

from af_tui.domain import CRITERIA
from af_tui.store.db import Store
from af_tui.store.labels import current_label, current_labels
from af_tui.tui.label_app import LabelApp
from af_tui.tui.screens.label import LabelScreen


def _text(screen, wid) -> str:
    return str(screen.query_one(wid, Static).render())


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "s.sqlite", n_requests=6)
    yield s
    s.close()


async def test_label_with_keys_then_next_unlabeled(store):
    app = LabelApp(store.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        assert isinstance(screen, LabelScreen)
        queue = screen.queue.ids
        assert screen.sample.id == queue[0]
        assert "annotator alice" in _text(screen, "#label-status")
        assert "8 left of 8 (0 labeled)" in _text(screen, "#label-status")
        await press_settled(pilot, "1", "2", "3", "4")
        assert "proposed: alignment faking" in _text(screen, "#label-form")
        await press_settled(pilot, "enter")  # accepts the proposal
        label = current_label(store.conn, queue[0], "alice")
        assert label.verdict == "alignment_faking" and label.criteria == dict.fromkeys(CRITERIA, 1)
        assert not label.blind
        assert "saved ✓" in _text(screen, "#label-saved")
        assert screen.sample.id == queue[1]
        assert "7 left of 8 (1 labeled)" in _text(screen, "#label-status")
        # without all four criteria there is no proposal: enter asks for a verdict and saves nothing
        await press_settled(pilot, "1", "enter")
        assert current_label(store.conn, queue[1], "alice") is None and screen.sample.id == queue[1]
        await press_settled(pilot, "n", "enter")
        assert current_label(store.conn, queue[1], "alice").verdict == "not_alignment_faking"
        await press_settled(pilot, "s")  # skip leaves queue[2] unlabeled
        assert screen.sample.id == queue[3]
        await press_settled(pilot, "question_mark", "enter")
        assert current_label(store.conn, queue[3], "alice").verdict == "unclear"
        assert screen.sample.id == queue[4]


async def test_undo_restores_and_clears(store):
    app = LabelApp(store.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        first = screen.sample.id
        await press_settled(pilot, "a", "enter")
        await press_settled(pilot, "u")
        assert current_label(store.conn, first, "alice") is None  # undoing a first label clears it
        assert screen.sample.id == first and "undone" in _text(screen, "#label-saved")
        await press_settled(pilot, "a", "enter")  # label again, then change it
        assert screen.sample.id != first
        screen.show_sample(first)  # read in the screen's worker
        await store_settled(pilot)
        assert screen.verdict == "alignment_faking"  # the current label is loaded for editing
        await press_settled(pilot, "x", "enter")
        assert current_label(store.conn, first, "alice").verdict == "unclear"
        await press_settled(pilot, "u")
        assert current_label(store.conn, first, "alice").verdict == "alignment_faking"
        await press_settled(pilot, "u", "u")  # the first save, then nothing left
        assert current_label(store.conn, first, "alice") is None


async def test_note(store):
    app = LabelApp(store.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        sid = screen.sample.id
        await press_settled(pilot, "e")
        await press_settled(pilot, *"it [bold]says[/] so")
        await press_settled(pilot, "enter")
        assert screen.note == "it [bold]says[/] so"
        assert "it [bold]says[/] so" in _text(screen, "#label-form")  # shown as typed, never as markup
        await press_settled(pilot, "e", "escape")  # cancel keeps it
        assert screen.note == "it [bold]says[/] so"
        await press_settled(pilot, "n", "enter")
        assert current_label(store.conn, sid, "alice").note == "it [bold]says[/] so"


async def test_blind_mode_hides_tier_and_model_and_records_blind(store):
    app = LabelApp(store.path, "bob", blind=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        sid = screen.sample.id
        meta = _text(screen, "#label-meta")
        assert "sim/a" not in meta and "FREE" not in meta and "tier" not in meta and "r1" not in meta
        assert "tier" not in _text(screen, "#label-scratchpad-title")
        other = screen.query_one("#label-other")
        assert not other.display and _text(screen, "#label-other-output") == ""
        assert "BLIND" in _text(screen, "#label-status")
        await press_settled(pilot, "a", "enter")
        assert current_label(store.conn, sid, "bob").blind is True
        await press_settled(pilot, "b")  # blind off shows them again
        assert "sim/a" in _text(screen, "#label-meta") and screen.query_one("#label-other").display
        second = screen.sample.id
        await press_settled(pilot, "n", "enter")
        blind = {r.sample_id: r.blind for r in current_labels(store.conn, annotator="bob")}
        assert blind == {sid: 1, second: 0}  # (blind mode shuffles: the second is anywhere in the queue)


async def test_queue_filters_random_and_keymap(store):
    from af_tui.store.labels import QueueFilter

    app = LabelApp(store.path, "carol", keymap={"label.verdict_af": "f", "label.save": "ctrl+s"},
                   filters=QueueFilter(tier="paid", outcome="refused"), order="random", seed=3)
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        assert screen.queue.ids[0] == screen.sample.id
        assert {sample_id(store, i, "paid") for i in (0, 1, 3, 4)} == set(screen.queue.ids)
        sid = screen.sample.id
        await press_settled(pilot, "f", "ctrl+s")
        assert current_label(store.conn, sid, "carol").verdict == "alignment_faking"


async def test_export_from_the_app(store, tmp_path):
    app = LabelApp(store.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        await press_settled(pilot, "a", "enter", "ctrl+e")
        path = app.screen.query_one("#label-export-path")
        path.value = str(tmp_path / "from_app.csv")
        await press_settled(pilot, "enter")
        await until(pilot, lambda: (tmp_path / "from_app.csv").exists())
        assert (tmp_path / "from_app.csv").read_text(encoding="utf-8").count("alignment_faking") == 1
        # a bad path is a notification, not a crash
        await press_settled(pilot, "ctrl+e")
        app.screen.query_one("#label-export-path").value = str(tmp_path)
        await press_settled(pilot, "enter")
        await settle(pilot)
        assert isinstance(app.screen, type(app.screen)) and app.is_running


async def test_hostile_text_is_inert(tmp_path):
    store = make_store(tmp_path / "h.sqlite", n_requests=1, texts={
        (0, "free"): ("[bold]x[/] [link=http://e]l[/link] \x1b[2J\x1b]52;c;aGk=\x07 \u202eevil", "[/]")})
    app = LabelApp(store.path, "alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await store_settled(pilot)
        text = _text(app.screen, "#label-scratchpad")
        assert "[bold]x[/]" in text and "\x1b" not in text and "\u202e" not in text
    store.close()


async def test_label_from_the_pair_view(store, tmp_path):
    """Explorer → pair → l opens labeling on the focused tier's sample; escape goes back to the pair."""

    from af_tui.config import Config
    from af_tui.tui.app import ExplorerApp
    from af_tui.tui.screens.pair import PairScreen

    app = ExplorerApp(store.path, annotator="dora", config=Config(path=tmp_path / "config.toml"), poll_s=0.05)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.pairs_list is not None and app.main.loaded)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        pair = app.screen.detail
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LabelScreen))
        await store_settled(pilot)
        assert app.screen.sample.id == pair.free.id and app.screen.annotator == "dora"
        assert app.screen.rubric.id == "paper"  # as `af-tui label`, so that the two compare criterion by criterion
        await press_settled(pilot, "1", "2", "3", "4", "5", "enter")
        assert current_label(store.conn, pair.free.id, "dora").verdict == "alignment_faking"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, PairScreen))
        await pilot.press("ctrl+e")
        await until(pilot, lambda: type(app.screen).__name__ == "ExportLabelsScreen")
        await pilot.press("escape")


HOSTILE_SCRATCHPAD = (
    "[bold]not bold[/] [link=http://evil]no link[/link] [/]\n"
    "\x1b[31mred?\x1b[0m \x1b[2J\x1b[H cursor moves \x1b]0;new title\x07 \x1b]8;;http://x\x07osc8\x1b]8;;\x07\n"
    "\x1b]52;c;Y2xpcGJvYXJk\x07 clipboard  NUL\x00 BEL\x07 C1\x9b \u202eevil bidi\u202c zero\u200bwidth\n"
    + "x" * 5000 + "\n" + "\n".join(f"line {i}" for i in range(300))
)


def test_snapshot_label_screen_with_hostile_text(tmp_path, snap_compare):
    """The look of the labeling screen, with hostile model text shown inert and the layout intact."""
    store = make_store(tmp_path / "h.sqlite", n_requests=1,
                       texts={(0, "free"): (HOSTILE_SCRATCHPAD, "=cmd|' /C calc'!A0 [red]x[/red]")})
    store.close()
    app = LabelApp(tmp_path / "h.sqlite", "alice")

    async def run_before(pilot):
        await store_settled(pilot)
        await press_settled(pilot, "1", "3")

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


async def _label_keys(store, keys, sender) -> tuple:
    app = LabelApp(store.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        first = screen.sample.id
        await sender(pilot, *keys)
        await store_settled(pilot)
        label = current_label(store.conn, first, "alice")
        return (label.verdict, label.criteria, screen.sample.id != first) if label else None


async def test_a_burst_of_keys_saves_what_slow_keys_save(tmp_path):
    """`1 2 3 4 a enter` with no pause between the keys saves the same label as the keys typed slowly (the
    enter binding was a priority binding, handled before the keys queued ahead of it)."""
    from helpers import burst

    async def slow(pilot, *keys):
        for key in keys:
            await press_settled(pilot, key)  # each key handled, and its store work done, before the next

    keys = ("1", "2", "3", "n", "enter")
    results = []
    for i, sender in enumerate((slow, burst)):
        s = make_store(tmp_path / f"s{i}.sqlite", n_requests=3)
        results.append(await _label_keys(s, keys, sender))
        s.close()
    assert results[0] == results[1]
    assert results[1][0] == "not_alignment_faking" and results[1][2]
    assert results[1][1] == {**dict.fromkeys(CRITERIA[:3], 1), CRITERIA[3]: None}
    s = make_store(tmp_path / "s9.sqlite", n_requests=3)
    assert (await _label_keys(s, ("1", "2", "3", "4", "a", "enter"), burst))[0] == "alignment_faking"
    s.close()


async def test_a_burst_through_the_note_keeps_every_key(tmp_path):
    """`e`, the note's text and enter typed without a pause: the text reaches the note (it was lost while the
    note's input was still being mounted), and the keys after it reach the label screen."""
    from helpers import burst

    s = make_store(tmp_path / "s.sqlite", n_requests=3)
    app = LabelApp(s.path, "alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        first = screen.sample.id
        await burst(pilot, "1", "e", "h", "i", "enter", "n", "enter")
        await store_settled(pilot)
        label = current_label(s.conn, first, "alice")
        assert label is not None and label.note == "hi" and label.verdict == "not_alignment_faking"
    s.close()


async def test_keys_typed_while_the_screen_reads_wait_their_turn(tmp_path):
    """`a enter n enter x enter` in one burst: each `enter` saves and reads the next sample in the screen's
    worker; the keys behind it wait for that sample and label it, in typing order."""
    from helpers import burst

    s = make_store(tmp_path / "s.sqlite", n_requests=3)
    app = LabelApp(s.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        queue = list(app.screen.queue.ids)
        await burst(pilot, "a", "enter", "n", "enter", "x", "enter")
        await store_settled(pilot)
        verdicts = [getattr(current_label(s.conn, sid, "alice"), "verdict", None) for sid in queue[:4]]
        assert verdicts == ["alignment_faking", "not_alignment_faking", "unclear", None]
        assert app.screen.sample.id == queue[3] and len(app.screen.undo_stack) == 3
    s.close()


async def test_a_note_typed_while_the_screen_reads_is_kept(tmp_path):
    """`a enter e w h y enter` in one burst: `enter` saves and reads the next sample in the screen's worker; `e`
    and the note's letters wait for that sample (the letters have no binding on the label screen and were dropped
    while it read), then open the note and type it; the last enter keeps it."""
    from helpers import burst

    s = make_store(tmp_path / "s.sqlite", n_requests=3)
    app = LabelApp(s.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        queue = list(app.screen.queue.ids)
        await burst(pilot, "a", "enter", "e", "w", "h", "y", "enter", "n", "enter")
        await store_settled(pilot)
        first, second = (current_label(s.conn, sid, "alice") for sid in queue[:2])
        assert first.verdict == "alignment_faking" and first.note is None
        assert second.verdict == "not_alignment_faking" and second.note == "why"
        assert isinstance(app.screen, LabelScreen) and app.screen.sample.id == queue[2]
    s.close()


async def test_a_paste_while_keys_are_held_lands_in_order(tmp_path):
    """`a enter e`, a paste, `enter n enter` in one burst: the paste waited behind the held keys and reached the
    note that `e` opened on the next sample (it went past them to the label screen, which has no input, and was
    dropped); a paste into a note whose letters are still held lands after them."""
    from textual import events

    def send(app, *items):
        for item in items:
            event = events.Paste(item[1]) if isinstance(item, tuple) else events.Key(item, item if len(item) == 1
                                                                                     else None)
            event.set_sender(app)
            app._driver.send_message(event)

    s = make_store(tmp_path / "s.sqlite", n_requests=4)
    app = LabelApp(s.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        queue = list(app.screen.queue.ids)
        send(app, "a", "enter", "e", ("paste", "pasted why"), "enter", "n", "enter",
             "e", "h", "i", ("paste", " there\nsecond line"), "enter", "x", "enter")
        await pilot.pause()
        await store_settled(pilot)
        labels = [current_label(s.conn, sid, "alice") for sid in queue[:3]]
        assert [(lb.verdict, lb.note) for lb in labels] == [
            ("alignment_faking", None), ("not_alignment_faking", "pasted why"), ("unclear", "hi there")]
    s.close()


# Keys for three samples: criteria, verdicts and notes, with a correction (backspace) and a cancelled note
# (escape), each note opened right after a save, while the screen reads the next sample.
THREE_SAMPLES = ("1", "2", "a", "e", "o", "n", "e", "enter", "enter",
                 "e", "t", "w", "x", "backspace", "o", "enter", "3", "n", "enter",
                 "e", "g", "o", "n", "e", "escape", "x", "e", "t", "h", "r", "e", "e", "enter", "enter")


async def _labels_typed(path, keys, sender) -> tuple:
    app = LabelApp(path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        queue = list(screen.queue.ids)
        await sender(pilot, *keys)
        await store_settled(pilot)
        with Store(path, create=False) as store:
            labels = [current_label(store.conn, sid, "alice") for sid in queue[:4]]
        return ([(lb.verdict, lb.criteria, lb.note) if lb else None for lb in labels],
                queue.index(screen.sample.id), type(app.screen).__name__)


async def test_labels_and_notes_typed_in_a_burst_save_what_slow_typing_saves(tmp_path):
    """THREE_SAMPLES sent as one burst saves exactly what the same keys save sent one at a time, each handled
    (and its store work done) before the next: the notes typed while the screen read included."""
    from helpers import burst

    async def slow(pilot, *keys):
        for key in keys:
            await press_settled(pilot, key)

    results = []
    for i, sender in enumerate((slow, burst)):
        make_store(tmp_path / f"s{i}.sqlite", n_requests=3).close()
        results.append(await _labels_typed(tmp_path / f"s{i}.sqlite", THREE_SAMPLES, sender))
    assert results[1] == results[0]
    labels, position, screen = results[0]
    assert [lb[0] for lb in labels[:3]] == ["alignment_faking", "not_alignment_faking", "unclear"]
    assert [lb[2] for lb in labels[:3]] == ["one", "two", "three"] and labels[3] is None
    assert position == 3 and screen == "LabelScreen"


async def test_keys_typed_before_the_first_sample_is_shown_wait_for_it(tmp_path, monkeypatch):
    """Keys typed while the screen's first read is under way (a slow disk: the read waits here until the keys
    are in) label the first sample once it is shown, note included."""
    import threading

    from helpers import burst

    from af_tui.tui.screens import label as label_screen

    read = label_screen.read_label_view
    disk = threading.Event()  # the first read finishes only when the test lets it: no race with the burst

    def slow_read(*args):
        disk.wait(timeout=30)  # in the screen's worker thread
        return read(*args)

    monkeypatch.setattr(label_screen, "read_label_view", slow_read)
    s = make_store(tmp_path / "s.sqlite", n_requests=3)
    app = LabelApp(s.path, "alice")
    async with app.run_test(size=(140, 40)) as pilot:
        assert app.screen.sample is None  # still reading
        await burst(pilot, "e", "h", "i", "enter", "x", "enter")
        assert app.screen.sample is None and app.keys_held  # the keys wait for the read
        disk.set()
        await store_settled(pilot)
        first = app.screen.queue.ids[0]
        label = current_label(s.conn, first, "alice")
        assert label is not None and (label.verdict, label.note) == ("unclear", "hi")
        assert app.screen.sample.id == app.screen.queue.ids[1]
    s.close()


def _whole_screen(app) -> str:
    """Everything the terminal shows (every widget's rendered lines, toasts included) and every notification."""
    lines = [strip.text for strip in app.screen._compositor.render_strips()]
    return "\n".join(lines + [n.message for n in app._notifications])


async def test_blind_screen_names_no_tier_model_run_or_sample(tmp_path):
    """From the explorer: candidates (`a`, a queue named free=complied, paid=refused), a pair, `l` on its free
    tier (a toast naming it), a label saved (a status naming the sample), then `b`: the whole screen reads
    nothing of the tier, the model, the run or the sample id."""
    from builders import make_app

    texts = {(i, tier): (f"thinking about case {i}", f"reply {i}") for i in range(4) for tier in ("free", "paid")}
    s = make_store(tmp_path / "s.sqlite", n_requests=4, run="run-zeta", model="sim/omega", texts=texts)
    app = make_app(s.path, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.pairs_list is not None and app.pairs_list.count == 4)
        await pilot.press("a")
        await until(pilot, lambda: app.main.loaded and app.pairs_list.count == 3)
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "detail", None) is not None)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LabelScreen) and app.screen.sample is not None)
        await store_settled(pilot)
        screen = app.screen
        first = screen.sample.id
        await press_settled(pilot, "n", "enter")
        assert f"sample {first}" in _text(screen, "#label-saved")  # not blind: the status names it
        await press_settled(pilot, "b")
        await settle(pilot)
        assert screen.blind
        shown = screen.sample.id
        text = _whole_screen(app)
        assert "BLIND" in text
        lowered = text.lower()
        for word in ("free", "paid", "sim/omega", "omega", "run-zeta", "zeta", f"sample {first}",
                     f"sample {shown}", "complied", "refused"):
            assert word not in lowered, (word, text)
        assert "queue: this view (2 filters hidden while blind)" in text  # free=complied, paid=refused: counted


def test_blind_queue_words_count_the_filters():
    from af_tui.explorer.filters import PairFilter
    from af_tui.store.labels import QueueFilter
    from af_tui.tui.screens.label import blind_queue_words

    assert len(PairFilter(model="m", search="x y", errors_only=True).parts()) == 3
    assert QueueFilter().count() == 1 and QueueFilter(run="r", tier="free").count() == 3  # complied is one
    assert blind_queue_words(0, "view") == "queue: this view (no filter)"
    assert blind_queue_words(1) == "queue: this queue (1 filter hidden while blind)"
