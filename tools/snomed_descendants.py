# SPDX-License-Identifier: Apache-2.0
# ruff: noqa: E501 - the inclusion rules and their notes are quoted whole in the YAML
"""Builds rules/terminology/snomed_descendants.yaml from the downloaded source lists.

Kept so the table can be regenerated and audited: download each source named in the YAML header
(the VSAC FHIR expansions from github.com/cqframework/ecqm-content-qicore-2025 at the commits
given, the NHS England reference set CSVs from opencodelists.org) into the VS and NHS folders
below, then run ``python tools/snomed_descendants.py``: it writes the kept and excluded codes
(downloads/snomed/out.json) and the per-word YAML blocks (downloads/snomed/words.yaml) that
the table's ``words:`` section is made of. The source files themselves are not
committed (licence terms of SNOMED CT content differ by country). Each word's inclusion and
exclusion patterns (RULES) are the written rules of the YAML header.
"""

import csv
import json
import os
import re

from engine.fhir.snomed import concept_id_problem  # the check lint applies to the table

VS = os.environ.get("SNOMED_VS_DIR", "downloads/snomed/vs/")
NHS = os.environ.get("SNOMED_NHS_DIR", "downloads/snomed/nhs/")
TAG = re.compile(r"\s*\((disorder|finding|situation|clinical)\)$")


def vsac(name, tag="disorder"):
    d = json.load(open(VS + name))
    out = []
    for c in d["expansion"]["contains"]:
        if "snomed" not in c["system"]:
            continue
        disp = c["display"]
        m = re.search(r"\((\w+)\)$", disp)
        if tag and (not m or m.group(1) != tag):
            continue
        out.append((c["code"], TAG.sub("", disp)))
    return out


def nhs(name):
    return [(r["code"], r["term"]) for r in csv.DictReader(open(NHS + name))]


RULES = {
    "sle": (
        r"systemic lupus erythematosus|disseminated lupus erythematosus|lupus nephritis",
        r"drug-induced|related syndrome",
    ),
    "rheumatoid_arthritis": (
        r"rheumatoid arthritis|felty|rheumatoid (lung|myocarditis|vasculitis|bursitis)|interstitial rheumatoid disease",
        r"juvenile|still's|uveitis-rheumatoid",
    ),
    "hiv": (r"human immunodeficiency virus|acquired immun\w* ?deficiency syndrome", r"^history of"),
    "cll": (r"chronic lympho(cytic|id) leukemia", r"t-cell|non-chronic|monoclonal b-cell"),
    "cml": (r"chronic myeloid leukemia", r"juvenile"),
    "cirrhosis": (
        r"\bcirrhosis\b",
        r"primary biliary|^biliary cirrhosis( nos| of children)?$|chronic liver disease",
    ),
}
PARENT = {
    "sle": "55464009",
    "rheumatoid_arthritis": "69896004",
    "hiv": "86406008",
    "cll": "92814006",
    "cml": "92818009",
    "cirrhosis": "19943007",
}
LISTS = {
    "sle": [("vsac-lupus", vsac("lupus-bb11649.json")), ("nhs-slupus", nhs("slupus_cod.csv"))],
    "rheumatoid_arthritis": [("nhs-rarth", nhs("rarth_cod.csv"))],
    "hiv": [
        ("vsac-hiv", vsac("valueset-2.16.840.1.113883.3.464.1003.120.12.1003.json")),
        ("vsac-hiv2", vsac("valueset-2.16.840.1.113883.3.464.1003.120.11.1008.json")),
    ],
    "cll": [("vsac-lymphatic", vsac("valueset-2.16.840.1.113883.3.464.1003.108.11.1025.json"))],
    "cml": [("vsac-lymphatic", vsac("valueset-2.16.840.1.113883.3.464.1003.108.11.1025.json"))],
    "cirrhosis": [
        ("nhs-cld", nhs("cldatrisk1_cod_cirrhosis_rows.csv")),
        ("vsac-advanced-illness", vsac("valueset-2.16.840.1.113883.3.464.1003.110.11.1151.json")),
    ],
}
result = {}
excluded = {}
seen = {}
for word, lists in LISTS.items():
    keep, drop = RULES[word]
    result[word] = []
    for source, rows in lists:
        kept = []
        for code, disp in rows:
            if code == PARENT[word]:
                continue
            if not re.search(keep, disp, re.I):
                continue
            if re.search(drop, disp, re.I):
                excluded.setdefault(word, []).append((code, disp, source))
                continue
            if code in seen:
                continue
            seen[code] = word
            kept.append((code, disp))
        result[word].append((source, sorted(kept, key=lambda r: int(r[0]))))
json.dump(
    {"result": result, "excluded": excluded}, open("downloads/snomed/out.json", "w"), indent=1
)
for w, ls in result.items():
    print(w, [(s, len(c)) for s, c in ls])
for w, ex in excluded.items():
    for e in ex:
        print("EXCLUDED", w, e)

# ---- write YAML
bad = [c for c in seen if concept_id_problem(c)]
print("BAD", bad)
KIND = {
    "sle": "condition",
    "rheumatoid_arthritis": "condition",
    "hiv": "condition",
    "cll": "condition",
    "cml": "condition",
    "cirrhosis": "condition",
}
PDISP = {
    "sle": "Systemic lupus erythematosus",
    "rheumatoid_arthritis": "Rheumatoid arthritis",
    "hiv": "Human immunodeficiency virus infection",
    "cll": "Chronic lymphoid leukemia",
    "cml": "Chronic myeloid leukemia",
    "cirrhosis": "Cirrhosis of liver",
}
RULETXT = {
    "sle": "display names systemic (or disseminated) lupus erythematosus or lupus nephritis; drug-induced lupus and the SLE-related-syndrome grouper left out, as are cutaneous-only and unqualified 'lupus' terms",
    "rheumatoid_arthritis": "display names rheumatoid arthritis, Felty syndrome or a rheumatoid lung, heart, vessel or bursa disease; juvenile forms (Still's disease) and 'uveitis-rheumatoid arthritis syndrome' left out, as are rheumatoid nodules not naming the arthritis",
    "hiv": "SNOMED CT disorders whose display names HIV or AIDS (incl. disorders co-occurrent with or due to HIV); findings (test results), situations (history of) left out",
    "cll": "display names chronic lymphocytic/lymphoid leukemia; T-cell CLL (a T-prolymphocytic leukaemia), Richter syndrome and small lymphocytic lymphoma left out",
    "cml": "display names chronic myeloid leukemia; juvenile CML (JMML) and chronic myelomonocytic leukemia left out",
    "cirrhosis": "display names cirrhosis (of the liver) as the disorder or its cause; primary biliary cirrhosis and unqualified biliary cirrhosis (often pre-cirrhotic cholangitis) and the 'cirrhosis and chronic liver disease' grouper left out",
}


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


lines = []
for word, lists in result.items():
    lines.append(f"  {word}:")
    lines.append(f"    kind: {KIND[word]}")
    lines.append(f"    parent: {{code: {q(PARENT[word])}, display: {q(PDISP[word])}}}")
    lines.append(f"    rule: {q(RULETXT[word])}")
    lines.append("    lists:")
    for source, codes in lists:
        if not codes:
            continue
        lines.append(f"      - source: {source}")
        lines.append("        codes:")
        for code, disp in codes:
            lines.append(f"          - {{code: {q(code)}, display: {q(disp)}}}")
open("downloads/snomed/words.yaml", "w").write("\n".join(lines) + "\n")
print(sum(len(c) for ls in result.values() for s, c in ls), "codes")
