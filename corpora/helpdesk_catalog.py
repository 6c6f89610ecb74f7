"""Product catalogue of the fictional Korvane home-robotics line used by build_helpdesk.py.

Everything here is invented for the bundled sample corpus. Numeric specs are given as
``(base, step_per_tier, jitter_choices)`` or as an explicit per-tier list; the generator
turns them into values with a seeded RNG.
"""

BRAND = "Korvane"

COLOURS = [
    "Graphite",
    "Arctic White",
    "Slate Blue",
    "Moss Green",
    "Sandstone",
    "Midnight Black",
    "Copper Bronze",
    "Pebble Grey",
]

LIGHT_PATTERNS = [
    "two slow amber blinks",
    "three quick red flashes",
    "a steady red glow",
    "a pulsing amber ring",
    "one long red flash followed by a pause",
    "alternating red and white blinks",
    "four short amber flashes",
    "a slow red pulse",
]

TIER_WORDS = ["entry-level", "mid-range", "premium", "flagship"]

# Common spec attributes: name -> (value format, sentence templates, question templates).
# Placeholders: {m} full model name, {s} short name, {noun} product noun, {base} charging base.
COMMON_ATTRS = {
    "price": (
        "${:,}",
        [
            "The {m} launched at a list price of [[{v}]] in the Korvane online store.",
            "At launch the {s} was priced at [[{v}]] including the {base}.",
            "The recommended retail price of the {m} is [[{v}]].",
        ],
        [
            "How much does the {m} cost?",
            "What was the launch price of the {s}?",
            "What is the list price for a Korvane {s}?",
            "How expensive is the {s} {noun}?",
        ],
    ),
    "release_year": (
        "{}",
        [
            "Korvane released the {m} in [[{v}]] as part of its {noun} line-up.",
            "The {s} first went on sale in [[{v}]].",
        ],
        [
            "In which year was the {m} released?",
            "When did the {s} first go on sale?",
            "What year did Korvane launch the {s}?",
        ],
    ),
    "colours": (
        "{}",
        [
            "The {m} is available in [[{v}]].",
            "You can order the {s} in [[{v}]].",
            "Colour options for the {s} are [[{v}]].",
        ],
        [
            "Which colours does the {m} come in?",
            "What colour options are there for the {s}?",
            "In what finishes can I buy the Korvane {s}?",
        ],
    ),
    "battery": (
        "{:,} mAh",
        [
            "The {m} uses a [[{v}]] lithium-ion battery pack.",
            "Inside the {s} sits a rechargeable battery rated at [[{v}]].",
            "Battery capacity on the {s} is [[{v}]].",
        ],
        [
            "What is the battery capacity of the {m}?",
            "How big is the battery in the {s}?",
            "How many mAh is the {s} battery rated at?",
        ],
    ),
    "runtime": (
        "{} minutes",
        [
            "On a full charge the {m} runs for up to [[{v}]] in standard mode.",
            "Expect roughly [[{v}]] of runtime from the {s} before it returns to its {base}.",
            "The {s} battery delivers about [[{v}]] of continuous operation at the default power level.",
        ],
        [
            "How long does the {m} run on a full charge?",
            "What runtime can I expect from the {s}?",
            "What is the battery life of the Korvane {s}?",
            "How many minutes can the {s} operate before it needs recharging?",
        ],
    ),
    "charge_time": (
        "{:g} hours",
        [
            "Recharging the {m} from empty to full takes about [[{v}]] on its {base}.",
            "A full recharge of the {s} takes roughly [[{v}]].",
            "Plan on about [[{v}]] for the {s} to charge completely.",
        ],
        [
            "How long does the {m} take to charge fully?",
            "What is the charging time of the {s}?",
            "How many hours does a {s} need to recharge from empty?",
        ],
    ),
    "port": (
        "{}",
        [
            "The {m} charges through [[{v}]] on the underside of the unit.",
            "Power reaches the {s} through [[{v}]].",
            "For charging, the {s} relies on [[{v}]].",
        ],
        [
            "What kind of charging connector does the {m} use?",
            "How does the {s} connect to power for charging?",
            "Which charging port is on the {s}?",
        ],
    ),
    "weight": (
        "{:.1f} kg",
        [
            "The {m} weighs [[{v}]] without accessories.",
            "At [[{v}]], the {s} is easy to carry between rooms.",
            "The {s} has a weight of [[{v}]] including the battery.",
        ],
        [
            "How much does the {m} weigh?",
            "What is the weight of the {s}?",
            "How heavy is a Korvane {s}?",
        ],
    ),
    "max_temp": (
        "{} °C",
        [
            "The {m} is rated to operate at ambient temperatures up to [[{v}]].",
            "Do not run the {s} where the temperature exceeds [[{v}]].",
            "The maximum operating temperature of the {s} is [[{v}]].",
        ],
        [
            "What is the maximum operating temperature of the {m}?",
            "Up to what temperature can the {s} be used?",
            "How hot can it get before I should stop using my {s}?",
        ],
    ),
    "noise": (
        "{} dB",
        [
            "In standard mode the {m} produces about [[{v}]] of noise.",
            "Measured at one metre, the {s} runs at roughly [[{v}]].",
            "The noise level of the {s} is around [[{v}]] at the default setting.",
        ],
        [
            "How loud is the {m}?",
            "What is the noise level of the {s} in standard mode?",
            "How many decibels does the {s} produce?",
        ],
    ),
    "firmware": (
        "{}",
        [
            "The current firmware release for the {m} is version [[{v}]].",
            "The latest firmware available for the {s} is [[{v}]].",
            "Korvane's most recent firmware build for the {s} is [[{v}]].",
        ],
        [
            "What is the latest firmware version for the {m}?",
            "Which firmware version is current on the {s}?",
            "What firmware release should my {s} be running?",
        ],
    ),
    "warranty": (
        "{} months",
        [
            "The {m} is covered by a limited warranty of [[{v}]] from the date of purchase.",
            "Korvane backs the {s} with a [[{v}]] limited warranty.",
            "Every {s} comes with [[{v}]] of warranty coverage.",
        ],
        [
            "How long is the warranty on the {m}?",
            "What warranty period applies to the {s}?",
            "How many months of warranty does the {s} have?",
        ],
    ),
}

