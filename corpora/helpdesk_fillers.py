"""Connective help-center prose for the templated Korvane articles (no facts, only context).

Placeholders: {m} full model name, {s} short name, {noun} product noun, {base} charging base,
{tier} tier word, {name} family name, {task} first run name.
"""

SPEC_INTRO = [
    "The {m} is the {tier} {noun} in the Korvane {name} series.",
    "This page lists the technical specifications of the {m}, the {tier} model of the {name} family.",
    "The {m} sits in the {tier} part of the Korvane {name} range and shares its app and accessories with the other {name} models.",
]

SPEC_FILLER = {
    "Overview": [
        "Specifications can change slightly between production batches, so the label on the box is the final reference.",
        "Prices on this page are for the base package and do not include optional accessories or Korvane Care.",
        "The {s} ships with its {base}, a quick-start guide and a set of spare consumables.",
        "Owners who are choosing between {name} models can compare this page with the other {name} specification pages.",
    ],
    "Battery and charging": [
        "Runtime figures are measured by Korvane in standard mode on a full battery and can be shorter in demanding conditions.",
        "The {s} returns to its {base} on its own when the battery runs low and resumes where it stopped.",
        "Battery life gradually declines with age, which is normal for lithium-ion cells.",
        "Keeping the {base} plugged in at all times helps the {s} stay ready between scheduled runs.",
    ],
    "Performance": [
        "Performance figures for the {s} come from Korvane lab tests and typical homes.",
        "Results in your home depend on layout, surfaces and how often the {s} runs.",
        "The Korvane Home app lets you switch the {s} between quieter and more powerful modes.",
    ],
    "Size and environment": [
        "The {s} is intended for the environments described in its user guide.",
        "Avoid storing the {s} near heaters, open flames or in freezing conditions.",
        "Noise figures are measured in a quiet room and can feel louder on hard surfaces.",
    ],
    "Software and warranty": [
        "Firmware for the {s} updates automatically through the Korvane Home app when the robot is docked.",
        "Warranty terms for the {s} follow the Korvane limited warranty, which explains what is and is not covered.",
        "Registering the {s} in the Korvane Home app records the purchase date for warranty purposes.",
    ],
}

SETUP_FILLER = {
    "Before you begin": [
        "Unpack the {m} and remove all protective film and foam blocks before you start.",
        "Keep the quick-start guide nearby, because it shows where each accessory of the {s} fits.",
        "Make sure your phone has the latest version of the Korvane Home app installed.",
    ],
    "Placing the {base}": [
        "Place the {base} of the {s} on a firm, level surface and plug it into a wall socket.",
        "Avoid spots in direct sunlight or next to heaters, which can shorten battery life.",
        "Route the power cable so that the {s} cannot catch it while it works.",
    ],
    "Connecting to the Korvane Home app": [
        "Open the Korvane Home app, tap Add device and choose the {s} from the list.",
        "Keep your phone within a few metres of the {s} while pairing.",
        "The app walks you through naming the {s} and choosing your home network.",
    ],
    "Your first run": [
        "Stay nearby during the first run of the {s} so you can clear anything it gets stuck on.",
        "When the {task} finishes, the map of the {s} appears in the app and you can name each area.",
        "You can start scheduled runs of the {s} as soon as the first map has been saved.",
    ],
}

MAINTENANCE_FILLER = {
    "Routine cleaning": [
        "Regular care keeps the {m} working at full performance and extends the life of its parts.",
        "Always switch the {s} off before you clean or replace any part.",
        "The Korvane Home app shows reminders for the {s} when a part needs attention.",
    ],
    "Replacing consumables": [
        "Genuine Korvane consumables for the {s} are sold in the Korvane store and through Korvane Plus.",
        "Replacement intervals for the {s} assume daily use and can be longer in lightly used homes.",
        "After fitting a new part, reset its reminder in the app so the {s} tracks the next interval.",
    ],
    "Battery care": [
        "The battery of the {s} lasts longest when the robot is used regularly and kept on its {base}.",
        "Replacement batteries for the {s} can be fitted at home with a screwdriver.",
        "Never use a third-party battery in the {s}, because it can damage the robot and void the warranty.",
    ],
}

ERROR_FILLER = {
    "What the error means": [
        "The Korvane Home app shows the same code together with a short description and a link to this article.",
        "The {name} stops its current task when this error appears so that nothing is damaged.",
        "This code is specific to the {name} series, and other Korvane robots may use the same code for a different fault.",
    ],
    "Common causes": [
        "The problem is usually easy to fix at home and does not mean the {name} is faulty.",
        "Checking the robot right after the error appears makes the cause easier to spot.",
        "Less often, the same code points to a worn or damaged part inside the {name}.",
    ],
    "How to fix it": [
        "Work through these steps in order, because the first ones solve most cases.",
        "The Korvane Home app can show an animated guide for this fix on the {name}.",
        "Once the fault is cleared, restart the task from the Korvane Home app.",
    ],
    "When to contact support": [
        "Korvane Support can read the robot's diagnostic log if you grant support access in the app.",
        "Have the serial number of the {name} ready when you open a support ticket.",
        "Repairs under warranty are free, and out-of-warranty repairs are quoted before any work starts.",
    ],
}

CONNECTION_FILLER = [
    "Most connection problems with {name} robots are caused by the home network rather than the robot.",
    "Restarting the router and the {name} robot fixes many short outages.",
    "Keep the Korvane Home app updated, since older versions may fail to reach newer firmware.",
    "Mesh networks work well with {name} robots as long as the 2.4 GHz band is enabled.",
]
