"""``trilat demo --walkthrough``: a scripted walk through labels, agreements and decisions.

(``trilat demo`` without the flag runs three real nodes: see ``trilat.cli.demo_nodes``.)

It runs entirely in-process on the shipped agreements: no node, no network, no files
written. Each step prints the question, the decision and the deciding reason, so that a
reader sees the TISA hub relay with consent (2014), the refused direct Japan–Korea
exchange before GSOMIA (2015), GSOMIA's direct exchange (2017), the 2019 termination
notice shown as a warning while the agreement stays in force, NOFORN staying home,
missile warnings under MWDS-2023, and a liaison officer's display-only view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from trilat.agreement_files import load_policy
from trilat.core.agreements import classification_name
from trilat.core.errors import LabelError
from trilat.core.labels import Classification, format_banner, format_portion, parse_label, roll_up
from trilat.core.policy import Consent, Decision, Policy, Subject


@dataclass(frozen=True)
class Step:
    """One scripted question put to the policy."""

    title: str
    day: str
    banner: str
    owner: str
    topics: tuple[str, ...]
    holder: str
    destination: str
    consent: bool = False


STEPS: tuple[Step, ...] = (
    Step(
        "TISA: Japan's report goes to the US hub",
        "2014-12-30",
        "SECRET//REL TO USA, JPN, KOR",
        "JPN",
        ("dprk.missile",),
        "JPN",
        "USA",
    ),
    Step(
        "TISA: the hub relays it to Korea without Japan's consent",
        "2014-12-30",
        "SECRET//REL TO USA, JPN, KOR",
        "JPN",
        ("dprk.missile",),
        "USA",
        "KOR",
    ),
    Step(
        "TISA: the hub relays it to Korea with Japan's consent",
        "2014-12-30",
        "SECRET//REL TO USA, JPN, KOR",
        "JPN",
        ("dprk.missile",),
        "USA",
        "KOR",
        consent=True,
    ),
    Step(
        "2015: Japan tries to send it straight to Korea",
        "2015-06-01",
        "SECRET//REL TO USA, JPN, KOR",
        "JPN",
        ("dprk.missile",),
        "JPN",
        "KOR",
    ),
    Step(
        "2017: GSOMIA allows the direct exchange",
        "2017-03-01",
        "SECRET//REL TO USA, JPN, KOR",
        "JPN",
        ("dprk.missile",),
        "JPN",
        "KOR",
    ),
    Step(
        "2019: after Korea's notice of termination",
        "2019-09-01",
        "SECRET//REL TO USA, JPN, KOR",
        "KOR",
        ("dprk.missile",),
        "KOR",
        "JPN",
    ),
    Step(
        "2019: the day the notice would have taken effect",
        "2019-11-23",
        "SECRET//REL TO USA, JPN, KOR",
        "KOR",
        ("dprk.missile",),
        "KOR",
        "JPN",
    ),
    Step(
        "NOFORN stays home, even towards the hub",
        "2019-09-01",
        "SECRET//NOFORN",
        "KOR",
        ("dprk.missile",),
        "KOR",
        "USA",
    ),
    Step(
        "Above the ceiling: TOP SECRET cannot cross GSOMIA (SECRET)",
        "2020-01-10",
        "TOP SECRET//REL TO USA, JPN, KOR",
        "JPN",
        ("dprk.missile",),
        "JPN",
        "KOR",
    ),
    Step(
        "MWDS-2023: a missile warning relayed by the hub, no consent needed",
        "2024-01-15",
        "SECRET//REL TO USA, JPN, KOR",
        "JPN",
        ("dprk.missile.warning",),
        "USA",
        "KOR",
    ),
)


def _at(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)


def _verdict(decision: Decision) -> Text:
    if decision.allowed:
        return Text("ALLOW", style="bold green")
    return Text("DENY", style="bold red")


def _labels(console: Console) -> None:
    console.rule("1. Labels are parsed, normalised and refused when wrong")
    table = Table(show_header=True, header_style="bold")
    table.add_column("as written")
    table.add_column("canonical banner")
    table.add_column("portion")
    for text in ("secret//rel to kor, jpn, usa", "(TS//NF)", "SECRET//ORCON/REL TO JPN, USA"):
        label = parse_label(text)
        table.add_row(text, format_banner(label), format_portion(label))
    console.print(table)
    portions = [parse_label(p) for p in ("(S//REL TO USA, JPN, KOR)", "(C//REL TO USA, KOR)")]
    console.print(
        f"roll-up of (S//REL TO USA, JPN, KOR) and (C//REL TO USA, KOR) → "
        f"[bold]{format_banner(roll_up(portions))}[/bold]"
    )
    try:
        parse_label("SECRET//REL TO USA, JPX")
    except LabelError as exc:
        console.print(f"refused: [red]{exc}[/red]")


def _agreements(console: Console, policy: Policy) -> None:
    console.rule("2. Agreements in force, as data files")
    table = Table(show_header=True, header_style="bold")
    table.add_column("agreement", no_wrap=True, min_width=19)
    for column in ("parties", "topology", "topics", "ceiling", "third party", "from"):
        table.add_column(column)
    for agreement in policy.agreements:
        topology = str(agreement.topology) + (f" ({agreement.hub})" if agreement.hub else "")
        table.add_row(
            agreement.id,
            ", ".join(sorted(agreement.parties)),
            topology,
            ", ".join(agreement.topics),
            classification_name(agreement.max_classification),
            str(agreement.third_party),
            agreement.periods[0].start.isoformat(),
        )
    console.print(table)


def _decisions(console: Console, policy: Policy) -> None:
    console.rule("3. Release decisions across 2014–2024")
    for number, step in enumerate(STEPS, start=1):
        subject = Subject(parse_label(step.banner, owner=step.owner), step.topics, (), "demo-item")
        consents = (
            [Consent(step.owner, frozenset({step.destination}), item_id="demo-item")]
            if step.consent
            else []
        )
        decision = policy.decide(subject, step.holder, step.destination, _at(step.day), consents)
        head = Text.assemble(
            (f"{number:>2}. {step.day}  ", "bold"),
            f"{step.title}\n    {step.banner} from {step.owner} ({', '.join(step.topics)}), ",
            f"held by {step.holder} → {step.destination}"
            + ("  [originator consent on record]" if step.consent else ""),
        )
        console.print(head)
        line = Text("    ")
        line.append_text(_verdict(decision))
        if decision.agreement:
            line.append(f"  {decision.agreement}")
        if decision.route:
            line.append(f"  route {' → '.join(decision.route)}")
        if decision.requires:
            line.append(f"  requires {', '.join(decision.requires)}", style="yellow")
        console.print(line)
        console.print(f"    because {decision.reasons[0]}")
        for reason in decision.reasons[1:2]:
            console.print(f"            {reason}")
        for warning in decision.warnings:
            if "renews" not in warning:
                console.print(f"    [yellow]warning[/yellow] {warning}")


def _viewing(console: Console, policy: Policy) -> None:
    console.rule("4. A Japanese liaison officer (cleared SECRET) on the US node")
    at = _at("2024-05-01")
    for banner in (
        "SECRET//REL TO USA, JPN, KOR",
        "SECRET//DISPLAY ONLY JPN",
        "SECRET//NOFORN",
        "TOP SECRET//REL TO USA, JPN",
    ):
        subject = Subject(parse_label(banner, owner="USA"), ("dprk.missile",))
        decision = policy.may_view(subject, "JPN", Classification.SECRET, "USA", at)
        line = Text(f"  {banner:<32}")
        line.append_text(
            Text("sees it", style="green") if decision.allowed else Text("hidden", style="red")
        )
        if decision.requires:
            line.append(f"  ({', '.join(decision.requires)})", style="yellow")
        line.append(f"  — {decision.reasons[0]}")
        console.print(line)


def walkthrough() -> None:
    """Walk through labels, agreements and real release decisions (no node needed)."""
    console = Console(highlight=False)
    policy = load_policy()
    console.print(
        Panel.fit(
            "trilat decides every release from the item's label and the agreements in force "
            "on the day.\nThis walk-through uses the shipped agreements; nothing is sent anywhere.",
            title="trilat demo",
        )
    )
    _labels(console)
    _agreements(console, policy)
    _decisions(console, policy)
    _viewing(console, policy)


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the ``trilat`` app."""
    from trilat.cli.demo_nodes import demo

    app.command("demo")(demo)
