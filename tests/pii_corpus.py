"""Generated tables with known personal-data columns, for the detection tests and benchmark.

Real-looking values come from Faker in eight locales; about half the personal
columns get names that say nothing or mislead (``col7``, ``contact``,
``info``), some columns mix e-mails and phones, free-text columns carry
personal data in some rows, and the non-personal columns include hard cases
(product names in a column called ``name``, phone models, card types, ISBNs,
EAN codes, dates, amounts with thousands separators, company names and
cities, which contain people's names).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL", "en_CA"]
MISLEADING = ["col7", "contact", "field_3", "value", "data", "x", "info", "ref", "c12", "attr"]


@dataclass
class GeneratedTable:
    name: str
    locale: str
    columns: dict[str, list[str | None]]
    truth: dict[str, frozenset[str]]  # column -> kinds (empty: not personal)


def _personal(fake, rng: random.Random) -> dict[str, tuple[Callable[[], str], frozenset[str]]]:
    def card() -> str:
        number = fake.credit_card_number()
        if rng.random() < 0.3 and len(number) == 16:
            return " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return number

    def iban() -> str:
        value = fake.iban()
        if rng.random() < 0.4:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def email() -> str:
        value = fake.email()
        return value.capitalize() if rng.random() < 0.1 else value

    def name() -> str:
        return rng.choice([fake.name, fake.name, fake.first_name, fake.last_name])()

    def contact() -> str:
        return fake.email() if rng.random() < 0.5 else fake.phone_number()

    def text() -> str:
        sentence = fake.sentence(nb_words=rng.randint(6, 14))
        if rng.random() < 0.3:
            extra = rng.choice(
                [
                    lambda: f"Please reach me at {fake.email()}.",
                    lambda: f"Call me on {fake.phone_number()} after six.",
                    lambda: f"Ship it to {fake.street_address()} please.",
                    lambda: f"My name is {fake.first_name()} {fake.last_name()}.",
                    lambda: f"Refund to IBAN {fake.iban()}.",
                ]
            )()
            return f"{sentence} {extra}"
        return sentence

    one = frozenset
    return {
        "email": (email, one({"email"})),
        "phone": (fake.phone_number, one({"phone"})),
        "ip": (lambda: fake.ipv4() if rng.random() < 0.8 else fake.ipv6(), one({"ip_address"})),
        "card": (card, one({"payment_card"})),
        "iban": (iban, one({"iban"})),
        "address": (
            lambda: fake.address() if rng.random() < 0.6 else fake.street_address(),
            one({"postal_address"}),
        ),
        "name": (name, one({"person_name"})),
        "notes": (text, one({"free_text"})),
        "contact": (contact, one({"email", "phone"})),
    }


_PRODUCTS = [
    "Stratocaster", "Les Paul Junior", "Jazz Bass", "Telecaster Deluxe", "SM58 Microphone",
    "Guitar Strings 10-46", "Capo Trigger", "Tuner Clip", "Patch Cable 6 in", "Amp Stand",
    "Drum Sticks 5A", "Keyboard Bench", "Violin Rosin", "Mandolin Case", "Ukulele Soprano",
]  # fmt: skip
_PHONES = ["iPhone 14", "Galaxy S23", "Pixel 8 Pro", "Moto G 5G", "Xperia 10 V", "Nokia 3310"]


def _plain(fake, rng: random.Random) -> dict[str, Callable[[], str]]:
    return {
        "amount": lambda: f"{rng.uniform(0, 5000):.2f}",
        "amount_eu": lambda: f"{rng.randint(1000, 9_999_999):,}".replace(",", "."),
        "quantity": lambda: str(rng.randint(1, 40)),
        "order_no": lambda: str(rng.randint(10**9, 10**10 - 1)),
        "day": lambda: fake.date(),
        "ts": lambda: fake.iso8601(),
        "uuid": lambda: fake.uuid4(),
        "sku": lambda: fake.bothify("??-####-??").upper(),
        "order_ref": lambda: fake.bothify("ORD-2024-######"),
        "name": lambda: rng.choice(_PRODUCTS),  # a misleading name: products
        "product_name": lambda: rng.choice(_PRODUCTS),
        "category": lambda: fake.word(),
        "country": fake.country,
        "city": fake.city,
        "company": fake.company,
        "job": fake.job,
        "colour": fake.color_name,
        "status": lambda: rng.choice(["new", "paid", "shipped", "refunded", "cancelled"]),
        "flag": lambda: rng.choice(["true", "false"]),
        "postcode": fake.postcode,
        "currency": fake.currency_code,
        "url": fake.url,
        "user_agent": fake.user_agent,
        "ean": fake.ean13,
        "isbn": fake.isbn13,
        "rating": lambda: f"{rng.randint(1, 10) / 2:.1f}",
        "description": lambda: fake.sentence(nb_words=rng.randint(6, 14)),
        "review": lambda: fake.paragraph(nb_sentences=3),
        "plate": fake.license_plate,
        "file": fake.file_name,
        "version": lambda: f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        "token": lambda: fake.sha1(),
        "phone_model": lambda: rng.choice(_PHONES),
        "card_type": lambda: rng.choice(["Visa", "Mastercard", "Amex", "Maestro"]),
        "email_opt_in": lambda: rng.choice(["yes", "no"]),
        "address_type": lambda: rng.choice(["home", "work", "billing"]),
        "weight_kg": lambda: f"{rng.uniform(0.1, 30):.3f}",
        "duration": lambda: (
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        ),
    }


def generate(n_tables: int = 60, rows: int = 300, seed: int = 0) -> list[GeneratedTable]:
    """``n_tables`` tables of ``rows`` rows, each with 4-7 personal and 6-10 other columns."""
    from faker import Faker

    rng = random.Random(seed)
    tables = []
    for t in range(n_tables):
        locale = LOCALES[t % len(LOCALES)]
        fake = Faker(locale)
        fake.seed_instance(seed * 1000 + t)
        personal = _personal(fake, rng)
        plain = _plain(fake, rng)
        columns: dict[str, list[str | None]] = {}
        truth: dict[str, frozenset[str]] = {}
        picks = rng.sample(sorted(personal), rng.randint(4, 7))
        used_misleading = rng.sample(MISLEADING, len(MISLEADING))
        for i, key in enumerate(picks):
            make, kinds = personal[key]
            col = used_misleading.pop() if rng.random() < 0.5 else f"{key}_{i}"
            columns[col] = [make() if rng.random() > 0.05 else None for _ in range(rows)]
            truth[col] = kinds
        for key in rng.sample(sorted(plain), rng.randint(6, 10)):
            col = key if key not in columns else f"{key}_2"
            columns[col] = [plain[key]() for _ in range(rows)]
            truth[col] = frozenset()
        tables.append(GeneratedTable(f"table_{t:02d}_{locale}", locale, columns, truth))
    return tables
