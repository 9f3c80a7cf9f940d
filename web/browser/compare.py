"""Compare: one message to two to four models, side by side, each with its road and speed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from web.app import App, CompareRun
from web.browser.dom import clone, el, make, part
from web.browser.messages import ReplyWriter
from web.browser.richtext import fill
from web.browser.view import as_choice, compare_choices, split_choice, stats_dict
from web.chat import ReplyStats
from web.chats import COMPARE_MAX, COMPARE_MIN
from web.dialects import ReasoningDelta, TextDelta
from web.drafts import describe_stats
from web.errors import DetourError


class CompareView:
    """The columns, their model choices, and the replies streaming into them."""

    def __init__(self, app: App, schedule: Callable[[], None]) -> None:
        self.app = app
        self.schedule = schedule
        self.count = COMPARE_MIN
        self.choices: list[str] = []
        self.writers: list[ReplyWriter] = []

    def render(self) -> None:
        """Columns with a model select each; keeps the choices already made."""
        box = el("columns")
        self.remember()
        box.style.setProperty("--cols", str(self.count))
        box.replaceChildren()
        options = compare_choices(self.app.providers(), self.app.models)
        flat = [as_choice(self.id_of(name), m) for name, models in options for m in models]
        for index in range(self.count):
            column = clone("t-column")
            select = part(column, "select")
            select.setAttribute("aria-label", f"Model for column {index + 1}")
            for name, models in options:
                group = make("optgroup", label=name)
                for model in models:
                    group.appendChild(
                        make("option", model, value=as_choice(self.id_of(name), model))
                    )
                select.appendChild(group)
            wanted = self.choices[index] if index < len(self.choices) else ""
            if wanted not in flat and flat:
                wanted = flat[min(index, len(flat) - 1)]
            select.value = wanted
            box.appendChild(column)
        el("add-column").disabled = self.count >= COMPARE_MAX
        el("remove-column").disabled = self.count <= COMPARE_MIN

    def id_of(self, name: str) -> str:
        return next((p.id for p in self.app.providers() if p.name == name), name)

    def remember(self) -> None:
        selects = el("columns").querySelectorAll("select")
        if selects.length:
            self.choices = [str(s.value) for s in selects]

    def resize(self, step: int) -> None:
        self.count = max(COMPARE_MIN, min(COMPARE_MAX, self.count + step))
        self.render()

    def targets(self) -> list[tuple[str, str]]:
        self.remember()
        return [split_choice(choice) for choice in self.choices[: self.count]]

    def start(self, text: str) -> list[CompareRun]:
        """Check and start every column; raises `DetourError` before anything is shown."""
        return self.app.chats.compare(self.targets(), text)

    async def run(self, runs: list[CompareRun]) -> None:
        slots = el("columns").querySelectorAll(".slot")
        self.writers = []
        jobs = []
        for index, run in enumerate(runs):
            node = clone("t-message")
            node.dataset.role = "assistant"
            node.setAttribute("aria-label", f"{run.provider.name} · {run.model}")
            part(node, ".who").textContent = f"{run.provider.name} · {run.model}"
            slots[index].replaceChildren(node)
            writer = ReplyWriter(node, self.schedule)
            self.writers.append(writer)
            jobs.append(self.consume(run, writer))
        await asyncio.gather(*jobs)

    async def consume(self, run: CompareRun, writer: ReplyWriter) -> None:
        footer, error, route = "", "", ""
        paused = time.monotonic()
        try:
            async for update in run.updates:
                if time.monotonic() - paused > 0.012:
                    await asyncio.sleep(0.001)  # let the browser paint and take input
                    paused = time.monotonic()
                if isinstance(update, TextDelta):
                    writer.add_text(update.text)
                elif isinstance(update, ReasoningDelta):
                    writer.add_reasoning(update.text)
                elif isinstance(update, ReplyStats):
                    footer = describe_stats(stats_dict(update))
                    error, route = update.error, update.route or ""
        except DetourError as failure:
            error = str(failure)
        writer.finish(None, footer, error, route)
        fill(writer.body, "".join(writer.received))

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()
