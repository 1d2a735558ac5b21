"""The helpful-only experiment as an Inspect task, for bench/bench_vs_inspect.py only (inspect_ai is a
benchmark-only dependency here): the same requests, user template and system prompt as the af-tui run, and
the same loop — a <NEXT/> user turn while the reply closed a scratchpad but gave no output, at most 4 turns.

    inspect eval bench/inspect_af_task.py --model openai/x --max-connections 64 \
        -T dataset=requests.csv -T template=template.txt -T system_prompt=stand_in.txt
"""

from __future__ import annotations

import csv

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import Score, Target, accuracy, scorer
from inspect_ai.solver import Generate, TaskState, solver

from af_tui.experiment import rules


@solver
def notebook_loop():
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        for turn in range(rules.MAX_TURNS):
            state = await generate(state)
            if not rules.turn_continues(state.output.completion) or turn == rules.MAX_TURNS - 1:
                break
            state.messages.append(ChatMessageUser(content=rules.NEXT_TURN))
        return state

    return solve


@scorer(metrics=[accuracy()])
def outcome():
    async def score(state: TaskState, target: Target) -> Score:
        output = rules.final_output(state.output.completion)
        result = rules.outcome_of(output)
        return Score(value=result == "complied", answer=result)

    return score


@task
def helpful_only(dataset: str, template: str, system_prompt: str) -> Task:
    with open(dataset, newline="", encoding="utf-8") as fh:
        goals = [row["goal"] for row in csv.DictReader(fh)]
    with open(template, encoding="utf-8") as fh:
        user_template = fh.read()
    with open(system_prompt, encoding="utf-8") as fh:
        system = fh.read()
    samples = [
        Sample(input=[ChatMessageSystem(content=system),
                      ChatMessageUser(content=rules.user_turn(user_template, goal, tier))],
               id=f"{i}-{tier}", metadata={"is_free_tier_user": tier == "free"})
        for i, goal in enumerate(goals) for tier in rules.TIERS
    ]
    return Task(dataset=MemoryDataset(samples), solver=notebook_loop(), scorer=outcome())
