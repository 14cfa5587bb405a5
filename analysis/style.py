"""Colours and marker symbols shared by the figures, following the paper's Figure 2/3.

Tasks are told apart by colour (Recent green, CounterFact blue, zsRE red, as in the
paper), editors by marker symbol. Line figures with editors and tasks (the sequential-editing curves) colour
the editors instead (`editor_colours`) and tell tasks apart by dash. Unknown names get stable fallbacks.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

TASK_COLOURS: dict[str, str] = {
    "recent": "#3f9b3f",
    "counterfact": "#5b5bf0",
    "zsre": "#d8412f",
    "convsent": "#e69f00",
}
TASK_ALIASES: dict[str, str] = {"cf": "counterfact", "wikidatarecent": "recent", "wikidatacounterfact": "counterfact"}
FALLBACK_COLOURS: tuple[str, ...] = ("#8c564b", "#9467bd", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2", "#1f77b4")

# Preferred symbols for editor names we know; the rest take the next unused symbol.
EDITOR_SYMBOLS: dict[str, str] = {
    "instructedit": "circle",
    "mendmultitask": "triangle-down",
    "mendmulti": "triangle-down",
    "multitask": "triangle-down",
    "mendsingletask": "diamond",
    "mendsingle": "diamond",
    "singletask": "diamond",
}
SYMBOL_CYCLE: tuple[str, ...] = (
    "circle", "triangle-down", "diamond", "square", "triangle-up", "cross", "x", "star", "pentagon", "hexagon",
)

# editor colours of line figures (Okabe-Ito hues, told apart with colour-blindness); others take FALLBACK_COLOURS
EDITOR_COLOURS: dict[str, str] = {
    "instructedit": "#0072b2",
    "instructeditlifelong": "#56b4e9",
    "mendmultitask": "#d55e00",
    "mendmultitasklifelong": "#cc79a7",
    "ftl": "#009e73",
}

SEEN_COLOUR = "#5e945e"
UNSEEN_COLOUR = "#6b6bff"
PAPER_OPACITY = 0.45
PAPER_PATTERN = "/"


def normalise(name: str) -> str:
    """Lower-case and drop everything but letters and digits ("MEND (multi-task)" -> "mendmultitask")."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def task_colour(task: str) -> str:
    """Colour of a task; the paper's colours for known tasks, a stable fallback otherwise."""
    key = normalise(task)
    key = TASK_ALIASES.get(key, key)
    if key in TASK_COLOURS:
        return TASK_COLOURS[key]
    return FALLBACK_COLOURS[zlib.crc32(key.encode()) % len(FALLBACK_COLOURS)]


def symbol_map(editors: Iterable[str]) -> dict[str, str]:
    """Distinct marker symbols for the editors of one figure.

    Known editors get their preferred symbol (first come, first served); the others
    take unused symbols from :data:`SYMBOL_CYCLE` in order of appearance.
    """
    names = list(dict.fromkeys(editors))
    mapping: dict[str, str] = {}
    for editor in names:
        preferred = EDITOR_SYMBOLS.get(normalise(editor))
        if preferred is not None and preferred not in mapping.values():
            mapping[editor] = preferred
    for editor in names:
        if editor not in mapping:
            free = [s for s in SYMBOL_CYCLE if s not in mapping.values()]
            mapping[editor] = free[0] if free else SYMBOL_CYCLE[len(mapping) % len(SYMBOL_CYCLE)]
    return {editor: mapping[editor] for editor in names}


def editor_colours(editors: Iterable[str]) -> dict[str, str]:
    """Distinct line colours for the editors of one figure: known editors their own, the others the unused
    :data:`FALLBACK_COLOURS` in order of appearance."""
    names = list(dict.fromkeys(editors))
    mapping = {e: EDITOR_COLOURS[normalise(e)] for e in names if normalise(e) in EDITOR_COLOURS}
    free = [c for c in FALLBACK_COLOURS if c not in mapping.values()]
    for i, editor in enumerate(e for e in names if e not in mapping):
        mapping[editor] = free[i % len(free)] if free else FALLBACK_COLOURS[i % len(FALLBACK_COLOURS)]
    return {editor: mapping[editor] for editor in names}


def ordered(values: Iterable[str], preferred: Iterable[str]) -> list[str]:
    """Unique values, those in ``preferred`` first (in that order, matched loosely), then the rest as met."""
    unique = list(dict.fromkeys(str(v) for v in values))
    rank = {normalise(p): i for i, p in enumerate(preferred)}
    known = sorted((v for v in unique if normalise(v) in rank), key=lambda v: rank[normalise(v)])
    return known + [v for v in unique if normalise(v) not in rank]