# Section layout of a spec sheet: heading -> attribute keys (family extras are added to "Performance").
SPEC_SECTIONS = [
    ("Overview", ["price", "release_year", "colours"]),
    ("Battery and charging", ["battery", "runtime", "charge_time", "port"]),
    ("Performance", []),
    ("Size and environment", ["weight", "max_temp", "noise"]),
    ("Software and warranty", ["firmware", "warranty"]),
]


def _extra(key, fmt, spec, sentences, questions):
    return {"key": key, "fmt": fmt, "spec": spec, "sentences": sentences, "questions": questions}


FAMILIES = [
    {
        "slug": "sweep",
        "firmware_major": 4,
        "outdoor": False,
        "name": "Sweep",
        "noun": "robot vacuum",
        "base": "charging dock",
        "task": "mapping run",
        "button": "Home button",
        "models": ["S2", "S4", "S6 Pro", "S8 Max"],
        "clean_part": "dustbin and filter screen",
        "consumable": "HEPA filter",
        "wear_part": "side brush",
        "code_prefix": "KS",
        "numbers": {
            "price": ([249, 399, 649, 899], None),
            "battery": (2600, 1300, [0, 200, 400]),
            "runtime": (90, 30, [0, 5, 10]),
            "charge_time": (3.0, 0.5, [0, 0.5]),
            "weight": (2.9, 0.4, [0, 0.1, 0.2]),
            "max_temp": (40, 0, [0, 5]),
            "noise": (62, -2, [0, 1]),
            "warranty": ([12, 24, 24, 36], None),
        },
        "extra": [
            _extra(
                "suction",
                "{:,} Pa",
                (2500, 1500, [0, 500]),
                [
                    "Maximum suction on the {m} reaches [[{v}]] in Turbo mode.",
                    "The {s} pulls up to [[{v}]] of suction on carpets.",
                ],
                [
                    "What is the suction power of the {m}?",
                    "How strong is the suction on the {s}?",
                    "How many pascals of suction does the {s} have?",
                ],
            ),
            _extra(
                "dustbin",
                "{} ml",
                (350, 50, [0, 50]),
                [
                    "The onboard dustbin of the {m} holds [[{v}]] of debris.",
                    "The {s} dustbin has a capacity of [[{v}]].",
                ],
                [
                    "How much dust does the {m} dustbin hold?",
                    "What is the dustbin capacity of the {s}?",
                ],
            ),
        ],
    },
    {
        "slug": "glide",
        "firmware_major": 3,
        "outdoor": False,
        "name": "Glide",
        "noun": "robot mop",
        "base": "wash station",
        "task": "mapping run",
        "button": "Spot button",
        "models": ["G3", "G5", "G7 Ultra"],
        "clean_part": "dirty-water tank",
        "consumable": "microfibre mop pads",
        "wear_part": "roller squeegee",
        "code_prefix": "KG",
        "numbers": {
            "price": ([329, 549, 799], None),
            "battery": (3200, 1000, [0, 300]),
            "runtime": (100, 25, [0, 5, 10]),
            "charge_time": (3.5, 0.5, [0, 0.5]),
            "weight": (3.4, 0.5, [0, 0.1, 0.2]),
            "max_temp": (35, 0, [0, 5]),
            "noise": (58, -2, [0, 1]),
            "warranty": ([12, 24, 24], None),
        },
        "extra": [
            _extra(
                "water_tank",
                "{} ml",
                (250, 100, [0, 20]),
                [
                    "The clean-water tank of the {m} holds [[{v}]].",
                    "The {s} carries [[{v}]] of clean water per run.",
                ],
                [
                    "How big is the water tank on the {m}?",
                    "How much clean water does the {s} hold?",
                ],
            ),
            _extra(
                "coverage",
                "{} m²",
                (120, 40, [0, 10]),
                [
                    "One tank lets the {m} mop roughly [[{v}]] of hard floor.",
                    "On a single fill the {s} covers about [[{v}]].",
                ],
                [
                    "What floor area can the {m} mop on one tank?",
                    "How many square metres does the {s} cover per fill?",
                ],
            ),
        ],
    },
    {
        "slug": "pane",
        "firmware_major": 2,
        "outdoor": False,
        "name": "Pane",
        "noun": "window-cleaning robot",
        "base": "power adapter",
        "task": "test pass",
        "button": "Start button",
        "models": ["W1", "W3"],
        "clean_part": "edge sensors",
        "consumable": "microfibre cleaning pads",
        "wear_part": "drive tracks",
        "code_prefix": "KP",
        "numbers": {
            "price": ([199, 349], None),
            "battery": (600, 300, [0, 50]),
            "runtime": (20, 10, [0, 5]),
            "charge_time": (1.5, 0.5, [0, 0.5]),
            "weight": (1.1, 0.3, [0, 0.1]),
            "max_temp": (45, 0, [0, 5]),
            "noise": (66, -2, [0, 1]),
            "warranty": ([12, 18], None),
        },
        "extra": [
            _extra(
                "rope",
                "{:g} m",
                (3.5, 1.0, [0, 0.5]),
                [
                    "The safety rope supplied with the {m} is [[{v}]] long.",
                    "A [[{v}]] safety rope ships with the {s}.",
                ],
                [
                    "How long is the safety rope of the {m}?",
                    "What length of safety rope comes with the {s}?",
                ],
            ),
            _extra(
                "min_window",
                "{} cm",
                (45, -10, [0, 5]),
                [
                    "The {m} needs a pane at least [[{v}]] wide to turn around safely.",
                    "Windows narrower than [[{v}]] are too small for the {s}.",
                ],
                [
                    "What is the smallest window width the {m} can clean?",
                    "How wide must a window be for the {s}?",
                ],
            ),
        ],
    },
    {
        "slug": "verdant",
        "firmware_major": 5,
        "outdoor": True,
        "name": "Verdant",
        "noun": "robotic lawn mower",
        "base": "charging station",
        "task": "boundary walk",
        "button": "OK button",
        "models": ["V400", "V800", "V1200"],
        "clean_part": "cutting deck",
        "consumable": "pivoting blades",
        "wear_part": "rear wheel treads",
        "code_prefix": "KV",
        "numbers": {
            "price": ([899, 1399, 1999], None),
            "battery": (2500, 2500, [0, 500]),
            "runtime": (60, 30, [0, 10]),
            "charge_time": (1.5, 0.5, [0, 0.5]),
            "weight": (8.5, 2.0, [0, 0.3, 0.6]),
            "max_temp": (45, 0, [0, 5]),
            "noise": (60, -2, [0, 1]),
            "warranty": ([24, 24, 36], None),
        },
        "extra": [
            _extra(
                "lawn_area",
                "{} m²",
                ([400, 800, 1200], None),
                [
                    "The {m} is designed for lawns of up to [[{v}]].",
                    "Korvane rates the {s} for a maximum lawn area of [[{v}]].",
                ],
                [
                    "How large a lawn can the {m} handle?",
                    "What is the maximum lawn area for the {s}?",
                ],
            ),
            _extra(
                "slope",
                "{}%",
                (30, 5, [0, 5]),
                [
                    "The {m} climbs slopes of up to [[{v}]] in dry conditions.",
                    "Inclines steeper than [[{v}]] are beyond the rating of the {s}.",
                ],
                [
                    "What is the steepest slope the {m} can mow?",
                    "How steep a slope can the {s} handle?",
                ],
            ),
            _extra(
                "cut_height",
                "{} mm",
                ([60, 70, 75], None),
                [
                    "The {m} cuts grass to a maximum height of [[{v}]].",
                    "The highest cutting height on the {s} is [[{v}]].",
                ],
                [
                    "What is the maximum cutting height of the {m}?",
                    "How high can the {s} cut the grass?",
                ],
            ),
        ],
    },
    {
        "slug": "tide",
        "firmware_major": 2,
        "outdoor": True,
        "name": "Tide",
        "noun": "pool-cleaning robot",
        "base": "charging caddy",
        "task": "pool survey",
        "button": "Mode button",
        "models": ["T2", "T5", "T9"],
        "clean_part": "filter basket",
        "consumable": "fine filter cartridge",
        "wear_part": "brush rollers",
        "code_prefix": "KT",
        "numbers": {
            "price": ([599, 999, 1499], None),
            "battery": (5000, 2500, [0, 500]),
            "runtime": (90, 30, [0, 10]),
            "charge_time": (3.0, 1.0, [0, 0.5]),
            "weight": (6.5, 1.5, [0, 0.2, 0.4]),
            "max_temp": (35, 0, [0, 3]),
            "noise": (50, -2, [0, 1]),
            "warranty": ([12, 24, 24], None),
        },
        "extra": [
            _extra(
                "pool_length",
                "{} m",
                ([10, 15, 20], None),
                [
                    "The {m} is suited to pools up to [[{v}]] long.",
                    "Korvane recommends the {s} for pools no longer than [[{v}]].",
                ],
                [
                    "What is the longest pool the {m} can clean?",
                    "Up to what pool length is the {s} suitable?",
                ],
            ),
            _extra(
                "filtration",
                "{} microns",
                ([180, 150, 100], None),
                [
                    "The filter of the {m} traps particles down to [[{v}]].",
                    "The {s} filters debris as fine as [[{v}]].",
                ],
                [
                    "How fine is the filtration of the {m}?",
                    "What particle size does the {s} filter capture?",
                ],
            ),
        ],
    },
    {
        "slug": "aire",
        "firmware_major": 1,
        "outdoor": False,
        "name": "Aire",
        "noun": "mobile air purifier",
        "base": "charging pad",
        "task": "room survey",
        "button": "Fan button",
        "models": ["A20", "A40", "A60"],
        "clean_part": "pre-filter mesh",
        "consumable": "H13 HEPA filter",
        "wear_part": "activated carbon filter",
        "code_prefix": "KA",
        "numbers": {
            "price": ([279, 449, 649], None),
            "battery": (4000, 1500, [0, 200]),
            "runtime": (180, 60, [0, 20]),
            "charge_time": (2.5, 0.5, [0, 0.5]),
            "weight": (4.2, 0.9, [0, 0.1, 0.3]),
            "max_temp": (35, 0, [0, 5]),
            "noise": (48, -2, [0, 1]),
            "warranty": ([24, 24, 36], None),
        },
        "extra": [
            _extra(
                "cadr",
                "{} m³/h",
                (180, 90, [0, 10, 20]),
                [
                    "The clean air delivery rate of the {m} is [[{v}]].",
                    "The {s} moves [[{v}]] of filtered air at full speed.",
                ],
                [
                    "What is the CADR of the {m}?",
                    "How much air does the {s} purify per hour?",
                ],
            ),
            _extra(
                "room_size",
                "{} m²",
                (25, 15, [0, 5]),
                [
                    "The {m} is recommended for rooms of up to [[{v}]].",
                    "Korvane sizes the {s} for spaces up to [[{v}]].",
                ],
                [
                    "What room size is the {m} recommended for?",
                    "How big a room can the {s} purify?",
                ],
            ),
        ],
    },
]

