"""Parse MMPose model-zoo markdown tables (the seed files) into plain rows.

Used by ``tools/gen_recipes.py`` (which writes ``heatpose/recipes/*.json``); runs with any Python.
The test suite has its own, independent parser (tests/test_zoo.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


def clean_header(text: str) -> str:
    """``AP<sup>50</sup>`` -> ``AP50``; other header text is kept as written."""
    return re.sub(r"</?sup>", "", text).strip()


@dataclass
class SeedRow:
    source: str                 # seed file name
    table: str                  # the "Results on ..." heading (plus sub-heading) above the table
    set_label: Optional[str]    # first column of fashion / JHMDB tables (upper, Sub1, vest, ...)
    arch: str                   # the Arch label (pose_resnet_50, ...)
    config: Optional[str]       # config file stem from the Arch link (no .py), None for Average rows
    input_size: str             # "256x192" as written (h x w)
    metrics: Dict[str, str] = field(default_factory=dict)   # header -> value text
    ckpt: Optional[str] = None
    log: Optional[str] = None


def parse_seed(path: Path) -> List[SeedRow]:
    rows: List[SeedRow] = []
    heading, sub = "", ""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        text = line.lstrip("#").strip()
        if line.startswith("#####"):
            sub = text
        elif text.startswith("Results on"):
            heading, sub = text, ""
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].strip().startswith("| :"):
            header = [clean_header(c) for c in line.strip("|").split("|")]
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                rows.append(_row(path.name, heading + (f" / {sub}" if sub else ""), header, cells))
                i += 1
            continue
        i += 1
    return rows


def _row(source: str, table: str, header: List[str], cells: List[str]) -> SeedRow:
    if len(cells) != len(header):
        raise ValueError(f"{source}: row has {len(cells)} cells, header {len(header)}: {cells}")
    row = SeedRow(source=source, table=table, set_label=None, arch="", config=None, input_size="")
    for name, cell in zip(header, cells):
        link = LINK.search(cell)
        if name in ("Set", "Split"):
            row.set_label = cell
        elif name == "Arch":
            row.arch = link.group(1) if link else cell
            if link:
                row.config = link.group(2).rsplit("/", 1)[-1][: -len(".py")]
        elif name == "Input Size":
            row.input_size = cell
        elif name == "ckpt":
            row.ckpt = link.group(2) if link else None
        elif name == "log":
            row.log = link.group(2) if link else None
        else:
            row.metrics[name] = cell
    return row


def parse_all(seed_dir: Path) -> List[SeedRow]:
    out: List[SeedRow] = []
    for path in sorted(seed_dir.glob("*.txt")):
        out.extend(parse_seed(path))
    return out
