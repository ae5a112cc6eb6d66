# SPDX-License-Identifier: Apache-2.0
"""The patients whose timelines the report tests draw, and a reader of the drawn SVG.

Three shapes the timeline must handle: an ANC computed from the WBC and the neutrophil % (a
bundled case: clozapine agranulocytosis, one date, a drug course and a fever the next day), a
hundredfold range (a bundled case: WBC 384 at a CML diagnosis, then 2.98 on imatinib, three drug
courses), and a single date with nothing else on the axis (a Duffy-null patient, so that the
Duffy-null reference range is drawn).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from tests.conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"
COMPUTED_CASE = ROOT / "cases" / "clozapine_induced-01.yaml"
WIDE_RANGE_CASE = ROOT / "cases" / "tki_myelosuppression-01.yaml"
SINGLE_DATE: dict[str, Any] = {
    "id": "single-date-duffy-null",
    "as_of": "2025-03-01",
    "age": 41,
    "sex": "male",
    "duffy_null": True,
    "labs": [
        {"test": "wbc", "value": 2.6, "unit": "10^9/L", "date": "2025-02-20"},
        {"test": "anc", "value": 1.1, "unit": "10^9/L", "date": "2025-02-20"},
        {"test": "alc", "value": 1.3, "unit": "10^9/L", "date": "2025-02-20"},
    ],
}


@dataclass
class Drawn:
    """The timeline SVG of one layout, read back."""

    root: ET.Element
    layout: str
    plot: tuple[float, float, float, float]
    log_min: float
    log_max: float

    def all(self, tag: str, cls: str) -> list[ET.Element]:
        return [e for e in self.root.iter(SVG + tag) if e.get("class") == cls]

    def y_of(self, value: float) -> float:
        x, y, w, h = self.plot
        share = (math.log10(max(value, 10**self.log_min)) - self.log_min) / (
            self.log_max - self.log_min
        )
        return y + h * (1 - share)

    def texts(self, cls: str) -> list[str]:
        return [" ".join(e.itertext()) for e in self.all("text", cls)]


def drawn(html: str) -> dict[str, Drawn]:
    """Each layout's timeline SVG of a report page, parsed as XML (which it must be)."""
    out = {}
    for svg in re.findall(r'<svg class="chart timeline".*?</svg>', html, flags=re.S):
        root = ET.fromstring(svg)
        x, y, w, h = (float(v) for v in (root.get("data-plot") or "").split())
        out[root.get("data-layout", "")] = Drawn(
            root,
            root.get("data-layout", ""),
            (x, y, w, h),
            float(root.get("data-log-min", "nan")),
            float(root.get("data-log-max", "nan")),
        )
    return out
