"""Templated Korvane articles: specification sheets, setup and care guides, error and connection pages.

Each table maps a section heading to its facts ``(value key, sentence templates, question templates)``;
the value of each key is drawn per article with the seeded RNG passed in by build_helpdesk.py.
"""

from __future__ import annotations

import random
import re

import helpdesk_catalog as cat
import helpdesk_fillers as fill

SETUP_FACTS = {
    "Before you begin": [
        (
            "first_charge",
            ["Before the first {task}, charge the {m} for at least [[{v}]] on its {base}."],
            [
                "How long should I charge the {m} before first use?",
                "What is the initial charging time for a new {s}?",
            ],
        ),
        (
            "setup_time",
            ["Setting up the {m} takes about [[{v}]] from unboxing to the first run."],
            ["How long does it take to set up the {m}?", "How many minutes does {s} setup take?"],
        ),
    ],
    "Placing the {base}": [
        (
            "clearance",
            ["Leave at least [[{v}]] of clear space in front of the {base} of the {s}."],
            [
                "How much clearance does the {s} {base} need?",
                "How much free space should I leave in front of the {m} {base}?",
            ],
        ),
    ],
    "Connecting to the Korvane Home app": [
        (
            "wifi",
            ["The {m} connects to [[{v}]]."],
            ["Which Wi-Fi bands does the {m} support?", "Can the {s} use 5 GHz Wi-Fi?"],
        ),
        (
            "hold",
            ["To enter pairing mode, press and hold the {button} on the {s} for [[{v}]]."],
            ["How long do I hold the {button} to pair the {s}?", "How do I put the {m} into pairing mode?"],
        ),
        (
            "pair_light",
            ["The status light of the {s} shows [[{v}]] when the robot is ready to pair."],
            [
                "What does the {s} status light show in pairing mode?",
                "How do I know the {m} is ready to pair?",
            ],
        ),
    ],
    "Your first run": [
        (
            "first_run",
            ["The first {task} of the {s} usually takes around [[{v}]]."],
            [
                "How long does the first {task} of the {m} take?",
                "How many minutes is the initial {task} on the {s}?",
            ],
        ),
    ],
}

MAINTENANCE_FACTS = {
    "Routine cleaning": [
        (
            "clean",
            [
                "Clean the {part} of the {m} [[{v}]].",
                "Korvane recommends cleaning the {part} of the {s} [[{v}]].",
            ],
            [
                "How often should I clean the {part} on the {m}?",
                "How frequently does the {s} {part} need cleaning?",
            ],
        ),
    ],
    "Replacing consumables": [
        (
            "cons_interval",
            ["Replace the {cons} of the {m} [[{v}]] for best results."],
            ["How often should the {cons} on the {m} be replaced?", "When do I need new {cons} for the {s}?"],
        ),
        (
            "part_no",
            ["Replacement {cons} for the {s} are sold under part number [[{v}]]."],
            [
                "What is the part number of the {cons} for the {m}?",
                "Which part number do I order for {s} {cons}?",
            ],
        ),
        (
            "wear_interval",
            ["The {wear} of the {s} should be replaced [[{v}]]."],
            [
                "How often do the {wear} of the {m} need replacing?",
                "What is the replacement interval for the {s} {wear}?",
            ],
        ),
    ],
    "Battery care": [
        (
            "cycles",
            ["The battery of the {m} is designed for about [[{v}]] before its capacity drops noticeably."],
            [
                "How many charge cycles does the {m} battery last?",
                "What is the expected battery lifespan of the {s}?",
            ],
        ),
        (
            "storage",
            ["If you store the {s} for more than a month, leave its battery at about [[{v}]]."],
            [
                "What charge level should the {s} have for long-term storage?",
                "How much battery should I leave in the {m} when storing it?",
            ],
        ),
    ],
}

