"""Postal addresses: street lines, PO boxes and postcode-town lines, in several languages.

A value is an address when a house number stands beside a street type
("8392 Smith Lodge", "Via Roma 5", "Lindenweg 3", "12, rue de la Paix"), when
it names a unit or box ("Apt. 437", "PO Box 12", "PSC 1234, Box 5678"), when
it starts with a street type of another language ("rue Victoire Chauvin"),
or when a postcode with its town ("MN 72819", "SW1A 2AA", "10115 Berlin")
follows a numbered or street line. Inside free text only the common street
types count (the USPS list also holds "Light" and "Point").
"""

from __future__ import annotations

import re

__all__ = ["address_in_text", "is_address"]


def _wordset(*lines: str) -> frozenset[str]:
    """The words of some lines of text, as a set (long word lists stay short in the source)."""
    return frozenset(" ".join(lines).split())


# Street types: USPS suffixes and their abbreviations, and the words of other countries.
_STREET_WORDS = _wordset(
    "street st avenue ave av road rd lane ln drive dr boulevard blvd court ct place pl",
    "way square sq circle cir highway hwy parkway pkwy terrace ter trail trl crescent",
    "cres close grove gardens gdns mews row walk alley aly loop path plaza plz ridge rdg",
    "run view vista wharf heights hts junction jct point pt pike estates estate park",
    "expressway expy freeway fwy turnpike tpke bypass causeway cswy crossing xing knoll",
    "knolls lodge mall isle ville mountain mountains mount mtn ports port harbor harbors",
    "hbr cape station stravenue springs spring spgs shoals shoal fords ford spurs spur",
    "ways valley valleys vly island islands lake lakes creek crk brook brooks burg burgs",
    "camp canyon center centers cliff cliffs club common commons corner corners course",
    "courts cove coves crest dale dam divide extension extensions falls ferry field",
    "fields flat flats forest forge forges fork forks fort garden gateway glen glens",
    "green greens haven hill hills hollow inlet keys land landing light lights lock locks",
    "manor manors meadow meadows mill mills mission motorway neck orchard oval overpass",
    "pass passage pine pines plain plains port prairie radial ramp ranch rapid rapids",
    "rest route shore shores skyway squares stream summit throughway trace track",
    "trafficway tunnel underpass union unions",
)
# Street types of other languages; these may be lower-case and start a street name
# without a number ("rue Victoire Chauvin", "chemin de Wagner").
_FOREIGN_SET = _wordset(
    "via viale vía piazza piazzale corso largo vicolo strada canale contrada borgo rotonda",
    "incrocio stretto lungomare calle avenida plaza paseo camino carrer carretera ronda",
    "travesía pasaje acceso alameda callejón cañada cuesta glorieta pasadizo rambla",
    "urbanización vial rue allée impasse chemin quai cours boulevard avenue place route",
    "square voie rua travessa estrada praça ulica ul aleja plac osiedle straat laan weg",
    "plein gracht kade singel gatan vägen gata gade vej veien",
)
_ENGLISH = _STREET_WORDS
_STREET_SET = _ENGLISH | _FOREIGN_SET
_STREET_START = re.compile(
    r"^(?P<type>[A-Za-zÀ-ÿ]+)\s+(?:(?:de|del|de la|du|des|di|della|dei|degli|do|da|dos)\s+)?"
    r"[A-ZÀ-Ý][\w'’-]+",
    re.UNICODE,
)
# German, Dutch and Nordic street names are compounds: Hauptstraße, Lindenweg, Kerkstraat.
_COMPOUND_ENDS = (
    "straße|strasse|str\\.|weg|gasse|platz|allee|damm|ufer|chaussee|steig|pfad|straat|laan|"
    "plein|gracht|kade|singel|dreef|steeg|gatan|vägen|gade|vej|veien"
)
_COMPOUND_STREET = re.compile(rf"\b[A-ZÄÖÜ][\wäöüß]*(?:{_COMPOUND_ENDS})\b", re.UNICODE)
# Whole values may also end in -ring, -hof, -pad ("Gijsring 73"); in running text those
# endings are ordinary words ("Featuring 3").
_COMPOUND_VALUE = re.compile(rf"\b[A-ZÄÖÜ][\wäöüß]*(?:{_COMPOUND_ENDS}|ring|hof|pad)\b", re.UNICODE)
_NUMBER = r"\d{1,5}(?:\s?[a-zA-Z](?![a-zA-Z]))?(?:[-/]\d{1,4})?"
_WORD = r"[A-ZÀ-Ý][\w'’.-]*"
# Inside free text only the common street types count: the USPS list also holds
# "Light", "Point" and "View", which products are named after.
_COMMON_STREET = _wordset(
    "street st avenue ave road rd lane ln drive dr boulevard blvd court ct way terrace",
    "crescent close highway hwy parkway pkwy",
)
# French writes street types in lower case ("12 rue de la Paix").
_LOWER_OK = _wordset(
    "rue allée impasse chemin quai",
)
_NUM_THEN_STREET = re.compile(
    rf"(?<![\w-]){_NUMBER},?\s+(?:(?:{_WORD}|de|del|la|le|du|des|di|van|der)\s+){{0,4}}"
    r"(?P<type>[A-Za-zÀ-ÿ]+)\b\.?",
    re.UNICODE,
)
_STREET_THEN_NUM = re.compile(
    rf"\b(?P<type>[A-Za-zÀ-ÿ]+)\s+(?:(?:{_WORD}|de|del|la|le|du|des|di|dei|della|van|der)"
    rf"\s*){{1,5}},?\s*(?:n[º°o.]\s*)?{_NUMBER}(?![\w])",
    re.UNICODE,
)
_COMPOUND_NUM = re.compile(_COMPOUND_STREET.pattern + rf"\s*,?\s*{_NUMBER}(?![\w])", re.UNICODE)
_COMPOUND_VALUE_NUM = re.compile(
    _COMPOUND_VALUE.pattern + rf"\s*,?\s*{_NUMBER}(?![\w])", re.UNICODE
)
_POSTCODE_CITY = re.compile(
    r"\b(?:[A-Z]{2}\s\d{5}(?:-\d{4})?"  # US: MN 72819
    r"|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"  # UK: SW1A 2AA
    r"|[A-Z]\d[A-Z]\s?\d[A-Z]\d"  # Canada: K1A 0B1
    r"|\d{4}\s?[A-Z]{2}\s+[A-Z][a-z]"  # Netherlands: 1012 AB Amsterdam
    r"|(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-ZÀ-Ý][\wÀ-ÿ'’.-]+"  # DE/FR/IT/ES/AT/CH…: 10115 Berlin
    r")\b",
    re.UNICODE,
)
_UNIT = re.compile(
    r"\b(?:apt|apartment|suite|ste|unit|flat|floor|fl|bldg|building|room|rm)\b\.?\s*#?\s*\d+\w*|"
    r"\bP\.?\s?O\.?\s+Box\s+\d+|\b(?:PSC|Unit)\s+\d{3,5},?\s+Box\s+\d{3,5}|"
    r"\b(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}",
    re.IGNORECASE,
)


