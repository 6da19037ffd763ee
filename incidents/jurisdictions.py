"""Where affected people live and where we operate, as codes the obligation rules can match.

Inputs are ISO 3166-1 alpha-2 country codes (`DE`), ISO 3166-2 subdivisions (`US-CA`) or `EU`.
Rules match on *tags*: a subdivision also counts as its country, an EU member state also counts
as `EU` and `EEA` (GDPR reaches the EEA, NIS2 and DORA only the Union). Keeping the expansion in
one place means no rule has to list 27 member states, and no rule forgets one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator

# ISO 3166-1 alpha-2, as listed in the IANA time zone database's iso3166.tab (249 codes).
ISO_COUNTRIES: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW
    """.split()
)

EU_MEMBERS: frozenset[str] = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# Territories with their own ISO code that are part of the Union (outermost regions, Åland).
EU_TERRITORIES: frozenset[str] = frozenset("AX GF GP MF MQ RE YT".split())
EEA_ONLY: frozenset[str] = frozenset("IS LI NO".split())

EU = "EU"
EEA = "EEA"
# "UK" is ISO's exceptionally reserved code for the United Kingdom; people write it, rules say GB.
_ALIASES = {"UK": "GB"}
_SUBDIVISION = re.compile(r"^([A-Z]{2})-([A-Z0-9]{1,3})$")


# ISO 3166-2:US: the states, DC and the outlying areas. US state laws are the one place where
# rules name subdivisions, so a typo there must be caught; elsewhere the code's shape is checked.
US_SUBDIVISIONS: frozenset[str] = frozenset(
    """
    AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM
    NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR UM VI
    """.split()
)


def normalise_jurisdiction(code: str) -> str:
    """`de` → `DE`, `UK` → `GB`, `us-ca` → `US-CA`; unknown codes raise ValueError."""
    text = code.strip().upper()
    text = _ALIASES.get(text, text)
    if text == EU or text in ISO_COUNTRIES:
        return text
    match = _SUBDIVISION.match(text)
    if match:
        country, sub = match.groups()
        country = _ALIASES.get(country, country)
        if country in ISO_COUNTRIES and (country != "US" or sub in US_SUBDIVISIONS):
            return f"{country}-{sub}"
    raise ValueError(
        f"unknown jurisdiction {code!r}: expected an ISO 3166-1 alpha-2 code (DE), "
        "an ISO 3166-2 subdivision (US-CA) or EU"
    )


def normalise_country(code: str) -> str:
    """A country only: sites and acquirers are places, not blocs or states."""
    text = _ALIASES.get(code.strip().upper(), code.strip().upper())
    if text not in ISO_COUNTRIES:
        raise ValueError(f"unknown country {code!r}: expected an ISO 3166-1 alpha-2 code")
    return text


Jurisdiction = Annotated[str, AfterValidator(normalise_jurisdiction)]
Country = Annotated[str, AfterValidator(normalise_country)]


def country_of(code: str) -> str:
    return code.split("-", 1)[0]


def tags(codes: Iterable[str]) -> frozenset[str]:
    """Every tag a rule may name for these codes: the codes, their countries, EU and EEA."""
    out: set[str] = set()
    for code in codes:
        out.add(code)
        if code == EU:
            out.add(EEA)
            continue
        country = country_of(code)
        out.add(country)
        if country in EU_MEMBERS or country in EU_TERRITORIES:
            out.update((EU, EEA))
        elif country in EEA_ONLY:
            out.add(EEA)
    return frozenset(out)