ERROR_FACTS = {
    "What the error means": [
        (
            "meaning",
            [
                "On a {bn} {noun}, error {code} means that {art}[[{v}]].",
                "Error {code} on the {bn} tells you that {art}[[{v}]].",
            ],
            [
                "What does error {code} mean on a {bn}?",
                "My {name} {noun} shows {code}. What is wrong?",
                "What problem does code {code} indicate on the {bn}?",
            ],
        ),
        (
            "light",
            ["While error {code} is active, the status light of the {name} shows [[{v}]]."],
            [
                "How does the {name} status light signal error {code}?",
                "What light pattern goes with {code} on a {bn}?",
            ],
        ),
        (
            "affected",
            ["Error {code} can appear on the [[{v}]]."],
            ["Which {name} models can report error {code}?", "On which {bn} models does {code} occur?"],
        ),
    ],
    "Common causes": [
        (
            "cause",
            [
                "The most common cause of {code} on the {name} is [[{v}]].",
                "In most cases, {code} on a {name} is triggered by [[{v}]].",
            ],
            ["What usually causes error {code} on a {bn}?", "Why does my {name} keep showing {code}?"],
        ),
    ],
    "How to fix it": [
        (
            "wait",
            ["After clearing the problem, switch the {name} off and wait [[{v}]] before restarting it."],
            [
                "How long should I wait before restarting my {name} after error {code}?",
                "After fixing {code} on the {bn}, how long do I wait to turn it back on?",
            ],
        ),
        (
            "part_no",
            ["If {code} persists on the {name}, replace the {part} with Korvane part number [[{v}]]."],
            [
                "What is the part number of the replacement {part} for error {code} on the {name}?",
                "Which part do I order when {code} keeps appearing on my {bn}?",
            ],
        ),
    ],
    "When to contact support": [
        (
            "retries",
            ["If error {code} returns more than [[{v}]] times within 24 hours, contact Korvane Support."],
            [
                "How many times can {code} come back on a {name} before I should contact support?",
                "When should I call Korvane Support about repeated {code} errors on the {name}?",
            ],
        ),
    ],
}

CONNECTION_FACTS = {
    "Resetting the network settings": [
        (
            "reset",
            [
                "To reset the network settings of a {bn} {noun}, hold the {button} and the power button together for [[{v}]]."
            ],
            [
                "How do I reset the Wi-Fi settings on a {bn}?",
                "How long do I hold the buttons to reset the {name} network settings?",
            ],
        ),
    ],
    "Reading the status light": [
        (
            "offline_light",
            ["A {name} robot that has lost its connection shows [[{v}]] on its status light."],
            [
                "What does the status light of a {name} look like when it is offline?",
                "How can I tell my {bn} has lost Wi-Fi?",
            ],
        ),
    ],
    "Improving the signal": [
        (
            "distance",
            ["For a reliable signal, keep the {base} of a {name} robot within [[{v}]] of the router."],
            [
                "How close to the router should the {name} {base} be?",
                "What is the recommended distance between my router and a {bn}?",
            ],
        ),
    ],
    "Offline alerts": [
        (
            "offline_after",
            ["The Korvane Home app marks a {name} robot as offline after [[{v}]] without contact."],
            [
                "When does the app show my {name} as offline?",
                "After how long without contact is a {bn} marked offline?",
            ],
        ),
    ],
    "Firewalls and routers": [
        (
            "port",
            ["{name} robots reach the Korvane cloud over [[{v}]], so make sure your firewall allows it."],
            [
                "Which port does the {bn} use to reach the Korvane cloud?",
                "What firewall port must be open for a {name} robot?",
            ],
        ),
    ],
}


# ---------------------------------------------------------------- markup helpers


def _fact(rng: random.Random, sentences: list[str], questions: list[str], **fmt: str) -> str:
    """One fact sentence in markup with one or two of its question phrasings."""
    sentence = rng.choice(sentences).format(**fmt)
    chosen = rng.sample(questions, 2 if rng.random() < 0.55 else 1)
    return sentence + "<<" + " | ".join(q.format(**fmt) for q in chosen) + ">>"