def _street_hit(text: str, *, in_text: bool = False) -> bool:
    """A house number beside a street type ("12 Main Street", "Via Roma 5", "Lindenweg 3")."""
    english = _COMMON_STREET if in_text else _ENGLISH
    for m in _NUM_THEN_STREET.finditer(text):
        word = m["type"].lower()
        if (word in english and m["type"][0].isupper()) or word in _LOWER_OK:
            return True
    for m in _STREET_THEN_NUM.finditer(text):
        word = m["type"].lower()
        if (word in _FOREIGN_SET and m["type"][0].isupper()) or word in _LOWER_OK:
            return True
    return bool((_COMPOUND_NUM if in_text else _COMPOUND_VALUE_NUM).search(text))


def is_address(text: str) -> bool:
    """A postal address or a street line: a house number beside a street type, a PO box,
    or a postcode with its town next to a numbered line."""
    text = text.strip()
    if not 6 <= len(text) <= 200 or "@" in text:
        return False
    if _street_hit(text):
        return True
    if _UNIT.search(text) and re.search(r"\d", text):
        return True
    start = _STREET_START.match(text)
    if start:
        word = start["type"]
        # "rue Victoire Chauvin" and "Calle Mayor" are streets; "Place Mat Set" is not.
        if word.lower() in _FOREIGN_SET and (word.islower() or word.lower() not in _ENGLISH):
            return True
    lines = [p.strip() for p in re.split(r"[\n;]|,\s", text) if p.strip()]
    if len(lines) < 2 or not _POSTCODE_CITY.search(text):
        return False
    first_words = {w.lower().strip(".,") for w in lines[0].split()}
    return bool(re.search(r"\d", lines[0])) or bool(first_words & _STREET_SET)


def address_in_text(text: str) -> bool:
    """A street address somewhere inside a longer text."""
    return _street_hit(text, in_text=True) or bool(
        _UNIT.search(text) and _POSTCODE_CITY.search(text)
    )
