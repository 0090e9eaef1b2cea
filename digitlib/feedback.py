"""The "Save correction" control on each result card and on the drawing pad.

A visitor presses "Wrong?", chooses the right answer (a digit 0-9 or "not a digit"; for a
number, types it) and presses "Save correction"; only then is anything stored
(:mod:`digitlib.corrections`). The card says what was saved, or in a sentence why it could not
be. CSS hooks (docs/architecture.md): ``digit-correct`` (the control: first the
``digit-correct-open`` button, then a box with ``digit-correct-choice``, ``digit-correct-save``
and ``digit-correct-status``).
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
    """A "Wrong?" button that opens a choice of the right answer and a "Save correction"
    button. ``draft()`` gives the correction to store without its label (``None``: nothing to
    correct yet).

    Until it is used the control is one widget (``widget`` is the "Wrong?" button): every card
    carries one, and each widget costs the browser a few milliseconds to render. ``open()``
    builds the rest and puts it where the button was in the box given to ``place``.
    """

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
        self.opener = widgets.Button(
            description="Wrong?", icon="pencil", tooltip="tell us the right answer"
        )
        self.opener.layout.width = "auto"
        self.opener.add_class("digit-correct")
        self.opener.add_class("digit-correct-open")
        self.opener.on_click(lambda _button: self.open())
        self.widget: widgets.Widget = self.opener
        self._holder: widgets.Box | None = None
        self.choice: widgets.ValueWidget | None = None
        self.button: widgets.Button | None = None
        self.status: widgets.HTML | None = None

    def place(self, holder: widgets.Box) -> None:
        """``holder`` shows ``widget``; ``open()`` swaps the button for the full control there."""
        self._holder = holder

    @property
    def opened(self) -> bool:
        return self.choice is not None

    def open(self) -> None:
        """Show the choice, the Save button and the status line (once; later calls do nothing)."""
        if self.opened:
            return
        if self.mode == "number":
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
        box = widgets.HBox(
            [widgets.HTML("The right answer is"), self.choice, self.button, self.status],
            layout=widgets.Layout(gap="4px 8px", align_items="center", flex_flow="row wrap"),
        )
        box.add_class("digit-correct")
        self.widget = box
        if self._holder is not None:
            self._holder.children = tuple(
                box if child is self.opener else child for child in self._holder.children
            )
        self.opener.close()

    def _label(self) -> str | None:
        value = str(self.choice.value or "").strip()  # save() opens the control first
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
        self.open()
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
        """Ready for a new answer (the drawing pad after Clear); an opened control stays open."""
        self.saved = None
        if not self.opened:
            return
        self.button.disabled = False
        self.button.description = "Save correction"
        self.status.value = ""
        self.choice.value = ""

    def close(self) -> None:
        """Close every widget the control made."""
        widget = self.widget
        parts = [widget, *widget.children] if self.opened else [self.opener]
        for part in parts:
            part.close()


class ResultCard(widgets.VBox):
    """One result card: the card's HTML and, for an answer, the correction control. ``value``
    is the HTML, as it was when cards were HTML widgets."""

    def __init__(self, body: str, control: CorrectionControl | None = None):
        self.body = widgets.HTML(body, layout=widgets.Layout(width="auto"))
        self.control = control
        children = [self.body] + ([control.widget] if control else [])
        super().__init__(children, layout=widgets.Layout(width="auto"))
        self.add_class("digit-result")
        if control is not None:
            control.place(self)

    @property
    def value(self) -> str:
        return self.body.value

    def close(self) -> None:
        self.body.close()
        if self.control is not None:
            self.control.close()
        super().close()