# Error codes per family: (code, meaning, cause, replaceable part or None).
ERROR_CODES = {
    "sweep": [
        (
            "E11",
            "main roller brush cannot turn",
            "hair or string wrapped around the roller",
            "main roller brush",
        ),
        ("E12", "side brush has stopped spinning", "a cable or sock caught in the side brush", "side brush"),
        ("E14", "cliff sensors are blocked", "dust on the sensor windows", "cliff sensor cover"),
        (
            "E17",
            "a drive wheel has lost contact with the floor",
            "a high threshold or loose cable",
            "drive wheel module",
        ),
        (
            "E21",
            "battery is outside its safe temperature range",
            "charging in a hot room or direct sunlight",
            "battery pack",
        ),
        ("E25", "dustbin is not detected", "a dustbin that is not fully seated", "dustbin"),
        ("E31", "robot could not join the Wi-Fi network", "a changed router password", None),
    ],
    "glide": [
        (
            "E11",
            "mop pad is not attached",
            "a mop pad bracket that has not clicked into place",
            "mop pad bracket",
        ),
        (
            "E13",
            "clean-water tank is empty",
            "a tank that was not refilled after the last run",
            "clean-water tank",
        ),
        (
            "E16",
            "dirty-water tank is full",
            "skipping the tank emptying step after mopping",
            "dirty-water tank",
        ),
        ("E19", "water pump is blocked", "mineral deposits from hard water", "water pump"),
        ("E21", "roller squeegee is jammed", "debris trapped behind the squeegee", "roller squeegee"),
        ("E24", "robot is stuck on a rug edge", "mopping too close to a deep-pile rug", None),
        ("E31", "robot could not join the Wi-Fi network", "a router that only broadcasts on 5 GHz", None),
    ],
    "pane": [
        ("E02", "suction seal has been lost", "a window frame gap or a cracked pane", "suction skirt"),
        (
            "E05",
            "safety rope tension is too low",
            "a rope that is not clipped to a fixed anchor",
            "safety rope",
        ),
        ("E07", "window edge was not detected", "frameless glass without a raised border", "edge sensor"),
        ("E09", "power adapter is disconnected", "an extension cable that has come loose", "power adapter"),
        (
            "E11",
            "cleaning pad is too wet",
            "soaking the pad instead of spraying it lightly",
            "microfibre cleaning pad",
        ),
        ("E14", "backup battery is low", "storing the robot uncharged for several weeks", "backup battery"),
        ("E21", "fan motor is overheating", "cleaning hot glass in direct sunlight", "fan motor"),
    ],
    "verdant": [
        (
            "E03",
            "mower is outside the boundary",
            "a boundary map that no longer matches the lawn",
            "RTK antenna",
        ),
        ("E08", "blade disc is blocked", "a fallen branch or thick weeds", "blade disc"),
        ("E11", "mower has been lifted or tipped", "bumping over a raised tree root", "lift sensor"),
        ("E15", "rain has been detected", "wet grass lying on the rain sensor plate", "rain sensor"),
        (
            "E21",
            "battery is outside its safe temperature range",
            "mowing through a heatwave afternoon",
            "battery pack",
        ),
        ("E26", "a wheel motor is overloaded", "a slope steeper than the rated maximum", "rear wheel motor"),
        (
            "E33",
            "satellite positioning signal is too weak",
            "dense tree cover near the charging station",
            None,
        ),
    ],
    "tide": [
        (
            "E04",
            "robot has detected air in the pump",
            "the waterline dropping below the intake",
            "pump intake",
        ),
        ("E07", "filter basket is full", "heavy leaf fall in the pool", "filter basket"),
        ("E12", "brush roller is stalled", "a stone or hair tie trapped in the roller", "brush roller"),
        ("E15", "charging contacts are wet", "docking the robot before it has drained", "charging contacts"),
        ("E19", "impeller is blocked", "debris lodged in the impeller housing", "impeller"),
        (
            "E21",
            "battery is outside its safe temperature range",
            "leaving the robot in direct sun after a run",
            "battery pack",
        ),
        ("E28", "robot cannot climb the pool wall", "algae film on the pool walls", "track belt"),
    ],
    "aire": [
        ("E05", "main filter is not detected", "a filter door left slightly open", "filter door latch"),
        (
            "E09",
            "air-quality sensor is giving invalid readings",
            "dust building up on the sensor lens",
            "particle sensor",
        ),
        ("E11", "intake fan is obstructed", "curtains or paper drawn against the intake", "intake fan"),
        (
            "E14",
            "filter has reached the end of its life",
            "running past the filter replacement reminder",
            "H13 HEPA filter",
        ),
        ("E17", "a drive wheel is stuck", "pet hair wound around the wheel axle", "drive wheel"),
        (
            "E21",
            "battery is outside its safe temperature range",
            "charging next to a radiator",
            "battery pack",
        ),
        ("E31", "robot could not join the Wi-Fi network", "a guest network with a sign-in page", None),
    ],
}
