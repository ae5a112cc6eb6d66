# SPDX-License-Identifier: Apache-2.0
"""How a drug name as real systems send it is matched against the lexicon's names (contract 1.2).

Prescribing systems, pharmacy feeds and FHIR servers do not send ``clozapine``: they send
``Clozaril 100mg``, ``clozapine 100 MG Oral Tablet``, ``sulfamethoxazole/trimethoprim``, a name
pasted with a zero-width space or typed in full-width letters. A name that does not match drops
its drug's alerts silently, so every step below exists to match what certainly is the same
drug, and none of them guesses. The steps, in the order :meth:`NameIndex.match` tries them:

1. **clean** (always): Unicode NFKC (full-width letters and digits become ASCII, ligatures are
   split), invisible and control characters removed (Unicode categories Cc and Cf: zero-width
   space, joiner and non-joiner, soft hyphen, byte-order mark, bidirectional marks), every dash
   (category Pd) becomes ``-`` and the fraction slash ``/``, case folded, whitespace collapsed,
   separators left at either end dropped (``clozapine;``). The cleaned name is looked up as it
   is.
2. **product words**: text in brackets set aside (an SBD's ``[Brand]``, ``(as hydrochloride)``,
   a pack's braces), dosing schedules removed (``1-0-1``, ``0-0-1``, ``1/2-0-1/2``: three or four
   numbers joined by hyphens; ``2x``; a chemotherapy cycle ``C2D1``), strengths and amounts
   removed (``100mg``, ``100 MG``, ``0.5 g``, ``12.5 MG/5 ML``, ``10 ML``, ``24 HR``, also glued
   to a name: ``clozapine100mg``; bare numbers standing alone, not ``5-FU`` or ``B12``), then
   dose-form, route, release, pharmacopoeia and frequency words, in English and the form words of
   German, French, Italian and Spanish labels (``oral tablet``, ``tab``, ``ER``, ``injection``,
   ``BP``, ``daily``, ``OD``, ``bd``, ``tds``, ``nocte``, ``mane``, ``forte``, ``cycle``,
   ``Tabletten``, ``comprimés`` ...: ``FORM_WORDS``).
3. **salts**: salt, ester-free counter-ion and hydrate words (``hydrochloride``, ``sodium``,
   ``mesylate`` ...: ``SALT_WORDS``) removed, only when the name with them matched nothing, so a
   generic that includes its salt (``divalproex sodium``) is kept whole. Lexicon names are
   indexed without their salt words too, unless two drugs would share the result.
4. **groups**: a name of the lexicon's ``groups`` (the chemotherapy regimens of
   ``rules/lexicon/regimens.yaml``: ``R-CHOP``, ``FOLFOX``) is the drugs of that group; spaces and
   hyphens between its letters are the same (``R CHOP`` is ``R-CHOP``), and a one- or two-digit
   schedule number after it is dropped (``R-CHOP-14``, ``FOLFOX6``, ``BEACOPP14``).
5. **suffixes**: ``<known name>-<four letters>`` (the FDA's biosimilar naming,
   ``rituximab-abbs``) is the known name; ``<generic>-<word>``, where ``<generic>`` is written
   exactly as a lexicon drug's generic name (not a brand, not a typo) and ``<word>`` is one word of
   letters (a manufacturer's name: ``Clozapine-ratiopharm``, ``carbimazole-Hexal``), is that
   generic, with the word kept as ``unmatched``. Neither applies when the suffix is itself a known
   name or group (``rituximab-CHOP`` is a combination, step 7) or within did-you-mean distance of
   one (``clozapine-fluvoxamin`` stays unknown, and resembles both). Words after a space
   (``Clozapine Teva``) are never taken as a manufacturer. A manufacturer's word before the
   generic (``Apo-Clozapine``, ``Teva-Clozapine``: three letters or more) is read the same way,
   as is a word with digits after it (``Clozapine-1A``).
6. **bracketed text**: when the text outside the brackets matched nothing, each bracketed part
   is tried, as a name and as a combination (``{24 (Methotrexate 2.5 MG Oral Tablet) } Pack``,
   ``TC (docetaxel/cyclophosphamide)``).
7. **combinations**: a name split at ``/``, ``+``, ``&``, ``,``, ``;``, `` and ``, `` with `` (and
   at ``-`` only when both halves match) whose parts each match: the lexicon's entry for that
   combination if it has one (its own name or brand written with the same parts), else the
   parts' drugs together. Parts that match nothing are kept as ``unmatched``; a part that is
   only a strength or form word is dropped.

A name that carries a **status word** (``held``, ``on hold``, ``stopped``, ``discontinued``,
``completed`` ...: ``STATUS_WORDS``) matches nothing unless it is itself a lexicon name:
``clozapine-held``, ``Clozapine-stop``, ``clozapine (held)`` and ``chemo (completed 2019)`` are
not read as courses of their drugs. The word says the drug may not be taken now, and the name
gives no date: read as a current course it would be wrong in the most dangerous way (a
monitored drug's label saying "continue" for a drug the record says is held, a chemotherapy of
2019 counted as today's), and read as a stopped one it would need the stop date that decides
which of the label's rows apply (within 30 days of stopping, or not), which nothing gives. So the
name is kept as written and reported as unknown, as any unread name is, and
:func:`without_status` lets the lexicon say which drug it names
(:meth:`engine.kb.lexicon.Lexicon.set_aside`), so that the warnings for an unread alert-driving
drug name it. A medication with a stop date says the same without guessing.

A name that still matches nothing stays unknown. :meth:`NameIndex.near_all` then offers
did-you-means, never a match (:meth:`NameIndex.near` one only when there is exactly one): what a
Unicode confusable of a known name matches (Cyrillic or Greek letters that look Latin,
``CONFUSABLES``); else the known names and groups at the smallest edit distance (optimal string
alignment: up to 2 for names of six or more characters, 1 for four or five, none below); else
every known name or group written whole inside the unknown one, as words or as the pieces between
its hyphens, semicolons and other punctuation (``clozapine;``, ``Clozapine Teva``), together with
the known names one edit from such a piece of six letters or more (``Clozapin-ratiopharm``
resembles clozapine, ``Thiamazol-Henning`` methimazole).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RXNORM_PREFIX = "rxnorm:"


#: Dose-form, route, release, pharmacopoeia and frequency words: never part of a drug's name in
#: the lexicon. Besides English: the dose forms of German (Tabletten, Filmtabletten, Kapseln),
#: French (comprimés, gélules), Italian (compresse) and Spanish (tabletas, comprimidos) labels,
#: and the Latin-derived frequency words of British prescriptions (OD, bd, tds, qds, nocte, mane).
#: Kept without their accents, as :func:`clean` reads every name (comprimés -> comprimes).
FORM_WORDS = frozenset(
    "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    for word in (
    "tablet tablets tab tabs capsule capsules cap caps caplet oral orally po solution soln "
    "suspension susp syrup elixir liquid drops injection injectable inj infusion iv intravenous "
    "im intramuscular sc subcut subcutaneous vial vials ampoule ampule syringe prefilled pen "
    "auto-injector autoinjector injector powder for reconstitution concentrate disintegrating odt "
    "orodispersible dispersible sublingual buccal effervescent soluble gastro-resistant "
    "chewable film coated film-coated extended delayed release er xr sr xl cr dr ec modified pack "
    "kit bp usp "
    "ds ss daily bid tid qid qd qhs prn nightly weekly once twice x × "
    "od bd bds tds qds nocte mane midi hs stat forte mite cycle cycles "
    "q q4h q6h q8h q12h q24h q48h qod qam qpm "  # "q12h" loses "12h" as a strength first
    "times thrice two three four per day days week weeks every alternate morning evening tiw biw "
    "mwf "  # "960 mg three times weekly" was no co-trimoxazole (probe 16)
    "retard chrono prolonged-release "  # "Tegretol Retard", "Epilim Chrono" were unread (probe 17)
    "paediatric pediatric "  # "Septrin paediatric suspension" was unread (probe 18)
    "tablette tabletten filmtablette filmtabletten schmelztablette schmelztabletten "
    "retardtablette retardtabletten kapsel kapseln hartkapseln weichkapseln "
    "comprimé comprimés pelliculé pelliculés gélule gélules orodispersibles "
    "compressa compresse rivestite orodispersibili "
    "tableta tabletas comprimido comprimidos cápsula cápsulas recubiertos bucodispersables "
    # drops and oral solutions ("Novaminsulfon 500 mg/ml Tropfen" was unread: probe 19)
    "tropfen lösung losung injektionslösung gouttes gotas gocce"
    ).split()
)  # fmt: skip

#: Salt, counter-ion, hydrate and liposome words: the same drug with or without them.
SALT_WORDS = frozenset(
    "hydrochloride hcl dihydrochloride monohydrochloride hydrobromide sodium disodium potassium "
    "dipotassium calcium magnesium mesylate mesilate dimesylate maleate sulfate sulphate "
    "phosphate acetate citrate tartrate bitartrate succinate fumarate besylate besilate tosylate "
    "lactate gluconate chloride bromide hyclate monohydrate dihydrate trihydrate hydrate "
    "anhydrous liposome liposomal as base "
    # German, Spanish and Italian salt words ("Metamizol-Natrium", "metamizol sódico": probe 19)
    "natrium kalium sódico sódica magnésico magnésica potásico sodico sodica magnesico "
    "magnesica potasico monohydrat".split()
)

#: Words that say a drug is held, stopped or finished (``clozapine-held``, ``chemo (completed
#: 2019)``): a name carrying one is not read as a course (see the module docstring). No lexicon
#: name contains one (tests/unit/test_drugnames.py checks it).
STATUS_WORDS = frozenset(
    "hold held holding withhold withheld stop stopped stopping discontinue discontinued "
    "discontinuation cease ceased suspend suspended pause paused complete completed finished "
    "ended".split()
)
_LETTERS = re.compile(r"[^\W\d_]+")
#: A status word with an "on" before it ("on hold") and the hyphens and spaces around it.
#: (Each run of spaces and hyphens is tried from its start only: tried from every position, a
#: long run cost the square of its length.)
_STATUS = re.compile(
    r"(?<![\s-])[\s-]*\b(?:on\s+)?(?:" + "|".join(sorted(STATUS_WORDS)) + r")\b[\s-]*"
)
_EMPTY_BRACKETS = re.compile(r"\[\s*\]|\(\s*\)|\{\s*\}")

#: Letters of other scripts that look like Latin ones (after case folding), for did-you-mean only.
CONFUSABLES = dict(
    zip(
        "аеорсухіјѕһԁԛԝӏвкмнтёαβεζηικμνορτυχı",
        "aeopcyxijshdqwlbkmhteabezhikmnoptyxi",
        strict=True,
    )
)

#: Strength units; "30 MU" (million units) and "60 million units" are how filgrastim and
#: penicillin G are dosed ("Zarzio 30 MU" and "penicillin G 60 million units/day" were unread).
_UNIT = (
    r"(?:mg|mcg|µg|μg|ug|g|kg|ng|ml|l|meq|mmol|million\s+units?|million\s+iu|mio|miu|mu"
    r"|unt|units?|iu|%|hr|h|m2|actuat)"
)
_NUMBER = r"\d+(?:[.,]\d+)?"
_STRENGTH = re.compile(  # a combination's strengths first: "800/160 mg" (probe 16)
    rf"(?<![\d.,:/-]){_NUMBER}\s*/\s*{_NUMBER}\s*{_UNIT}(?!\w)"
    rf"|(?<![\w.,:/-]){_NUMBER}/{_NUMBER}(?![\w/-])"
    rf"|(?<![\d.,:-]){_NUMBER}\s*{_UNIT}(?!\w)(?:\s*/\s*(?:{_NUMBER}\s*)?{_UNIT}(?!\w))?"
    rf"|(?<![\w:-]){_NUMBER}(?![\w-])"
)
_BRACKETS = re.compile(r"\[([^][(){}]*)\]|\(([^][(){}]*)\)|\{([^][(){}]*)\}")
_SEPARATORS = re.compile(r"\s*(?:/|\+|&|,|;|\band\b|\bwith\b)\s*")
_RXNORM = re.compile(rf"^{RXNORM_PREFIX}\s*(\S+)$")
_BIOSIMILAR = re.compile(r"^(.+)-([a-z]{4})$")
_SUFFIXED = re.compile(r"^(.+)-([a-z0-9]*[a-z][a-z0-9]*)$")
#: A manufacturer's name before an exact generic name (the Canadian ``APO-CLOZAPINE``,
#: ``Teva-Clozapine``): one word of at least three letters, then the generic.
_PREFIXED = re.compile(r"^([a-z]{3,})-(.+)$")
#: A dosing schedule: three or four doses of the day joined by hyphens (``1-0-1``, ``0-0-1``,
#: ``1/2-0-1/2``), a count of doses (``2x``, ``2x25mg``) or a chemotherapy cycle and day
#: (``C1``, ``C2D1``); never part of a name.
_DOSE = r"\d+(?:[.,/]\d+)?"
_SCHEDULE = re.compile(
    rf"(?<![\w.,/-]){_DOSE}(?:\s*-\s*{_DOSE}){{2,3}}(?![\w/-])"
    r"|(?<![\w.,/-])\d+[x×](?=\d|\s|$)|(?<![\w.,/-])c\d+(?:d\d+)?(?![\w/-])"
)
#: A group name followed by a schedule number (``r-chop-14``, ``folfox6``).
_GROUP_NUMBER = re.compile(r"^(.*[a-z])-?\d{1,2}$")
#: Separators left at either end of a name (``clozapine;`` from a cell split at the wrong place).
_EDGES = " ;,/+&.:"
#: The pieces of a name between spaces and punctuation, for the "written inside" did-you-mean.
_PIECES = re.compile(r"[^\w]+")
_SPACE = re.compile(r"\s+")
_PARTS = re.compile(r"[\s-]+")


#: Trademark signs printed after brand names ("Clozaril®").
_MARKS = str.maketrans("", "", "®™©℠")


def clean(text: str) -> str:
    """Step 1: NFKC, invisible and control characters out, accents off, dashes unified, case
    folded. Accents come off because a drug name is the same with them ("Méthimazole", as a
    French record writes it, raised no antithyroid alert; probe 12)."""
    out = []
    for char in unicodedata.normalize("NFKD", text.translate(_MARKS)):  # before NFKD: ™ -> TM
        category = unicodedata.category(char)
        if unicodedata.combining(char):  # an accent, split off its letter by NFKD
            continue
        if category in ("Cc", "Cf"):
            out.append(" " if char in "\t\n\r\x0b\x0c" else "")
        elif category == "Pd":
            out.append("-")
        elif char == "\u2044":
            out.append("/")
        else:
            out.append(char)
    return _SPACE.sub(" ", "".join(out).casefold()).strip()


#: A hyphen or colon glued before a strength ("clozapine-25mg", "clozapine:25mg") or a dose number
#: at the end of the name ("clozapine-100"), as pharmacy exports write them; a hyphen after a
#: number ("6-mercaptopurine") or before one digit ("interleukin-2") is part of the name and stays.
_HYPHENED_STRENGTH = re.compile(  # a bare number after a colon is an RxNorm code ("rxnorm:3639")
    rf"[-:](?={_NUMBER}\s*{_UNIT}(?!\w))|-(?=\d{{2,}}(?:[.,]\d+)?$)"
)
#: A form word glued on with a hyphen (``clozapine-ODT``); tried from the start of a word only
#: (from every position, a long word cost the square of its length).
_HYPHENED_WORD = re.compile(r"(?<!\S)(\S+)-([a-z]+)\b")


def without_strengths(text: str) -> str:
    """Dosing schedules, strengths, amounts and bare numbers removed from a cleaned name; a
    strength or form word glued on with a hyphen or colon (``clozapine:25mg``, ``clozapine-odt``)
    is cut off first."""
    text = _HYPHENED_STRENGTH.sub(" ", _SCHEDULE.sub(" ", text))
    text = _HYPHENED_WORD.sub(_split_form_word, text)
    return _SPACE.sub(" ", _STRENGTH.sub(" ", text)).strip()


def _split_form_word(m: re.Match[str]) -> str:
    """``clozapine-odt`` -> ``clozapine odt``; a hyphenated form word (``auto-injector``) stays."""
    whole = f"{m[1]}-{m[2]}"
    return f"{m[1]} {m[2]}" if m[2] in FORM_WORDS and whole not in FORM_WORDS else whole


def status_words(name: str) -> tuple[str, ...]:
    """The status words of a cleaned name (``clozapine (held)`` -> ``("held",)``), in order."""
    return tuple(w for w in _LETTERS.findall(name) if w in STATUS_WORDS)


def without_status(name: str) -> str:
    """A cleaned name without its status words (with an ``on`` before one, and the hyphens beside
    it) and the brackets they leave empty: ``clozapine-held`` -> ``clozapine``, ``chemo
    (completed 2019)`` -> ``chemo (2019)``. Only for saying which drug an unread name names;
    never a match (see the module docstring)."""
    text = _EMPTY_BRACKETS.sub(" ", _STATUS.sub(" ", name))
    return _SPACE.sub(" ", text).strip(_EDGES + "-")


def without_form_words(text: str) -> str:
    """Dose-form, route, release and frequency words removed from a cleaned name."""
    return " ".join(w for w in text.split() if w not in FORM_WORDS)


def without_salts(text: str) -> str:
    """Salt, counter-ion and hydrate words removed from a cleaned name."""
    return " ".join(w for w in text.split() if w not in SALT_WORDS)


#: Bracketed parts read from one name at most; brackets beyond them are read as spaces (each
#: part is one pass over the name: thousands of them cost the square of its length).
MAX_BRACKETED = 32
_BRACKET_CHARS = re.compile(r"[][(){}]")


def bracketed(text: str) -> tuple[str, tuple[str, ...]]:
    """(the text outside brackets, the bracketed parts), innermost brackets first."""
    inside: list[str] = []
    while len(inside) < MAX_BRACKETED:
        found = _BRACKETS.search(text)
        if found is None:
            break
        inside.append(next(g for g in found.groups() if g is not None).strip())
        text = text[: found.start()] + " " + text[found.end() :]
    else:
        text = _BRACKET_CHARS.sub(" ", text)
    return _SPACE.sub(" ", text).strip(), tuple(inside)


def core(text: str) -> str:
    """Step 2 on a cleaned name: the name without its brackets, strengths and form words."""
    outside, _ = bracketed(text)
    return without_form_words(without_strengths(outside))


def skeleton(text: str) -> str:
    """A cleaned name with look-alike letters of other scripts replaced by the Latin ones."""
    return "".join(CONFUSABLES.get(char, char) for char in text)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a transposition counts 1), or ``limit + 1`` beyond."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return min(previous[-1], limit + 1)


_SCHEDULE_NUMBER = re.compile(r"(?<=[a-z])-?\d{1,2}$")

#: A regimen name shorter than this is an acronym: read only as written, never as a typo.
MIN_FUZZY_GROUP = 6


def allowed_distance(name: str) -> int:
    """How far a typo may be from a known name for a did-you-mean (short names need exactness).
    Two edits only from names of eight letters or more: at six, common drugs the lexicon does
    not list were taken for drugs it does (Keppra for Septra, Lantus for Lanvis, Prolia for
    Droxia), and a suspected-name warning fired on every order of them."""
    return 2 if len(name) >= 8 else 1 if len(name) >= 4 else 0


def _parts(text: str) -> tuple[str, ...]:
    return tuple(p for p in _SEPARATORS.split(text) if p.strip())


@dataclass(frozen=True)
class Match:
    """What a name matched: one drug, or the drugs of a combination (generic names)."""

    generics: tuple[str, ...]
    how: str = ""  # how it was read, for explanations; "" when it matched as written
    unmatched: tuple[str, ...] = ()  # parts of a combination that matched no drug
    product: str = ""  # the RxNorm product code it was read through, if any
    group: str = ""  # the group (regimen) key it was read as, if any


#: How many unknown names one index remembers the near matches of.
NEAR_MEMO = 4096


def group_key(name: str) -> str:
    """A cleaned group name with spaces and hyphens between its parts made one hyphen, so that
    ``r chop``, ``r - chop`` and ``r-chop`` are one key."""
    return re.sub(r"\s*-\s*|\s+", "-", name.strip())


class NameIndex:
    """The lexicon's names, cleaned, with the derived keys that the matching steps use.

    ``names`` maps lower-case generic names, brands and ``rxnorm:<ingredient id>`` to a generic
    name; ``products`` maps an RxNorm product code to its ingredients' generic names; ``groups``
    maps the name of a group of drugs given together (a chemotherapy regimen, ``r-chop``) to the
    generic names of its lexicon drugs.
    """

    def __init__(
        self,
        names: Mapping[str, str],
        products: Mapping[str, tuple[str, ...]],
        groups: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.names = {clean(k): v for k, v in sorted(names.items())}
        self.products = dict(products)
        self.groups = {
            group_key(clean(k)): tuple(sorted(set(v))) for k, v in sorted((groups or {}).items())
        }
        self.desalted = _unambiguous(
            (without_salts(k), g) for k, g in self.names.items() if not k.startswith(RXNORM_PREFIX)
        )
        self.combinations = _unambiguous(
            (key, g) for k, g in self.names.items() if (key := self._parts_key(k)) is not None
        )
        keys = {k: (g,) for k, g in self.names.items() if not k.startswith(RXNORM_PREFIX)}
        #: every name a did-you-mean may point at: names, names without their salts, and groups
        #: whose names are long enough to be more than an acronym (a wound "VAC" is no "MVAC")
        self.candidates: dict[str, tuple[str, ...]] = {
            **{k: (g,) for k, g in self.desalted.items() if k},
            **keys,
            **{k: g for k, g in self.groups.items() if len(k) >= MIN_FUZZY_GROUP},
        }
        # unknown names recur across a batch and the edit-distance search is the costly step
        self._near: dict[str, tuple[str, ...]] = {}
        #: the most words and hyphen-joined parts a name or group can have (one more: a group's
        #: schedule number): longer runs of an unknown name cannot be one, and listing them all
        #: made a long name cost the cube of its length (a 4,000-character name took a minute)
        self.longest = 1 + max(
            (len(_PARTS.split(k)) for k in (*self.names, *self.groups)), default=1
        )

    @staticmethod
    def _parts_key(name: str) -> str | None:
        parts = [without_salts(p) for p in re.split(r"\s*(?:/|\+|&|,|;|-|\band\b)\s*", name)]
        if len(parts) < 2 or not all(len(p) >= 3 and p[0].isalpha() for p in parts):
            return None
        return " / ".join(sorted(parts))

    def match(self, text: str) -> Match | None:
        """What a name certainly means (steps 1-7 of the module docstring), or None."""
        name = clean(text).strip(_EDGES)
        code = _RXNORM.match(name)
        if code is not None:
            return self._code(code.group(1))
        if name in self.names:
            return Match((self.names[name],))
        if status_words(name):
            return None  # held, stopped, completed: not a current course (module docstring)
        return self._single(name) or self._combination(name)

    def _code(self, code: str) -> Match | None:
        generic = self.names.get(RXNORM_PREFIX + code)
        if generic is not None:
            return Match((generic,))
        if code in self.products:
            return Match(self.products[code], f"RxNorm product {code}", product=code)
        return None

    def group(self, name: str) -> str | None:
        """The group key a cleaned name is (``r chop``, ``folfox6``), or None."""
        key = group_key(name)
        if key in self.groups:
            return key
        numbered = _GROUP_NUMBER.match(key)
        if numbered is not None and numbered.group(1) in self.groups:
            return numbered.group(1)
        return None

    def known(self, name: str) -> bool:
        """Whether a cleaned name is a lexicon name or group as it stands (no reading steps)."""
        return name in self.names or self.group(name) is not None

    def _single(self, name: str, *, brackets: bool = True) -> Match | None:
        outside, inside = bracketed(name)
        bare = without_strengths(outside)
        stripped = without_form_words(bare)
        desalted = without_salts(stripped)
        for key in dict.fromkeys(k for k in (stripped, desalted) if k):
            if key in self.names:
                return Match((self.names[key],), f"read as {key!r}")
        for key in dict.fromkeys(k for k in (bare, stripped, desalted) if k):
            group = self.group(key)  # before its form words too: "im fx" is no "fx"
            if group is not None:
                return Match(self.groups[group], f"read as {group!r}", group=group)
        if desalted and desalted in self.desalted:
            return Match((self.desalted[desalted],), f"read as {desalted!r} (salt words aside)")
        suffixed = self._suffixed(desalted)
        if suffixed is not None:
            return suffixed
        for part in inside if brackets else ():
            found = (
                self._single(part, brackets=False)
                or self._code_text(part)
                or self._combination(part)
            )
            if found is not None:
                return found
        return None

    def _suffixed(self, name: str) -> Match | None:
        """Step 5: a biosimilar suffix, or a manufacturer's name after (or before) an exact
        generic name."""
        found = _SUFFIXED.match(name)
        if found is None:
            return self._prefixed(name)
        base, suffix = found.group(1), found.group(2)
        if base not in self.names:
            return self._prefixed(name)
        if self.known(suffix):
            return None  # a second drug or group: a combination (step 7), not a suffix
        if _BIOSIMILAR.match(name) is not None:
            return Match((self.names[base],), f"read as {base!r} (biosimilar)")
        return self._manufacturer(base, suffix, "after")

    def _prefixed(self, name: str) -> Match | None:
        """``<word>-<generic>``: a manufacturer's name before a generic name written exactly."""
        found = _PREFIXED.match(name)
        return (
            None if found is None else self._manufacturer(found.group(2), found.group(1), "before")
        )

    def _manufacturer(self, base: str, word: str, side: str) -> Match | None:
        """``base`` when it is a generic name written exactly (not a brand, not a typo) and the
        ``word`` beside it is no known name nor within did-you-mean distance of one (a typo of a
        second drug): that word is a manufacturer's, kept as ``unmatched``."""
        if self.names.get(base) != base or self.known(word) or _closest((word,), self.candidates):
            return None
        how = f"read as {base!r} ({word!r} {side} the hyphen is no lexicon name: a manufacturer)"
        return Match((base,), how, (word,))

    def _code_text(self, text: str) -> Match | None:
        code = _RXNORM.match(text)
        return self._code(code.group(1)) if code is not None else None

    def _combination(self, name: str) -> Match | None:
        outside, _ = bracketed(name)
        parts = _parts(without_strengths(outside))
        hyphenated = len(parts) < 2
        if hyphenated:
            halves = core(name).split("-")
            parts = tuple(h.strip() for h in halves) if len(halves) == 2 else ()
        cores = [core(p) for p in parts]
        if len(cores) < 2 or (hyphenated and not all(cores)):
            return None
        key = " / ".join(sorted(without_salts(c) for c in cores if c))
        if key in self.combinations:
            return Match((self.combinations[key],), "combination")
        matched: list[str] = []
        unmatched: list[str] = []
        for part, stripped in zip(parts, cores, strict=True):
            found = self._code_text(clean(part)) or self._single(part)
            if found is not None:
                matched += found.generics
            elif stripped:
                unmatched.append(stripped)
        if not matched or hyphenated and unmatched:
            return None  # a hyphen splits only between two names that both match
        return Match(tuple(sorted(set(matched))), "combination", tuple(unmatched))

    def near(self, text: str) -> str | None:
        """The one generic name an unknown name most likely meant (a did-you-mean), or None.

        None for a name that :meth:`match` matches, and when two drugs are equally close."""
        found = self.near_all(text)
        return found[0] if len(found) == 1 else None

    def near_all(self, text: str) -> tuple[str, ...]:
        """Every generic name an unknown name is closest to, in name order (see :meth:`near`).

        A look-alike of a known name comes first; else the known names at the smallest allowed
        edit distance; else the known names written whole inside the unknown name, with those
        nearest to each of its pieces. Answers are remembered per index (at most
        :data:`NEAR_MEMO` names)."""
        found = self._near.get(text)
        if found is None:
            found = self._near_all(text)
            if len(self._near) < NEAR_MEMO:
                self._near[text] = found
        return found

    def _near_all(self, text: str) -> tuple[str, ...]:
        name = clean(text)
        if self.match(name) is not None:
            return ()
        look_alike = skeleton(name)
        if look_alike != name:
            found = self.match(look_alike)
            if found is not None:
                return found.generics
        stripped = without_salts(core(look_alike))
        if not stripped:
            return ()
        # the typo may itself look like a form word ("im tinib"): compare the name with its form
        # words too, and take the closest either way
        whole = without_strengths(bracketed(look_alike)[0])
        # a regimen's schedule number (mFOLFOX6) is no part of its name
        unnumbered = _SCHEDULE_NUMBER.sub("", stripped)
        probes = tuple(dict.fromkeys((stripped, whole, unnumbered)))
        return _closest(probes, self.candidates) or self._inside(stripped)

    def _inside(self, name: str) -> tuple[str, ...]:
        """The known names and groups written inside an unknown name: runs of its words and of the
        hyphen-joined parts of a word (``co-trimoxazole-xyz``), and the pieces between its
        punctuation (``clozapine;``, ``clozapine-ratiopharm``); with them, the names one edit from
        a piece that is no known name (``clozapin-ratiopharm``)."""
        words = name.split()
        longest = self.longest
        runs = {
            " ".join(words[start : start + size])
            for size in range(1, min(len(words), longest + 1))
            for start in range(len(words) - size + 1)
        }
        for word in words:
            parts = word.split("-")
            runs.update(
                "-".join(parts[start:end])
                for start in range(len(parts))
                for end in range(start + 2, min(len(parts), start + longest) + 1)
                if end - start < len(parts)
            )
        pieces = [p for p in _PIECES.split(name) if p]
        found: set[str] = set()
        for run in (*runs, *pieces):
            if run in self.names:
                found.add(self.names[run])
            elif (group := self.group(run)) is not None:
                found.update(self.groups[group])
        if len(pieces) > 1:  # one letter off a name of six or more: "clozapin", "thiamazol"
            for piece in pieces:
                if len(piece) >= 6 and not self.known(piece):
                    found.update(_closest((piece,), self.candidates, most=1))
        return tuple(sorted(found))


def _closest(
    probes: tuple[str, ...], candidates: Mapping[str, tuple[str, ...]], most: int = 2
) -> tuple[str, ...]:
    """The generic names whose names are nearest to any of ``probes``, within their limits (and
    at most ``most`` edits away)."""
    best = most + 1
    found: set[str] = set()
    for key, generics in candidates.items():
        limit = min(allowed_distance(key), best)
        distance = min(edit_distance(probe, key, limit) for probe in probes)
        if distance > limit:
            continue
        if distance < best:
            best, found = distance, set()
        found.update(generics)
    return tuple(sorted(found))


def _unambiguous(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """key -> generic, leaving out every key that two different drugs would share."""
    out: dict[str, str] = {}
    shared: set[str] = set()
    for key, generic in pairs:
        if out.setdefault(key, generic) != generic:
            shared.add(key)
    return {k: g for k, g in out.items() if k not in shared}
