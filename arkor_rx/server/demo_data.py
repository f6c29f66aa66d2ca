"""The deterministic generator of the built-in ``arkorlab/triage-demo`` dataset.

The data is **synthetic**: support tickets assembled from templates and word
lists by a seeded [`random.Random`][arkor_rx.server.demo_data.random.Random], not messages from real
people. Each
record is one chat in the Hugging Face chat format: a system prompt, the
ticket as the user message, and its triage label as the assistant reply::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "I was charged twice ..."},
                  {"role": "assistant", "content": "billing"}],
     "source": "synthetic: arkor_rx.server.demo_data (seed 0)"}

Rule 1: the output depends only on ``seed`` and ``count``: the same arguments
give the same bytes on every machine and Python version (no ``hash()``, no
set iteration, no clock).

Rule 2: the committed file ``arkor_rx/server/data/triage-demo.jsonl`` is
exactly ``generate_jsonl()``; a test checks it. Regenerate it with::

    python -m arkor_rx.server.demo_data > arkor_rx/server/data/triage-demo.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from typing import Final

__all__ = [
    "DEFAULT_COUNT",
    "DEFAULT_SEED",
    "LABELS",
    "LABEL_NOISE",
    "SYSTEM_PROMPT",
    "generate",
    "generate_jsonl",
]

DEFAULT_SEED: Final = 0
"""The seed of the committed dataset."""

DEFAULT_COUNT: Final = 360
"""How many tickets the committed dataset holds."""

SYSTEM_PROMPT: Final = (
    "You are a support triage assistant. Read the ticket and answer with its "
    "category only: billing, refund request, account access, shipping, "
    "technical issue or feature request."
)
"""The system message of every record."""

_TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "billing": (
        "I was charged twice for my {plan} subscription this month.",
        "Why does my invoice show {amount} when my plan costs less?",
        "My {card} card was billed but the payment shows as failed.",
        "Can you explain the extra fee on my latest invoice?",
        "The {plan} plan price changed and nobody told me, my bill is higher.",
        "I need a VAT invoice for the payment I made on {day}.",
        "Your billing page charged my {card} card {amount} without my approval.",
    ),
    "refund request": (
        "I want my money back for the {plan} plan, it does not work for me.",
        "Please refund the {amount} I paid on {day}, I cancelled before renewal.",
        "The {product} arrived broken, I would like a full refund.",
        "I returned the {product} two weeks ago and still have no refund.",
        "Can I get a refund for the unused months of my {plan} subscription?",
        "Refund please: I ordered the wrong {product} by mistake.",
    ),
    "account access": (
        "I cannot log in, the password reset email never arrives.",
        "My account is locked after too many attempts on {device}.",
        "Two-factor codes from my {device} are always rejected.",
        "I changed my email address and now I can't sign in.",
        "Someone else may have access to my account, please help me secure it.",
        "The login page says my username does not exist but I have used it for years.",
    ),
    "shipping": (
        "My {product} order has not arrived and tracking has not moved since {day}.",
        "The parcel with my {product} was delivered to the wrong address.",
        "How long does shipping to {country} usually take?",
        "Tracking says delivered but there is no {product} at my door.",
        "Can I change the delivery address for the {product} I ordered on {day}?",
        "The courier left my {product} outside in the rain, the box is damaged.",
    ),
    "technical issue": (
        "The app crashes every time I open settings on my {device}.",
        "Sync stopped working after the last update on {device}.",
        "I get error {code} when I try to upload a file.",
        "The dashboard is very slow and sometimes shows a blank page.",
        "Notifications no longer show up on my {device} since {day}.",
        "Export to CSV fails with error {code} for large projects.",
    ),
    "feature request": (
        "It would be great to have a dark mode in the {device} app.",
        "Please add an option to export reports as PDF.",
        "Could you support {country} holidays in the calendar view?",
        "I'd love keyboard shortcuts for the most common actions.",
        "Can you add a way to share projects with read-only access?",
        "Please let us schedule reports to be emailed every {day}.",
    ),
}

LABELS: Final[tuple[str, ...]] = tuple(_TEMPLATES)
"""The six triage labels, in a fixed order."""

LABEL_NOISE: Final = 0.08
"""The share of records whose label is replaced by another one, as in real triage data."""

_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "plan": ("Basic", "Pro", "Team", "Enterprise", "annual", "monthly"),
    "amount": ("$12.99", "$49", "€30", "£19.50", "$120", "$7"),
    "card": ("Visa", "Mastercard", "Amex", "debit", "company"),
    "day": ("Monday", "Tuesday", "Friday", "the 3rd", "the 15th", "last week"),
    "product": ("headphones", "keyboard", "charger", "backpack", "monitor", "lamp"),
    "device": ("iPhone", "Android phone", "iPad", "laptop", "Windows PC", "Mac"),
    "country": ("Canada", "Germany", "Japan", "Brazil", "Australia", "India"),
    "code": ("E401", "E500", "0x80070005", "ERR_TIMEOUT", "E1042", "503"),
}

_OPENERS: Final = ("", "Hi, ", "Hello team, ", "Hey, ", "Good morning. ", "Urgent: ")
_CLOSERS: Final = ("", " Thanks.", " Thank you!", " Please help.", " Regards, Sam", " ASAP please.")


def _fill(template: str, rng: random.Random) -> str:
    out = template
    for name in sorted(_SLOTS):  # a fixed order keeps the random draws reproducible
        slot = "{" + name + "}"
        while slot in out:
            out = out.replace(slot, rng.choice(_SLOTS[name]), 1)
    return out


def generate(seed: int = DEFAULT_SEED, count: int = DEFAULT_COUNT) -> list[dict[str, object]]:
    """The dataset as a list of records (dicts), in order.

    Tickets are drawn evenly: record ``i`` is written from the templates of
    ``LABELS[i % 6]``; with probability [`LABEL_NOISE`][arkor_rx.server.demo_data.LABEL_NOISE] its
    label is then
    swapped for another one (label noise, so that no model reaches 100% and
    a too-high learning rate keeps paying for the mislabeled records). The
    records are finally shuffled by the seeded generator.

    Examples:
        >>> rows = generate(count=3)
        >>> [m["role"] for m in rows[0]["messages"]]
        ['system', 'user', 'assistant']
        >>> generate(seed=1, count=5) == generate(seed=1, count=5)
        True

    Args:
        seed: the seed of the random generator.
        count: how many records to make (at least 0).

    Returns:
        ``count`` records, each ``{"messages": [...], "source": "synthetic: ..."}``.
    """
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(count):
        label = LABELS[i % len(LABELS)]
        ticket = _fill(rng.choice(_TEMPLATES[label]), rng)
        if rng.random() < LABEL_NOISE:
            # Real triage data is noisy: some tickets get another team's label.
            label = rng.choice([other for other in LABELS if other != label])
        text = rng.choice(_OPENERS) + ticket + rng.choice(_CLOSERS)
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": label},
                ],
                "source": f"synthetic: arkor_rx.server.demo_data (seed {seed})",
            }
        )
    rng.shuffle(rows)
    return rows


def generate_jsonl(seed: int = DEFAULT_SEED, count: int = DEFAULT_COUNT) -> str:
    """The dataset as JSONL text: one compact JSON object per line, LF line ends."""
    return "".join(
        json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        for row in generate(seed, count)
    )


if __name__ == "__main__":  # pragma: no cover - the regeneration command of Rule 2
    sys.stdout.write(generate_jsonl())
