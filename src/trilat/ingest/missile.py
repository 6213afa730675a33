"""The missile-warning path: sensor reports in, one fused warning per launch out, at once.

Every ``missile_event`` item the node accepts on topic ``dprk.missile`` (a sensor report, from
the API, CoT or a federation peer) is read with ``report_from_body`` and associated by
:class:`~trilat.analytics.missile.LaunchFuser`. The fused launch becomes a ``missile_event``
item on topic ``dprk.missile.warning`` as soon as it exists; each later report of the same
launch issues a new warning that supersedes the previous one. The warning's label is the
roll-up of its reports' labels, its ``refs`` the reports' item ids, and when an impact point is
known its body carries ``impact_eez``: whose EEZ holds the impact in the node's view.

Warnings themselves (topic ``dprk.missile.warning``) are never fed back in.
"""

from __future__ import annotations

import logging
from typing import Final

from trilat.analytics.missile import (
    WARNING_TOPIC,
    LaunchFuser,
    impact_eez,
    report_from_body,
    warning_item,
)
from trilat.core.errors import TrilatError
from trilat.core.items import Envelope, Item
from trilat.ingest.analytics import Derived
from trilat.ingest.labels import derived_label

_log = logging.getLogger(__name__)

REPORT_TOPIC: Final = "dprk.missile"


class MissileLive:
    """Fuses accepted sensor reports and issues (superseding) warning items."""

    def __init__(self, view: str, *, max_launches: int = 10_000) -> None:
        self.view = view
        self.fuser = LaunchFuser()
        self._warnings: dict[str, str | None] = {}  # launch id → id of its latest warning item
        self.max_launches = max_launches
        self.reports = 0
        self.refused = 0

    def wants(self, envelope: Envelope) -> bool:
        return (
            envelope.kind == "missile_event"
            and REPORT_TOPIC in envelope.topics
            and WARNING_TOPIC not in envelope.topics
        )

    def take(self, envelope: Envelope) -> list[Derived]:
        try:
            report = report_from_body(
                envelope.body,
                ref=envelope.id,
                label=envelope.label,
                source_nation=envelope.originator.nation,
                supersedes=envelope.supersedes,
            )
        except TrilatError as exc:
            self.refused += 1
            _log.warning("ingest.missile_report_refused id=%s error=%s", envelope.id, exc)
            return []
        self.reports += 1
        fused = self.fuser.add(report)
        if len(self._warnings) > self.max_launches:  # bounded memory: start afresh
            self.fuser = LaunchFuser(self.fuser.params)
            self._warnings.clear()
            fused = self.fuser.add(report)
        eez = None
        if fused.impact is not None:
            try:
                eez = impact_eez(fused, (self.view,))
            except TrilatError as exc:
                _log.warning("ingest.missile_eez_failed view=%s error=%s", self.view, exc)
        warning = warning_item(fused, eez=eez)
        previous = self._warnings.get(fused.launch_id)
        self._warnings.setdefault(fused.launch_id, None)
        item = Item(
            kind=warning.kind,
            label=derived_label([warning.label]),
            topics=warning.topics,
            body=dict(warning.body),
            refs=warning.refs,
            supersedes=previous,
        )
        return [Derived(item, chain=f"launch:{fused.launch_id}")]

    def stored(self, derived: Derived, envelope: Envelope) -> None:
        if derived.chain and derived.chain.startswith("launch:"):
            self._warnings[derived.chain.removeprefix("launch:")] = envelope.id