def _fillers(rng: random.Random, pool: list[str], k: int, **fmt: str) -> list[str]:
    return [s.format(**fmt) for s in rng.sample(pool, min(k, len(pool)))]


def _section(heading: str, sentences: list[str], rng: random.Random) -> str:
    """A ``##`` section whose sentences are grouped into paragraphs of three to five."""
    paragraphs, i = [], 0
    while i < len(sentences):
        size = rng.randint(3, 5)
        paragraphs.append(" ".join(sentences[i : i + size]))
        i += size
    return "## " + heading + "\n" + "\n".join(paragraphs)


def _article(title: str, table: dict, values: dict, fillers: dict, fmt: dict, rng: random.Random) -> str:
    """Render a fact table: facts whose value is None are left out, fillers mixed in."""
    parts = [f"# {title}"]
    for heading, facts in table.items():
        sentences = [_fact(rng, s, q, v=values[key], **fmt) for key, s, q in facts if values[key] is not None]
        sentences += _fillers(rng, fillers[heading], rng.randint(1, 2), **fmt)
        rng.shuffle(sentences)
        parts.append(_section(heading.format(**fmt), sentences, rng))
    return "\n".join(parts)


# ---------------------------------------------------------------- product values


def _number(spec: tuple, tier: int, rng: random.Random):
    values, step = spec[0], spec[1]
    if step is None:
        return values[tier]
    value = values + step * tier + rng.choice(spec[2])
    return round(value, 1) if isinstance(value, float) else value


def model_values(family: dict, tier: int, rng: random.Random) -> dict[str, str]:
    """Specification values of one model (tier 0 is the cheapest model of its family)."""
    values = {
        key: cat.COMMON_ATTRS[key][0].format(_number(spec, tier, rng))
        for key, spec in family["numbers"].items()
    }
    colours = rng.sample(cat.COLOURS, rng.choice([2, 3]))
    values["colours"] = ", ".join(colours[:-1]) + " and " + colours[-1]
    values["release_year"] = str(2020 + tier + rng.choice([0, 1]))
    values["port"] = rng.choice(["a USB-C port", "magnetic pogo pins", "a DC barrel jack"])
    values["firmware"] = f"{family['firmware_major']}.{rng.randint(1, 9)}.{rng.randint(0, 24)}"
    for extra in family["extra"]:
        values[extra["key"]] = extra["fmt"].format(_number(extra["spec"], tier, rng))
    return values


def model_names(family: dict, model: str, tier: int) -> dict[str, str]:
    """Template placeholders naming one model."""
    short = f"{family['name']} {model}"
    offset = 0 if len(family["models"]) == 4 else 1
    return {
        "m": f"{cat.BRAND} {short}",
        "s": short,
        "noun": family["noun"],
        "base": family["base"],
        "tier": cat.TIER_WORDS[tier + offset],
        "name": family["name"],
        "task": family["task"],
        "button": family["button"],
    }


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ---------------------------------------------------------------- articles


def spec_article(family: dict, names: dict, values: dict, rng: random.Random) -> str:
    """Specification page of one model."""
    extras = {e["key"]: e for e in family["extra"]}
    parts = [f"# {names['m']} specifications"]
    for heading, keys in cat.SPEC_SECTIONS:
        sentences = [rng.choice(fill.SPEC_INTRO).format(**names)] if heading == "Overview" else []
        for key in keys or list(extras):
            templates = (
                (extras[key]["sentences"], extras[key]["questions"])
                if key in extras
                else cat.COMMON_ATTRS[key][1:]
            )
            sentences.append(_fact(rng, *templates, v=values[key], **names))
        sentences += _fillers(rng, fill.SPEC_FILLER[heading], rng.randint(1, 2), **names)
        parts.append(_section(heading, sentences, rng))
    return "\n".join(parts)


