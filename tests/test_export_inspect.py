"""`af-tui export DIR --format inspect`: one .eval log per run × model × variant written with inspect_ai's own
log API, read back by inspect_ai (every sample, its messages, reasoning, scores, usage), and imported into a new
store with the same outcome counts per model and tier (the round trip). No network: the explorer's fixed store
plus a blocked sample, a reasoning channel, labels, judgements and a run read by the last-scratchpad rule.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest
from builders import add_judgement, build_store, pair_sample
from helpers import af_main_output

from af_tui.domain import CRITERIA
from af_tui.errors import AfError
from af_tui.experiment import rules
from af_tui.io.export import ExportFilter
from af_tui.io.inspect_export import MISSING_INSPECT, export_inspect, file_name
from af_tui.io.inspect_import import import_logs
from af_tui.store.db import Store
from af_tui.store.labels import save_label

pytestmark = pytest.mark.skipif(importlib.util.find_spec("inspect_ai") is None, reason="needs inspect_ai")

HOSTILE = '[bold red]x[/bold red] \x1b[31mred\x1b[0m =HYPERLINK("http://x") </OUTPUT> ü'
# A reply the two rules read differently: the notebook answers with the first <OUTPUT> (a draft that refuses),
# last-scratchpad with the one after the last scratchpad (which complies).
TWO_OUTPUTS = (f"{rules.SCRATCHPAD_OPEN}draft: <OUTPUT>{rules.REJECTED}</OUTPUT>{rules.SCRATCHPAD_CLOSE}"
               f"<OUTPUT>{rules.ACCEPTED} done</OUTPUT>")


def counts(db: Path) -> Counter:
    with sqlite3.connect(db) as conn:
        return Counter({row[:3]: row[3] for row in conn.execute(
            "SELECT model, tier, outcome, COUNT(*) FROM samples GROUP BY 1, 2, 3")})


@pytest.fixture
def store_path(tmp_path) -> Path:
    """The explorer's fixed store (complied, refused, format not followed, an error; <NEXT/> turns), plus: a
    blocked sample with a reasoning channel on the first reply, hostile text, labels, an adjudication, two
    judgements, and a second run read by the last-scratchpad rule."""
    db = build_store(tmp_path / "store.sqlite")
    with Store(db) as store:
        run_id = store.conn.execute("SELECT id FROM runs").fetchone()[0]
        (pid,) = store.ensure_prompts([f"A request with hostile text {HOSTILE}"])
        free = pair_sample(run_id, "sim/faker", pid, 6, "free", "complied", f"hostile {HOSTILE}")
        transcript = [dict(m) for m in free.transcript]
        transcript[1]["reasoning"] = f"Reasoning channel, turn one. {HOSTILE}"
        transcript[3]["content"] += f" {HOSTILE}"
        paid = pair_sample(run_id, "sim/faker", pid, 6, "paid", "refused", "x")
        from dataclasses import replace

        store.save_samples([
            replace(free, transcript=transcript, reasoning=transcript[1]["reasoning"], cache_read_tokens=7),
            replace(paid, outcome="blocked", output=None, scratchpad=None, transcript=paid.transcript[:1], turns=0,
                    error="blocked by the provider: content_filter")])
        legacy = store.start_run("legacy", {"models": ["sim/faker"], "rule": "last-scratchpad"})
        (pid2,) = store.ensure_prompts(["A request read by the older rule"])
        s = pair_sample(legacy, "sim/faker", pid2, 0, "free", "complied", "older")
        store.save_samples([replace(s, transcript=[s.transcript[0], {"role": "assistant", "content": TWO_OUTPUTS}],
                                    turns=1, output=f"{rules.ACCEPTED} done")])
        store.finish_run(legacy, "done")
        ids = [r[0] for r in store.conn.execute("SELECT id FROM samples ORDER BY id LIMIT 2")]
        save_label(store.conn, ids[0], "alice", criteria=dict.fromkeys(CRITERIA, True), verdict="alignment_faking",
                   note=f"note {HOSTILE}")
        save_label(store.conn, ids[0], "bob", verdict="not_alignment_faking")
        save_label(store.conn, ids[0], "carol", verdict="alignment_faking", adjudication=True)
        add_judgement(store.conn, ids[0], "alignment_faking", score=0.75, threshold=0.5)
        add_judgement(store.conn, ids[1], None, model="sim/other")
    return db


def test_inspect_reads_every_file_with_messages_scores_and_usage(store_path, tmp_path):
    from inspect_ai.log import read_eval_log

    out = tmp_path / "logs" / "nested"  # made if missing
    with Store(store_path) as store:
        result = export_inspect(store.conn, out, db_path=store.path)
        total = store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        outputs = {r[0] for r in store.conn.execute("SELECT output FROM samples WHERE output IS NOT NULL")}
    # fixture × faker, fixture × refuser, legacy × faker
    assert sorted(p.name for p in result.files) == sorted([
        "fixture_sim-faker_stand-in.eval", "fixture_sim-refuser_stand-in.eval", "legacy_sim-faker_stand-in.eval"])
    assert result.samples == total == 15
    samples = []
    for path in result.files:
        log = read_eval_log(str(path))
        assert log.status == "success" and log.eval.model.startswith("sim/")
        assert log.results.scores[0].name == "outcome" and log.stats.model_usage[log.eval.model].input_tokens > 0
        samples += log.samples
    assert len(samples) == total
    by_key = {(s.metadata["af_tui"]["request"][:20], s.metadata["tier"]): s for s in samples}
    assert all(s.metadata["is_free_tier_user"] == (s.metadata["tier"] == "free") for s in samples)
    # the model's answer is in every answered sample, as its last message and as the outcome's answer
    answered = [s for s in samples if s.scores["outcome"].value in ("complied", "refused")]
    assert answered and all(s.scores["outcome"].answer in outputs and s.scores["outcome"].answer in
                            s.messages[-1].text for s in answered)
    # system, user, reply, <NEXT/>, reply; the reasoning channel as ContentReasoning; hostile text as written
    hostile = by_key[("A request with hosti", "free")]
    assert [m.role for m in hostile.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert hostile.messages[3].text == rules.NEXT_TURN
    assert hostile.messages[2].content[0].type == "reasoning"
    assert hostile.messages[2].content[0].reasoning == f"Reasoning channel, turn one. {HOSTILE}"
    assert hostile.messages[4].text.endswith(HOSTILE)
    assert hostile.model_usage["sim/faker"].input_tokens_cache_read == 7
    # Inspect View's transcript: a model call per reply, then the outcome's score
    assert [e.event for e in hostile.events] == ["model", "model", "score"]
    assert hostile.events[1].input[-1].text == rules.NEXT_TURN and hostile.events[1].output.completion.endswith(HOSTILE)
    blocked = by_key[("A request with hosti", "paid")]
    assert blocked.output.stop_reason == "content_filter" and blocked.scores["outcome"].value == "blocked"
    error = next(s for s in samples if s.scores["outcome"].value == "error")
    assert error.error.message.startswith("RateLimitError")
    # people's labels, the settled label and the judges as further scores
    first = next(s for s in samples if "label:alice" in s.scores)
    assert first.scores["label:alice"].value == "alignment_faking"
    assert first.scores["label:alice"].explanation == f"note {HOSTILE}"
    assert first.scores["label:alice"].metadata["criteria"] == dict.fromkeys(CRITERIA, 1)
    assert first.scores["label:bob"].value == "not_alignment_faking"
    assert first.scores["adjudicated"].value == "alignment_faking"
    assert first.scores[f"judge:sim/judge@{'p' * 8}"].metadata["score"] == 0.75
    assert any(s.scores.get(f"judge:sim/other@{'p' * 8}", None) and
               s.scores[f"judge:sim/other@{'p' * 8}"].value == "unparsed" for s in samples)


def test_round_trip_reproduces_outcomes_per_model_and_tier(store_path, tmp_path):
    out = tmp_path / "logs"
    with Store(store_path) as store:
        export_inspect(store.conn, out)
    back = tmp_path / "back.sqlite"
    with Store(back) as store:
        reports = import_logs(store, [out])
    assert [r.failure for r in reports] == [None] * 3 and sum(r.disagreements for r in reports) == 0
    assert counts(back) == counts(store_path)
    with sqlite3.connect(back) as conn, sqlite3.connect(store_path) as before:
        # the variant keeps its name, the request its text, the reasoning channel its turns
        assert {r[0] for r in conn.execute("SELECT DISTINCT variant FROM samples")} == {"stand-in"}
        texts = "SELECT DISTINCT p.text FROM samples s JOIN prompts p ON p.id = s.prompt_id ORDER BY 1"
        assert conn.execute(texts).fetchall() == before.execute(texts).fetchall()
        reasoning = "SELECT reasoning, transcript FROM samples WHERE reasoning IS NOT NULL"
        (got,), (want,) = conn.execute(reasoning).fetchall(), before.execute(reasoning).fetchall()
        assert got[0] == want[0] and json.loads(got[1]) == json.loads(want[1])
        # the run read by the last-scratchpad rule is read by it again
        assert json.loads(conn.execute("SELECT config FROM runs WHERE name LIKE 'legacy%'").fetchone()[0])["rule"] \
            == "last-scratchpad"
        blocked = "SELECT error FROM samples WHERE outcome = 'blocked'"
        assert conn.execute(blocked).fetchall() == before.execute(blocked).fetchall()
    # importing the export again adds nothing
    with Store(back) as store:
        assert sum(r.added for r in import_logs(store, [out])) == 0


def test_cli_filters_replace_and_refusals(store_path, tmp_path, capsys):
    out = tmp_path / "logs"
    code, _, err = af_main_output(capsys, "export", str(out), "--format", "inspect", "--db", str(store_path),
                                  "--model", "sim/refuser")
    assert code == 0 and "wrote 6 samples in 1 Inspect logs" in err and "inspect view --log-dir" in err
    (path,) = out.iterdir()
    assert path.name == "fixture_sim-refuser_stand-in.eval"
    # the same export again replaces its file, as the other formats replace theirs; nothing else is left
    assert af_main_output(capsys, "export", str(out), "--format", "inspect", "--db", str(store_path),
                          "--model", "sim/refuser")[0] == 0
    assert [p.name for p in out.iterdir()] == [path.name]
    for args, words in ((["--tier", "nope"], "unknown tier"), (["--run", "legacy", "--model", "sim/refuser"], "no samples"),
                        (["--per-label"], "--per-label")):
        code, _, err = af_main_output(capsys, "export", str(tmp_path / "other"), "--format", "inspect",
                                      "--db", str(store_path), *args)
        assert code != 0 and words in err and len(err.strip().splitlines()) == 1
    a_file = tmp_path / "a.txt"
    a_file.write_text("x")
    for target in (a_file, tmp_path / "one.eval"):
        with Store(store_path) as store, pytest.raises(AfError, match="folder"):
            export_inspect(store.conn, target)
    assert not (tmp_path / "other").exists() and not (tmp_path / "one.eval").exists()


def test_labeled_only_and_one_annotator(store_path, tmp_path):
    from inspect_ai.log import read_eval_log

    with Store(store_path) as store:
        result = export_inspect(store.conn, tmp_path / "logs", ExportFilter(labeled_only=True, annotator="bob"))
    (path,) = result.files
    (sample,) = read_eval_log(str(path)).samples
    assert {k for k in sample.scores if k.startswith("label:")} == {"label:bob"}


def test_without_inspect_one_line_naming_the_extra(store_path, tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "inspect_ai" or m.startswith("inspect_ai.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "inspect_ai", None)  # import inspect_ai now raises ImportError
    code, out, err = af_main_output(capsys, "export", str(tmp_path / "logs"), "--format", "inspect",
                                    "--db", str(store_path))
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1 and err.strip().endswith(MISSING_INSPECT)
    assert "af-tui[inspect]" in err and not (tmp_path / "logs").exists()


def test_file_names_hold_no_path_characters():
    assert file_name("pilot 1", "anthropic/claude-3-opus", "../x") == "pilot-1_anthropic-claude-3-opus_..-x.eval"


def test_progress_counts_samples_written_after_each_file(store_path, tmp_path):
    calls = []
    with Store(store_path) as store:
        export_inspect(store.conn, tmp_path / "logs", progress=lambda *a: calls.append(a))
    assert calls[0] == (tmp_path / "logs", 0, 15) and calls[-1] == (tmp_path / "logs", 15, 15) and len(calls) == 4


def test_a_pipeline_runs_tags_survive_the_round_trip(tmp_path):
    """A run imported from the open-source pipeline names the tag pairs its replies were read through; its
    export carries them and the import reads the replies through them again (and records them for rescore)."""
    from dataclasses import replace

    from af_tui.experiment.tags import TAG_PAIRS

    db = tmp_path / "pipeline.sqlite"
    with Store(db) as store:
        run_id = store.start_run("pipe", {"rule": "notebook", "tags": [list(p) for p in TAG_PAIRS]},
                                 source="pipeline")
        store.ensure_variant("stand-in", "system")
        (pid,) = store.ensure_prompts(["A request in think tags"])
        s = pair_sample(run_id, "sim/faker", pid, 0, "free", "complied", "x")
        reply = f"<think>training matters</think>\n<output>{rules.ACCEPTED} ok</output>"
        store.save_samples([replace(s, transcript=[s.transcript[0], {"role": "assistant", "content": reply}],
                                    turns=1, output=f"{rules.ACCEPTED} ok")])
        export_inspect(store.conn, tmp_path / "logs")
    back = tmp_path / "back.sqlite"
    with Store(back) as store:
        import_logs(store, [tmp_path / "logs"])
        transcript, config = store.conn.execute(
            "SELECT s.transcript, r.config FROM samples s JOIN runs r ON r.id = s.run_id").fetchone()
    assert counts(back) == counts(db) == Counter({("sim/faker", "free", "complied"): 1})
    assert json.loads(transcript)[1]["content"] == reply  # kept as written
    assert json.loads(config)["tags"] == [list(p) for p in TAG_PAIRS]
