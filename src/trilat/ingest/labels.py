"""Labels of derived items: the roll-up of their inputs', re-owned by this node.

A derived item takes :func:`trilat.core.labels.roll_up` of the labels of the items it was
derived from (SPEC §7: never less restrictive). The node originates it, so the rolled-up
markings are sealed under the node's nation (``seal`` refuses a label owned elsewhere).

:class:`LabelSpans` remembers, per subject (a vessel, an aircraft), which labels its reports
carried and over which report times, in bounded memory: a subject keeps at most
``max_spans`` distinct labels; beyond that its two oldest spans merge into one span under
their roll-up (stricter, never looser).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from trilat.core.labels import Label, roll_up


def derived_label(labels: Iterable[Label]) -> Label:
    """The roll-up of *labels* without an owner (the sealing node becomes the owner)."""
    return dataclasses.replace(roll_up(labels), owner=None)


@dataclass(slots=True)
class _Span:
    label: Label
    first: float
    last: float


class LabelSpans:
    """Per subject: the labels its inputs carried and when (report time, POSIX seconds)."""

    def __init__(self, *, max_spans: int = 8, max_subjects: int = 200_000) -> None:
        self.max_spans = max_spans
        self.max_subjects = max_subjects
        self._spans: OrderedDict[Hashable, list[_Span]] = OrderedDict()

    def note(self, subject: Hashable, label: Label, at: float) -> None:
        spans = self._spans.get(subject)
        if spans is None:
            spans = self._spans[subject] = []
            if len(self._spans) > self.max_subjects:
                self._spans.popitem(last=False)
        else:
            self._spans.move_to_end(subject)
        for span in spans:
            if span.label == label:
                span.first, span.last = min(span.first, at), max(span.last, at)
                return
        spans.append(_Span(label, at, at))
        if len(spans) > self.max_spans:
            spans.sort(key=lambda s: s.first)
            a, b = spans[0], spans[1]
            spans[:2] = [
                _Span(roll_up([a.label, b.label]), min(a.first, b.first), max(a.last, b.last))
            ]

    def labels(self, subject: Hashable, start: float, end: float, slack: float) -> list[Label]:
        """Labels of *subject* seen within [start - slack, end + slack]; every label it has
        carried when none falls in that window (fail closed: never an empty answer for a
        subject that was seen)."""
        spans = self._spans.get(subject, [])
        inside = [s.label for s in spans if s.last >= start - slack and s.first <= end + slack]
        return inside or [s.label for s in spans]