def setup_article(family: dict, names: dict, rng: random.Random) -> str:
    """Setup guide of one model."""
    values = {
        "first_charge": f"{rng.choice([2, 3, 4])} hours",
        "setup_time": f"{rng.choice([10, 15, 20, 25])} minutes",
        "clearance": f"{rng.choice([80, 100, 150] if family['outdoor'] else [30, 50, 60])} cm",
        "wifi": rng.choice(["2.4 GHz networks only", "2.4 GHz and 5 GHz networks"]),
        "hold": f"{rng.choice([3, 5, 8])} seconds",
        "pair_light": rng.choice(
            ["a flashing blue light", "a pulsing white ring", "a slow green blink", "a spinning cyan ring"]
        ),
        "first_run": f"{rng.choice([20, 30, 40, 45, 60])} minutes",
    }
    return _article(f"How to set up the {names['m']}", SETUP_FACTS, values, fill.SETUP_FILLER, names, rng)


def maintenance_article(family: dict, names: dict, tier: int, rng: random.Random) -> str:
    """Care and maintenance guide of one model."""
    fmt = dict(names, part=family["clean_part"], cons=family["consumable"], wear=family["wear_part"])
    values = {
        "clean": rng.choice(["once a week", "every two weeks", "after every run", "every three days"]),
        "cons_interval": rng.choice(["every 2 months", "every 3 months", "every 4 months", "every 6 months"]),
        "part_no": f"{family['code_prefix']}-{rng.randint(100, 999)}{'ABCDEFGH'[tier]}",
        "wear_interval": rng.choice(
            ["every 6 months", "every 9 months", "every 12 months", "every 18 months"]
        ),
        "cycles": f"{rng.choice([500, 600, 800, 1000])} charge cycles",
        "storage": f"{rng.choice([40, 50, 60])}%",
    }
    return _article(
        f"{names['m']} care and maintenance", MAINTENANCE_FACTS, values, fill.MAINTENANCE_FILLER, fmt, rng
    )


def error_article(family: dict, error: tuple, rng: random.Random) -> str:
    """Troubleshooting page of one error code of a product family."""
    code, meaning, cause, part = error
    models = [f"{family['name']} {m}" for m in family["models"]]
    affected = sorted(rng.sample(models, rng.randint(2, len(models))), key=models.index)
    bn = f"{cat.BRAND} {family['name']}"
    fmt = {
        "code": code,
        "name": family["name"],
        "bn": bn,
        "noun": family["noun"],
        "part": part or "",
        "art": "" if meaning.startswith(("a ", "the ")) else "the ",
    }
    values = {
        "meaning": meaning,
        "light": rng.choice(cat.LIGHT_PATTERNS),
        "affected": ", ".join(affected[:-1]) + " and " + affected[-1],
        "cause": cause,
        "wait": f"{rng.choice([1, 2, 5, 10, 15])} minutes",
        "part_no": f"{family['code_prefix']}-{code[1:]}{rng.randint(10, 99)}" if part else None,
        "retries": rng.choice(["two", "three", "five"]),
    }
    return _article(f"{bn} error {code}: {meaning}", ERROR_FACTS, values, fill.ERROR_FILLER, fmt, rng)


def connection_article(family: dict, rng: random.Random) -> str:
    """Wi-Fi troubleshooting page of one product family."""
    bn = f"{cat.BRAND} {family['name']}"
    fmt = {
        "name": family["name"],
        "bn": bn,
        "button": family["button"],
        "noun": family["noun"],
        "base": family["base"],
    }
    values = {
        "reset": f"{rng.choice([5, 8, 12, 15])} seconds",
        "offline_light": rng.choice(
            ["a solid orange light", "a slow white blink", "a solid red light", "a blinking purple light"]
        ),
        "distance": f"{rng.choice([5, 8, 10, 12])} metres",
        "offline_after": f"{rng.choice([5, 10, 15, 30])} minutes",
        "port": f"TCP port {rng.choice([443, 8443, 8883, 1883])}",
    }
    fillers = dict.fromkeys(CONNECTION_FACTS, fill.CONNECTION_FILLER)
    return _article(f"{bn} Wi-Fi and connection problems", CONNECTION_FACTS, values, fillers, fmt, rng)
