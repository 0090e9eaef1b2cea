"""The "Save correction" control on each result card and on the drawing pad.

A visitor chooses the right answer (a digit 0-9 or "not a digit"; for a number, types it) and
presses "Save correction"; only then is anything stored (:mod:`digitlib.corrections`). The card
says what was saved, or in a sentence why it could not be. CSS hooks (docs/architecture.md):
``digit-correct`` (the control), ``digit-correct-choice``, ``digit-correct-save``,
``digit-correct-status``.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets

from digitlib import corrections
from digitlib.corrections import Correction, CorrectionNotSaved

log = logging.getLogger("digitlib.dashboard")

PROMPT = "right answer…"
NUMBER = re.compile(r"\d{1,64}")
UNEXPECTED = "The correction could not be saved because of an unexpected error; it has been logged."


class CorrectionControl:
    """A choice of the right answer and a "Save correction" button. ``draft()`` gives the
    correction to store without its label (``None``: nothing to correct yet)."""

    def __init__(
        self,
        draft: Callable[[], Correction | None],
        mode: str = "digit",
        database: str | Path | None = None,
    ):
        self.draft = draft
        self.mode = mode
        self.database = database
        self.saved: Correction | None = None
        if mode == "number":
            self.choice = widgets.Text(placeholder="the right number", continuous_update=False)
            self.choice.layout.width = "150px"
        else:
            self.choice = widgets.Dropdown(
                options=[(PROMPT, "")] + [(label, label) for label in corrections.DIGIT_LABELS]
            )
            self.choice.layout.width = "130px"
        self.choice.add_class("digit-correct-choice")
        self.button = widgets.Button(
            description="Save correction", icon="check", tooltip="store the right answer"
        )
        self.button.layout.width = "150px"
        self.button.add_class("digit-correct-save")
        self.button.on_click(lambda _button: self.save())
        self.status = widgets.HTML()
        self.status.add_class("digit-correct-status")
        self.widget = widgets.HBox(
            [widgets.HTML("Wrong? The right answer is"), self.choice, self.button, self.status],
            layout=widgets.Layout(gap="4px 8px", align_items="center", flex_flow="row wrap"),
        )
        self.widget.add_class("digit-correct")

    def _label(self) -> str | None:
        value = str(self.choice.value or "").strip()
        if self.mode == "number":
            value = value.replace(" ", "")
            if value.lower() == corrections.NOT_A_DIGIT:
                return corrections.NOT_A_DIGIT
            return value if NUMBER.fullmatch(value) else None
        return value or None

    def _say(self, text: str, error: bool = False) -> None:
        kind = "digit-correct-error" if error else "digit-correct-saved"
        self.status.value = f'<span class="{kind}">{html.escape(text)}</span>'

    def save(self) -> Correction | None:
        """Store the correction; the control says what happened. Never raises."""
        label = self._label()
        if label is None:
            what = "type the right number in digits" if self.mode == "number" else "choose"
            self._say(f"First {what} the right answer.", error=True)
            return None
        try:
            draft = self.draft()
            if draft is None:
                self._say("Nothing to correct yet.", error=True)
                return None
            correction = dataclasses.replace(draft, label=label, saved_at=corrections.utc_now())
            corrections.save(correction, self.database)
        except CorrectionNotSaved as error:
            self._say(str(error), error=True)
            return None
        except Exception:  # noqa: BLE001 - never a traceback on the page
            log.exception("saving a correction failed")
            self._say(UNEXPECTED, error=True)
            return None
        self.saved = correction
        self.button.disabled = True
        self.button.description = "Saved"
        self._say(f"Saved (correction {correction.id}): the right answer is {label}. Thank you.")
        return correction

    def reset(self) -> None:
        """Ready for a new answer (the drawing pad after Clear)."""
        self.saved = None
        self.button.disabled = False
        self.button.description = "Save correction"
        self.status.value = ""
        self.choice.value = ""


class ResultCard(widgets.VBox):
    """One result card: the card's HTML and, for an answer, the correction control. ``value``
    is the HTML, as it was when cards were HTML widgets."""

    def __init__(self, body: str, control: CorrectionControl | None = None):
        self.body = widgets.HTML(body, layout=widgets.Layout(width="auto"))
        self.control = control
        children = [self.body] + ([control.widget] if control else [])
        super().__init__(children, layout=widgets.Layout(width="auto"))
        self.add_class("digit-result")

    @property
    def value(self) -> str:
        return self.body.value

    def close(self) -> None:
        parts = [self.control.widget, *self.control.widget.children] if self.control else []
        for child in [self.body, *parts]:
            child.close()
        super().close()
