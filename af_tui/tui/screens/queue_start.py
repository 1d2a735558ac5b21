"""Labeling the list's view: the queue built in a thread worker from the pairs the list's filter and search
keep (af_tui.explorer.queue), then the label screen on it; back from it, the list where it was."""

from __future__ import annotations

from array import array

from textual import work

from af_tui.explorer.filters import PairFilter
from af_tui.explorer.queue import first_unlabeled_from_pair, new_seed, queue_sample_ids
from af_tui.rubric import DEFAULT_RUBRIC, load_rubric
from af_tui.store.labels import LabelQueue
from af_tui.tui.messages import QueueGrown, QueueReady

HEAD_IDS = 500  # the queue's first ids: the label screen opens on them while the rest is read
SHOWN_WAIT_S = 2.0  # at most this long the rest waits for the first sample to be drawn


class QueueStarter:
    """Mixed into MainScreen: `l` on the list or in a pair view, and the palette's "label: start labeling
    this view"."""

    def start_labeling(self, sample_id: int | None = None, on_done=None) -> None:
        """Label the view. From the list (sample_id None) the queue starts at the first unlabeled sample from
        the selected pair on; from a pair view, at that sample."""
        app = self.app
        pair_id = self.pairs.current_id if self.pairs is not None and sample_id is None else None
        self.notify("building the label queue of this view…", timeout=2)
        self._build_queue(self.pair_filter.with_(me=app.annotator), sample_id, pair_id, on_done)

    @work(thread=True, exclusive=True, group="queue", exit_on_error=False)
    def _build_queue(self, pair_filter: PairFilter, sample_id: int | None, pair_id: int | None, on_done) -> None:
        app = self.app
        blind = getattr(app, "label_blind", False)
        name = pair_filter.describe() or "every pair"
        count = len(pair_filter.parts())
        with app.reader.connection() as conn:
            if blind:  # a shuffle needs every id
                queue = LabelQueue(conn, app.annotator, ids=queue_sample_ids(conn, pair_filter), order="random",
                                   seed=new_seed(), name=name, filter_count=count, origin="view")
                self.post_message(QueueReady(queue, sample_id, on_done))
                return
            # In the list's order the screen opens on the head of the queue (a few hundred ids: milliseconds
            # at a million samples) and counts the rest once it is read, unless what to show first is beyond
            # the head (the selected pair, or the first unlabeled sample).
            head = queue_sample_ids(conn, pair_filter, limit=HEAD_IDS)
            queue = LabelQueue(conn, app.annotator, ids=head, name=name, filter_count=count, origin="view")
            start = sample_id
            if start is None and pair_id is not None:
                start = first_unlabeled_from_pair(conn, queue, pair_id)
            if len(head) < HEAD_IDS:  # the whole queue
                self.post_message(QueueReady(queue, start, on_done))
                return
            found = start is not None or (pair_id is None and queue.next_unlabeled() is not None)
            if found:
                ready = QueueReady(queue, start, on_done)
                self.post_message(ready)
                # The rest once the first sample is drawn: reading it takes CPU the label screen needs more.
                ready.shown.wait(SHOWN_WAIT_S)
            ids = queue_sample_ids(conn, pair_filter)
            if not found:
                queue = LabelQueue(conn, app.annotator, ids=ids, name=name, filter_count=count, origin="view")
                if pair_id is not None:
                    start = first_unlabeled_from_pair(conn, queue, pair_id)
                self.post_message(QueueReady(queue, start, on_done))
                return
        self.post_message(QueueGrown(queue, ids, array("q", sorted(ids))))

    def on_queue_grown(self, message: QueueGrown) -> None:
        """The rest of a queue opened on its head: the label screens on it count the whole queue now."""
        message.queue.grow(message.ids, message.sorted_ids)
        for screen in self.app.screen_stack:
            on_it = any(queue is message.queue
                        for queue in (getattr(screen, "queue", None), getattr(screen, "_queue", None)))
            if on_it and hasattr(screen, "queue_grown"):
                screen.queue_grown()

    def on_queue_ready(self, message: QueueReady) -> None:
        from af_tui.tui.screens.label import LabelScreen

        queue, app = message.queue, self.app
        if not queue.ids and message.sample_id is None:
            self.notify("nothing to label in this view: the queue holds complied samples, and none is shown",
                        severity="warning")
            return

        def done(_result=None) -> None:
            self.labeling_done()
            if message.on_done is not None:
                message.on_done()

        # the rubric `af-tui label` uses by default, so that labels made here and there compare criterion by
        # criterion (the screen's own default, af-tui-4, is for labels made before rubrics)
        app.push_screen(LabelScreen(app.db_path, app.annotator, sample_id=message.sample_id, queue=queue,
                                    blind=getattr(app, "label_blind", False),
                                    rubric=load_rubric(DEFAULT_RUBRIC), shown=message.shown), done)

    def labeling_done(self) -> None:
        """Back from labeling: the same list position; the marks (and a label-state filter) read again."""
        if self.pair_filter.label_state or self.pair_filter.verdict:
            self.set_filter(self.pair_filter)  # keeps the selected pair when it is still in the view
        elif self.pairs is not None:
            self.app.load_page(self.pairs.visible_ids())
        self.app.loads.kick("stats")

