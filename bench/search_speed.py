"""Search speed and ingestion throughput benchmark, through the real server (issue 3).

Issue 3's goals, on this 2-core machine:
- with 10,000 chunks indexed, ``POST /api/v1/knowledge/search`` p50 under 25 ms and p99
  under 100 ms, measured by a client of a real ``companin serve``;
- ingestion throughput (chunks/s from upload to ``ready``) at least 0.8 of the raw
  embedder's throughput on the same chunk texts, measured in the same run.

What it does, in a fresh temporary instance (nothing in companin is patched or mocked):

1. generates, deterministically, a help-centre corpus of Markdown and text files (invented
   products, troubleshooting, shipping, returns, billing... a vocabulary of a few thousand
   words) large enough for the target number of chunks (the chunker's own count decides);
2. starts ``companin serve`` on a free port and, file after file, uploads one through
   ``POST /knowledge/files/`` and times it from the upload to ``ready``, then embeds the
   very chunk texts the server stored (read back from its SQLite database) with
   ``get_embedder("")`` in this process, in the server's batches of 32, while the server
   is idle: the raw embedder throughput the ingestion is compared with. Alternating file by
   file makes a change in the machine's load fall on both sides alike;
3. adds some Q&A pairs through ``POST /knowledge/qa/`` (indexed in the request, timed);
4. sends varied customer-style queries, one after the other from a keep-alive
   ``requests.Session`` (after a warm-up): every query in hybrid mode, some also in vector
   and keyword mode, next to a request that searches nothing (the framework's floor), all
   interleaved; reports client-side p50/p95/p99;
5. stops the server, then times the steps of a search inside this process (query embedding,
   Chroma query, FTS5 query, row lookup, the whole view through Flask's test client) on the
   same instance, to show where the time goes.

The machine is shared: the 1-minute load average is recorded before and after each phase,
as other work on the two cores skews every number.

Run from the repository root:

    .venv/bin/python bench/search_speed.py [--strict] [--chunks 10000] [--queries 500]

It prints a table with PASS/FAIL and writes bench/results/search_speed.json. ``--strict``
exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "search_speed.json"
API = "/api/v1"

GOAL_P50_MS = 25.0
GOAL_P99_MS = 100.0
GOAL_RATIO = 0.8
EMBED_BATCH = 32  # the server's batch (companin.knowledge.index.EMBED_BATCH)
MODES = ("hybrid", "vector", "keyword")


class BenchError(Exception):
    """The benchmark could not run (server down, a file failed...): no numbers."""


# ---------------------------------------------------------------------------- corpus
#
# Invented products of a made-up electronics shop, written up the way help centres are:
# one section per product and topic, paragraphs of templated sentences whose slots draw
# from word lists. Brand names, model numbers and error codes are invented so that each
# product has words of its own (as real catalogues do), which keeps BM25 honest.

ONSETS = "b br c cl d dr f fl g gr h j k kr l m n p pl pr qu r s sk sl st t tr v w z".split()
VOWELS = "a e i o u ae ai ea io ou y".split()
CODAS = ["", "", "n", "r", "x", "l", "s", "m", "th", "v", "k", "nd", "rt"]

KINDS = """router thermostat doorbell camera speaker soundbar headphones earbuds kettle
blender toaster scooter e-bike smartwatch tablet printer vacuum air-purifier dehumidifier
humidifier coffee-machine projector monitor keyboard mouse webcam microphone baby-monitor
smart-plug light-bulb light-strip lock garage-opener sprinkler-controller weather-station
fitness-tracker bike-computer dashcam drone power-bank charger turntable radio e-reader
hair-dryer toothbrush scale rice-cooker air-fryer slow-cooker fridge dishwasher washer
dryer oven hob range-hood fan heater mesh-system nas-drive game-controller""".split()

FEATURES = """battery charging-cable power-adapter display touchscreen firmware companion-app
Wi-Fi-connection Bluetooth-pairing speaker microphone lens motion-sensor filter water-tank
heating-element fan remote-control status-light power-button reset-button wall-mount
docking-station memory-card SIM-tray strap brush-roll charging-dock hinge keypad
trackpad lid nozzle dial temperature-probe timer night-mode voice-assistant schedule
notifications usage-history child-lock eco-mode auto-off USB-C-port headphone-jack antenna
ethernet-port guest-network parental-controls cloud-backup storage-drive sleep-mode
calibration volume-rocker touch-controls noise-cancelling equalizer subtitles clock
geofencing two-factor-login door-sensor siren chime keychain-fob dust-bin side-brush
mop-pad descaling-cycle grinder steam-wand milk-frother thermal-carafe drip-tray
hopper blade-assembly jar crumb-tray kickstand brake-lever throttle headlight tail-light
tyre inner-tube frame-lock pedal-assist display-bezel stylus cover-case screen-protector
ink-cartridge toner paper-tray scanner-glass duplex-unit wireless-dock charging-pad""".split()

SYMPTOMS = [
    "will not turn on",
    "keeps disconnecting",
    "drains too quickly",
    "makes a clicking noise",
    "shows a blinking red light",
    "is stuck on the logo screen",
    "does not respond to the app",
    "gets unusually hot",
    "restarts on its own",
    "cannot find the network",
    "shows the wrong time",
    "beeps three times",
    "leaks water underneath",
    "smells of burning plastic",
    "charges very slowly",
    "loses its settings after a power cut",
    "pairs but plays no sound",
    "has a cracked housing",
    "vibrates more than usual",
    "reports a full memory",
    "fails the firmware update",
    "shows a dim picture",
    "will not hold a charge",
    "is missing from the app",
    "stops halfway through a cycle",
    "flashes amber and white",
    "is slow to wake up",
    "ignores voice commands",
    "reports the wrong temperature",
    "drops the video feed at night",
]

COUNTRIES = """Germany France Spain Italy Portugal Ireland Netherlands Belgium Luxembourg Austria
Switzerland Denmark Sweden Norway Finland Iceland Poland Czechia Slovakia Hungary Romania
Bulgaria Greece Croatia Slovenia Estonia Latvia Lithuania Canada Mexico Brazil Argentina
Chile Colombia Peru Japan Korea Singapore Malaysia Thailand Vietnam Indonesia Philippines
Australia Zealand India Israel Turkey Morocco Egypt Kenya Nigeria Ghana Cyprus Malta""".split()

CITIES = """Berlin Munich Hamburg Paris Lyon Marseille Madrid Barcelona Valencia Rome Milan
Naples Lisbon Porto Dublin Cork Amsterdam Rotterdam Utrecht Brussels Antwerp Vienna Graz
Zurich Geneva Basel Copenhagen Aarhus Stockholm Gothenburg Oslo Bergen Helsinki Tampere
Reykjavik Warsaw Krakow Gdansk Prague Brno Bratislava Budapest Bucharest Sofia Athens
Thessaloniki Zagreb Ljubljana Tallinn Riga Vilnius Toronto Montreal Vancouver Calgary
Ottawa Monterrey Guadalajara Santiago Lima Bogota Tokyo Osaka Kyoto Seoul Busan Bangkok
Hanoi Jakarta Manila Sydney Melbourne Brisbane Perth Auckland Wellington Mumbai Pune
Bangalore Chennai Istanbul Izmir Casablanca Nairobi Lagos Accra Limassol Valletta""".split()

CARRIERS = """DHL UPS FedEx GLS DPD Hermes PostNL Colissimo Correos Posti Bring InPost
Canada-Post Australia-Post Yamato""".split()
PAYMENTS = """Visa Mastercard American-Express PayPal Klarna Apple-Pay Google-Pay iDEAL
Bancontact SEPA-transfer gift-card store-credit""".split()
PLATFORMS = """Android iOS iPadOS Windows macOS Linux ChromeOS Alexa Google-Home HomeKit
SmartThings Matter Zigbee Z-Wave Thread IFTTT""".split()
PLANS = "Basic Plus Premium Family Business Care Protect Studio Pro Unlimited".split()
COLOURS = """black white graphite silver gold rose sage navy teal coral sand slate ivory
charcoal crimson olive mint lilac copper bronze""".split()
MATERIALS = """aluminium steel glass ceramic bamboo silicone leather nylon polycarbonate
walnut oak cork fabric rubber titanium""".split()
AGENTS = """Amira Ben Carla Dmitri Elena Farid Greta Hiro Ines Jonas Kofi Lena Mateo Nadia
Oskar Priya Quentin Rosa Samir Tara Umar Vera Wim Xenia Yusuf Zoe""".split()
ROOMS = """kitchen bedroom hallway garage garden attic basement office nursery balcony
bathroom porch""".split()
ACCESSORIES = """spare-battery replacement-filter travel-case wall-bracket extension-cable
charging-stand protective-sleeve cleaning-kit descaler-tablets spare-brushes
replacement-blades mounting-plate carry-strap remote-batteries adapter-plug
power-supply""".split()
PERIODS = ["week", "month", "fortnight", "year", "weekend", "summer", "winter", "spring"]

PHRASES = {
    "setup": [
        "Unpack the {product} and keep the {feature} and the quick start card together.",
        "Place the {product} in the {room}, at least {n} centimetres away from walls.",
        "Open the companion app on {platform}, tap Add device and choose {kind}.",
        "Hold the reset button for {n} seconds until the status light pulses {colour}.",
        "The {product} needs a {ghz} GHz network; networks hidden from view are not found.",
        "If the app asks for a code, it is printed under the {feature} next to the serial.",
        "Setup takes about {minutes} minutes, most of it spent downloading the latest update.",
        "You can name the {kind} after the room it is in, such as {Room} {kind}.",
        "Once paired, the {product} appears on the home screen with its {feature} status.",
        "For {platform} users, allow location access during setup so nearby devices appear.",
    ],
    "trouble": [
        "If your {product} {symptom}, first unplug it for {n} seconds and plug it back in.",
        "A {product} that {symptom} usually has an outdated firmware or a loose {feature}.",
        "Check that the {feature} is seated firmly and free of dust before trying again.",
        "When the problem persists, note the time it happens and send us the app's log.",
        "Customers in {city} reported that moving the router closer fixed the connection.",
        "Try a different power socket: extension strips can starve the {feature} of current.",
        "If nothing helps, a factory reset returns every setting to how it left the factory.",
        "Our agent {agent} can run a remote diagnosis when the {kind} is online.",
        "Keep the {kind} away from radiators and direct sun; heat shortens its life.",
        "A {colour} light on the {feature} means it is working as expected.",
    ],
    "firmware": [
        "Firmware {version} for the {product} improves the {feature} and fixes rare crashes.",
        "Updates install overnight between {hour} and {hour2} o'clock when auto-update is on.",
        "Do not unplug the {kind} while the light blinks {colour}: it is writing the update.",
        "You can check the installed version under Settings, About, Firmware in the app.",
        "If an update fails twice, download it on {platform} and retry over a cable.",
        "Release notes for version {version} list every change to the {feature}.",
        "Older units made before {year} receive security updates but no new features.",
    ],
    "care": [
        "Clean the {feature} every {n} weeks with a soft, dry cloth; never use solvents.",
        "The {material} housing of the {product} can be wiped with a little soapy water.",
        "Replace the {accessory} every {n} months to keep the {kind} working at its best.",
        "Descale or rinse the {feature} monthly if you live in a hard water area.",
        "Store the {kind} in a dry place between {low} and {high} degrees when unused.",
        "A worn {feature} can be ordered as a spare part rather than replacing the device.",
    ],
    "warranty": [
        "The {product} comes with a {years}-year warranty that covers defects in materials.",
        "Accidental damage, water damage and wear of the {feature} are not covered.",
        "To claim, register the serial number in the app and attach your proof of purchase.",
        "With the {plan} plan, the warranty extends to {years2} years and includes a loan unit.",
        "Repairs under warranty take {days} working days from the moment we receive the unit.",
        "If we cannot repair the {kind}, we replace it with the same or a newer model.",
        "Warranty claims from {country} are handled by our partner repair centre in {city}.",
    ],
    "shipping": [
        "Orders to {country} ship with {carrier} and arrive in {days} to {days2} working days.",
        "Express delivery to {city} costs {price} and arrives the next working day.",
        "Delivery is free above {price2} for {country}; below that a flat fee applies.",
        "You get a tracking link by email as soon as the parcel leaves our warehouse.",
        "Bulky items such as the {product} need a signature on delivery.",
        "Customs duties for {country} are included in the price shown at checkout.",
        "If the tracking has not moved for {days} days, contact us and we open a trace.",
        "Parcels can be redirected to a {carrier} pickup point from the tracking page.",
    ],
    "returns": [
        "You can return the {product} within {days3} days of delivery for a full refund.",
        "Print the prepaid {carrier} label from your order page and pack the item securely.",
        "Refunds go back to your {payment} within {days} working days of our check.",
        "Opened hygiene items such as earbuds tips cannot be returned unless faulty.",
        "An exchange for a different colour, such as {colour}, is free within {days3} days.",
        "Returns from {country} may take longer because of customs checks at the border.",
        "Keep the original box: a {kind} returned without it may be refunded partially.",
    ],
    "billing": [
        "The {plan} plan costs {price} a month and can be cancelled at any time.",
        "Invoices are sent by email on the first day of each billing period.",
        "We accept {payment} and {payment2}; cash on delivery is not available.",
        "Change your payment method under Account, Billing before the next renewal.",
        "If a payment fails, we retry after {n} days and email you each time.",
        "Switching from {plan} to {plan2} takes effect at the start of the next period.",
        "VAT for {country} is shown on every invoice along with our tax number.",
        "Students and teachers get {percent} percent off the {plan} plan with a valid card.",
    ],
    "account": [
        "Reset your password from the sign-in page; the link expires after {minutes} minutes.",
        "Turn on two-factor login in the app to protect orders and saved payment cards.",
        "You can download or delete your personal data from Account, Privacy at any time.",
        "Family members can share the {product} once you invite them from the app.",
        "Recordings from the {kind} are kept for {days3} days unless you choose otherwise.",
        "We never sell your data; diagnostic logs are anonymised after {days} days.",
        "Changing your email address requires confirming the new one within {hours} hours.",
    ],
    "compat": [
        "The {product} works with {platform}, {platform2} and {platform3}.",
        "{platform} support needs the app version {version} or later.",
        "It is not compatible with older {kind} hubs sold before {year}.",
        "Accessories of the {series} series fit the {product} without an adapter.",
        "Third-party {accessory} may work, but we cannot guarantee their safety.",
    ],
}
TOPIC_TITLES = {
    "setup": ["Setting up the {product}", "Getting started with your {kind}"],
    "trouble": ["{Product} {symptom}", "Troubleshooting: the {kind} {symptom}"],
    "firmware": ["Firmware updates for the {product}", "What's new in version {version}"],
    "care": ["Cleaning and caring for the {product}", "Spare parts for the {kind}"],
    "warranty": ["Warranty on the {product}", "Repairs and warranty claims"],
    "shipping": ["Delivery of the {product} to {country}", "Shipping times and tracking"],
    "returns": ["Returning the {product}", "Refunds and exchanges"],
    "billing": ["The {plan} plan and billing", "Payments and invoices"],
    "account": ["Your account and privacy", "Sharing the {product} with your family"],
    "compat": ["Compatibility of the {product}", "Works with {platform}"],
}

# Sentences any section may borrow: the connective tissue of real help articles.
GENERAL = [
    "Our support team answers every message within {hours} hours, weekends included.",
    "Tip: the {tech} feature of the {product} can be switched off under Settings, Advanced.",
    "Thanks to {tech}, the {kind} adjusts itself quietly to the conditions in the {room}.",
    "Most questions about the {feature} are answered in the video guide on our website.",
    "Write down the serial number before you contact us; it starts with {series}.",
    "If you bought the {kind} from a reseller, they handle returns for the first month.",
    "Please avoid third-party chargers: a weak supply causes most overheating reports.",
    "In rare cases a hardware fault is to blame, and we will arrange a collection.",
    "This applies to every colour of the {product}, including the limited {colour} edition.",
    "Our technicians in {city} test each returned unit before it is refurbished or recycled.",
    "You will find the same instructions, with pictures, in the printed manual.",
    "Chat with {agent} or another colleague from the Help button in the app.",
    "Businesses ordering more than ten units can ask for a dedicated account manager.",
    "We are glad to help in English, German, French, Spanish, Italian and Dutch.",
    "Remember that settings changed on one phone apply to everyone sharing the device.",
    "Unlike earlier models, the {model} stores its preferences in the cloud as well.",
    "Regulations in {country} require us to collect old electronics free of charge.",
    "Packaging is made of recycled cardboard and can go straight into paper recycling.",
    "A grey icon next to the {feature} means the app is still waiting for the device.",
    "Keep firmware and app up to date: many oddities disappear after an update.",
    "Refurbished units carry the same guarantee as new ones and cost noticeably less.",
    "Demonstration units in our {city} showroom can be tried before buying.",
    "Several customers asked whether the {tech} module can be retrofitted; it cannot.",
    "Sustainability matters to us, so spare parts stay available for seven years.",
    "Should the {feature} fail outside the warranty, a fixed-price repair is offered.",
    "For safety, never open the enclosure: there are no user-serviceable parts inside.",
    "Accessibility options include larger text, spoken prompts and high-contrast themes.",
    "Dealers in {country} can order spare parts for you through our partner portal.",
]

QUERY_TEMPLATES = [
    "how do i set up my {brand} {kind}",
    "{brand} {kind} {symptom}",
    "my {kind} {symptom}, what can i do?",
    "what does it mean when the {feature} light is {colour}",
    "do you ship to {country}",
    "how long does delivery to {city} take",
    "can i return a {kind} after {days3} days",
    "refund to {payment} how long",
    "is the {brand} {model} compatible with {platform}",
    "where can i buy a replacement {accessory} for the {brand} {model}",
    "how do i cancel the {plan} plan",
    "what is included in the {plan} plan",
    "warranty on the {brand} {kind}",
    "how often should i clean the {feature}",
    "firmware update failed on {brand} {model}",
    "how much is express shipping to {city}",
    "can i pay with {payment}",
    "reset password link expired",
    "how do i delete my data",
    "Hi, I bought the {brand} {kind} last {period} and the {feature} {symptom}. Help?",
    "{brand} {model} {feature} not working",
    "is there a student discount",
    "customs fees {country}",
    "tracking not updated for {days} days",
    "can my family use the {kind} too",
    "exchange {kind} for a {colour} one",
]


def _words(name: str) -> str:
    return name.replace("-", " ")


@dataclass
class Product:
    brand: str
    kind: str
    model: str
    series: str
    tech: str  # an invented trademark, as catalogues are full of
    features: list[str]

    @property
    def name(self) -> str:
        return f"{self.brand} {_words(self.kind)} {self.model}"


class Corpus:
    """Deterministic prose from a seed: the same arguments always give the same bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._brands: set[str] = set()
        self.products: list[Product] = []

    def brand(self) -> str:
        while True:
            parts = self.rng.choice([2, 2, 3])
            word = "".join(
                self.rng.choice(ONSETS) + self.rng.choice(VOWELS) + self.rng.choice(CODAS)
                for _ in range(parts)
            )
            if 4 <= len(word) <= 11 and word not in self._brands:
                self._brands.add(word)
                return word.capitalize()

    def product(self) -> Product:
        rng = self.rng
        model = rng.choice("ABCDEFGHKLMNPRSTVXZ") + str(rng.randint(10, 990))
        model += rng.choice(["", "", " Pro", " Mini", " Max", " Lite", " Plus", " 2", " 3"])
        product = Product(
            brand=self.brand(),
            kind=rng.choice(KINDS),
            model=model,
            series=rng.choice(["Q", "R", "T", "V", "W"]) + str(rng.randint(1, 9)),
            tech=self.brand() + rng.choice(["", "", "Sense", "Flow", "Guard", "Link"]),
            features=rng.sample(FEATURES, 6),
        )
        self.products.append(product)
        return product

    def slots(self, product: Product | None = None) -> dict[str, str]:
        rng = self.rng
        product = product or rng.choice(self.products)
        plan, plan2 = rng.sample(PLANS, 2)
        payment, payment2 = rng.sample(PAYMENTS, 2)
        platform, platform2, platform3 = rng.sample(PLATFORMS, 3)
        days = rng.randint(2, 6)
        room = rng.choice(ROOMS)
        symptom = rng.choice(SYMPTOMS)
        return {
            "product": product.name,
            "Product": product.name,
            "brand": product.brand,
            "model": product.model,
            "series": product.series,
            "tech": product.tech,
            "kind": _words(product.kind),
            "feature": _words(rng.choice(product.features)),
            "symptom": symptom,
            "room": room,
            "Room": room.capitalize(),
            "platform": _words(platform),
            "platform2": _words(platform2),
            "platform3": _words(platform3),
            "colour": rng.choice(COLOURS),
            "material": rng.choice(MATERIALS),
            "accessory": _words(rng.choice(ACCESSORIES)),
            "country": rng.choice(COUNTRIES),
            "city": rng.choice(CITIES),
            "carrier": _words(rng.choice(CARRIERS)),
            "payment": _words(payment),
            "payment2": _words(payment2),
            "plan": plan,
            "plan2": plan2,
            "agent": rng.choice(AGENTS),
            "period": rng.choice(PERIODS),
            "n": str(rng.randint(3, 30)),
            "minutes": str(rng.choice([5, 10, 15, 20, 30, 45, 60])),
            "hours": str(rng.choice([12, 24, 48, 72])),
            "days": str(days),
            "days2": str(days + rng.randint(1, 5)),
            "days3": str(rng.choice([14, 30, 60, 90])),
            "years": str(rng.choice([1, 2, 3])),
            "years2": str(rng.choice([4, 5])),
            "year": str(rng.randint(2015, 2023)),
            "version": f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
            "ghz": rng.choice(["2.4", "5"]),
            "hour": str(rng.randint(1, 3)),
            "hour2": str(rng.randint(4, 6)),
            "low": str(rng.randint(0, 10)),
            "high": str(rng.randint(25, 40)),
            "price": f"{rng.randint(3, 49)}.{rng.choice(['00', '50', '90', '99'])} EUR",
            "price2": f"{rng.choice([25, 50, 75, 100, 150])} EUR",
            "percent": str(rng.choice([10, 15, 20, 25, 30])),
        }

    def section(self, topic: str, product: Product) -> tuple[str, list[str]]:
        """A titled section: the topic's sentences dealt out once each over 1-3 paragraphs,
        with a few general ones mixed in, so that no sentence repeats within a section."""
        rng = self.rng
        title = rng.choice(TOPIC_TITLES[topic]).format(**self.slots(product))
        sentences = rng.sample(PHRASES[topic], rng.randint(3, len(PHRASES[topic])))
        sentences += rng.sample(GENERAL, rng.randint(1, 4))
        rng.shuffle(sentences)
        paragraphs, rest = [], sentences
        while rest:
            size = rng.randint(2, 5)
            paragraphs.append(" ".join(t.format(**self.slots(product)) for t in rest[:size]))
            rest = rest[size:]
        return title, paragraphs

    def document(self, number: int, products: int, markdown: bool) -> str:
        """One help-centre file: a chapter per product, a section per topic."""
        lines = [f"# Help centre, volume {number}", ""] if markdown else []
        for _ in range(products):
            product = self.product()
            if markdown:
                lines += [f"## {product.name}", ""]
            else:
                lines += [product.name.upper(), ""]
            for topic in self.rng.sample(list(PHRASES), self.rng.randint(6, len(PHRASES))):
                title, paragraphs = self.section(topic, product)
                lines += [f"### {title}" if markdown else title, ""]
                for text in paragraphs:
                    lines += [text, ""]
        return "\n".join(lines)

    def qa_pair(self) -> dict[str, str]:
        product = self.rng.choice(self.products)
        topic = self.rng.choice(list(PHRASES))
        question = self.rng.choice(QUERY_TEMPLATES).format(**self.slots(product))
        question = question[0].upper() + question[1:]
        if not question.endswith(("?", ".")):
            question += "?"
        _, paragraphs = self.section(topic, product)
        return {"question": question, "answer": paragraphs[0]}

    def queries(self, count: int) -> list[str]:
        found: dict[str, None] = {}
        while len(found) < count:
            query = self.rng.choice(QUERY_TEMPLATES).format(**self.slots())
            found[query] = None
        return list(found)


def build_corpus(target_chunks: int, seed: int) -> tuple[Corpus, list[tuple[str, bytes]], int]:
    """Files whose chunks (as the product's own parser and chunker cut them) reach
    `target_chunks`; returns the corpus, the files and the predicted chunk count."""
    from companin.knowledge.chunking import chunk_document
    from companin.knowledge.parsers import parse

    corpus = Corpus(seed)
    files: list[tuple[str, bytes]] = []
    predicted = 0
    per_file = max(1, target_chunks // 10)  # about ten files, ~1 MB each at 10,000 chunks
    while predicted < target_chunks:
        number = len(files) + 1
        markdown = number % 4 != 0  # mostly Markdown, some plain text
        # ~10 chunks per product (6-10 sections of one or two chunks)
        products = max(1, min(per_file, target_chunks - predicted) // 10 + 1)
        text = corpus.document(number, products, markdown)
        data = text.encode("utf-8")
        kind = "md" if markdown else "txt"
        document = parse(data, kind, max_pages=2000, max_chars=5_000_000)
        predicted += len(chunk_document(document))
        files.append((f"help-centre-{number:02d}.{kind}", data))
    return corpus, files, predicted


def vocabulary_size(texts: list[str]) -> int:
    words: set[str] = set()
    for text in texts:
        words.update(re.findall(r"[a-z]+", text.lower()))
    return len(words)


# ---------------------------------------------------------------------------- server


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_dir: Path

    def stderr(self) -> str:
        path = self.log_dir / "serve.stderr"
        return path.read_text("utf-8", "replace")[-4000:] if path.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def companin_command() -> list[str]:
    script = Path(sys.executable).parent / "companin"
    return [str(script)] if script.exists() else [sys.executable, "-m", "companin"]


@contextlib.contextmanager
def companin_server(instance: Path, log_dir: Path, threads: int | None) -> Iterator[Server]:
    """`companin serve` on a free loopback port for the block, stopped whatever happens."""
    port = free_port()
    env = {
        **os.environ,
        "COMPANIN_INSTANCE_PATH": str(instance),
        "COMPANIN_RATE_LIMIT": "100000000/hour",
    }
    command = [*companin_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if threads:
        command += ["--threads", str(threads)]
    with open(log_dir / "serve.stdout", "wb") as out, open(log_dir / "serve.stderr", "wb") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=ROOT)
    server = Server(f"http://127.0.0.1:{port}", process, log_dir)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchError(f"companin serve exited early:\n{server.stderr()}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(server.url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"companin serve not healthy after 60 s:\n{server.stderr()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def expect(response: requests.Response, *codes: int) -> object:
    """The envelope's data, or a readable failure with what the server said."""
    if response.status_code not in codes:
        raise BenchError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text[:500]}"
        )
    return response.json()["data"]


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------- phases


def stored_chunk_texts(instance: Path, source_id: str) -> list[str]:
    """The chunk texts the server stored for a source, in chunk order."""
    connection = sqlite3.connect(f"file:{instance / 'companin.db'}?mode=ro", uri=True)
    try:
        # peewee keeps UUIDs as 32 hex digits in SQLite; accept the dashed form too.
        keys = (uuid.UUID(source_id).hex, str(uuid.UUID(source_id)))
        rows = connection.execute(
            "SELECT text FROM knowledge_chunk WHERE source_id IN (?, ?) ORDER BY ordinal", keys
        ).fetchall()
        return [text for (text,) in rows]
    finally:
        connection.close()


def embed_like_ingestion(embedder, texts: list[str]) -> float:
    """Seconds to embed `texts` as the ingestion does (batches of 32 in order), nothing else."""
    start = time.perf_counter()
    for first in range(0, len(texts), EMBED_BATCH):
        embedder.embed(texts[first : first + EMBED_BATCH])
    return time.perf_counter() - start


def ingest_and_compare(
    session: requests.Session,
    url: str,
    instance: Path,
    files: list[tuple[str, bytes]],
    embedder,
    timeout: float,
) -> dict:
    """For each file in turn: upload it and time it to `ready` (the server is otherwise
    idle), then embed the chunk texts the server stored with the raw embedder in this
    process (the server then idle). Alternating file by file lets a change in the load
    that other work puts on the machine fall on both sides alike."""
    per_file = []
    ingest_s = raw_s = 0.0
    chunks = 0
    for number, (name, data) in enumerate(files, start=1):
        kind = "text/markdown" if name.endswith(".md") else "text/plain"
        load_before = load()
        start = time.perf_counter()
        source = expect(
            session.post(
                f"{url}{API}/knowledge/files/",
                files={"file": (name, data, kind)},
                data={"title": name.rsplit(".", 1)[0].replace("-", " ")},
            ),
            201,
        )
        while source["status"] == "processing":
            if time.perf_counter() - start > timeout:
                raise BenchError(f"{name} still processing after {timeout:.0f} s")
            # One cheap request every 0.2 s: under 1% of the file's time is lost to it.
            time.sleep(0.2)
            source = expect(session.get(f"{url}{API}/knowledge/sources/{source['id']}"), 200)
        ingested = time.perf_counter() - start
        if source["status"] != "ready":
            raise BenchError(f"{name} ended {source['status']}: {source['error']}")
        texts = stored_chunk_texts(instance, source["id"])
        if len(texts) != source["chunk_count"]:
            raise BenchError(f"{name}: {len(texts)} chunks stored, {source['chunk_count']} said")
        raw = embed_like_ingestion(embedder, texts)
        ingest_s, raw_s, chunks = ingest_s + ingested, raw_s + raw, chunks + len(texts)
        per_file.append(
            {
                "file": name,
                "bytes": len(data),
                "chunks": len(texts),
                "ingest_s": round(ingested, 3),
                "raw_embed_s": round(raw, 3),
                "ratio": round(raw / ingested, 3),
                "load_1min": load_before,
            }
        )
        print(
            f"  {number:2d}/{len(files)} {name}: {len(texts)} chunks, ingestion "
            f"{len(texts) / ingested:5.1f}/s, raw embedder {len(texts) / raw:5.1f}/s "
            f"(load {load_before})",
            flush=True,
        )
    return {
        "ingestion": {
            "chunks": chunks,
            "seconds": round(ingest_s, 3),
            "chunks_per_s": round(chunks / ingest_s, 2),
        },
        "raw_embedder": {
            "model": embedder.name,
            "chunks": chunks,
            "seconds": round(raw_s, 3),
            "chunks_per_s": round(chunks / raw_s, 2),
            "batch": EMBED_BATCH,
        },
        "ratio": round(raw_s / ingest_s, 3),
        "files": per_file,
    }


def add_qa_pairs(session: requests.Session, url: str, pairs: list[dict]) -> dict:
    """Q&A pairs are indexed in the request (two vectors each): time each request."""
    times = []
    for pair in pairs:
        start = time.perf_counter()
        source = expect(session.post(f"{url}{API}/knowledge/qa/", json=pair), 201)
        times.append(time.perf_counter() - start)
        if source["status"] != "ready":
            raise BenchError(f"Q&A pair not ready at once: {source}")
    return {"pairs": len(pairs), **latency_summary(times)} if times else {"pairs": 0}


def latency_summary(seconds: list[float]) -> dict:
    ms = sorted(1000 * s for s in seconds)

    def pct(p: float) -> float:
        # nearest-rank percentile: the value below which p% of the requests fall
        return round(ms[min(len(ms) - 1, max(0, int(round(p / 100 * len(ms))) - 1))], 2)

    return {
        "n": len(ms),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(statistics.mean(ms), 2),
        "max_ms": round(ms[-1], 2),
    }


def run_searches(
    session: requests.Session, url: str, queries: list[str], per_mode: int, warmup: list[str]
) -> dict:
    """Sequential requests from one keep-alive session, client-side latency of each.

    Every query is searched in hybrid mode, the first `per_mode` also in vector and keyword
    mode, and an authenticated request that does no search (listing the organization's
    assistants: the framework's floor) goes with each of those; interleaved, so that a
    change in the machine's load falls on every kind alike.
    """

    def search(query: str, mode: str) -> tuple[float, int]:
        body = {"query": query, "top_k": 5, "mode": mode}
        start = time.perf_counter()
        response = session.post(f"{url}{API}/knowledge/search", json=body)
        elapsed = time.perf_counter() - start
        return elapsed, len(expect(response, 200))

    def floor() -> float:
        start = time.perf_counter()
        response = session.get(f"{url}{API}/assistants/")
        elapsed = time.perf_counter() - start
        expect(response, 200)
        return elapsed

    for query in warmup:
        for mode in MODES:
            search(query, mode)
        floor()
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    times["floor"] = []
    empty = dict.fromkeys(MODES, 0)
    for number, query in enumerate(queries):
        modes = MODES if number < per_mode else ("hybrid",)
        for mode in modes:
            elapsed, found = search(query, mode)
            times[mode].append(elapsed)
            empty[mode] += found == 0
        if number < per_mode:
            times["floor"].append(floor())
    result = {
        mode: {**latency_summary(times[mode]), "empty_results": empty[mode]} for mode in MODES
    }
    result["no search (GET /assistants/)"] = latency_summary(times["floor"])
    return result


def breakdown(instance: Path, org_id: str, headers: dict, queries: list[str]) -> dict:
    """Where a hybrid search's time goes, in this process on the same instance.

    Two views, neither changing anything in companin: (1) the public building blocks of a
    search timed one by one (query embedding, the Chroma query, the FTS5 query), next to
    the whole `KnowledgeIndex.search` and the whole view through Flask's test client; (2) a
    cProfile of the view, as milliseconds per search for the functions that matter. Runs
    after the server has stopped, so that only one process holds the Chroma folder.
    """
    import cProfile
    import pstats

    from companin import create_app
    from companin.db import db
    from companin.knowledge import fulltext
    from companin.knowledge import index as index_module

    app = create_app(
        {"INSTANCE_PATH": str(instance), "RATE_LIMIT": "100000000/hour", "LOG_LEVEL": "WARNING"}
    )
    index = app.extensions["companin"].ingestion.index
    org = uuid.UUID(org_id)
    model = index.model
    client = app.test_client()
    steps: dict[str, list[float]] = {}

    def timed(name: str, call: Callable[[], object]) -> object:
        start = time.perf_counter()
        value = call()
        steps.setdefault(name, []).append(time.perf_counter() - start)
        return value

    def view(query: str) -> None:
        response = client.post(
            f"{API}/knowledge/search", json={"query": query, "top_k": 5}, headers=headers
        )
        if response.status_code != 200:
            raise BenchError(f"in-process search: {response.status_code} {response.data[:300]}")

    with app.app_context():
        # The private attributes are read, never replaced; if they move, skip that part.
        embedder = getattr(index, "_embedder", lambda: None)()
        vectors = getattr(index, "_vectors", None)
        rows_of = getattr(index_module, "_chunk_rows", None)
        for _ in range(2):  # the first round warms caches up and is not kept
            steps.clear()
            for query in queries:
                if embedder is not None:
                    vector = timed("embed the query", lambda q=query: embedder.embed([q])[0])
                    if vectors is not None:
                        timed(
                            "Chroma query (80 nearest)",
                            lambda v=vector: vectors.query(org, model, v, 80),
                        )
                keyword = timed("FTS5 query (40 best)", lambda q=query: fulltext.search(org, q, 40))
                if rows_of is not None:
                    # Chunk rows (with their source) for the top 5 of the candidates both
                    # lists bring, and for all of them: what reading rows costs per row.
                    candidates = [c for c, _ in keyword]
                    if vectors is not None and embedder is not None:
                        near = vectors.query(org, model, vector, 80)
                        candidates += [int(i.split(":")[0]) for i, _ in near]
                    candidates = list(dict.fromkeys(candidates))
                    timed("row lookup, 5 rows", lambda c=candidates: rows_of(org, c[:5]))
                    timed("row lookup, all candidates (~100)", lambda c=candidates: rows_of(org, c))
                timed("KnowledgeIndex.search, all", lambda q=query: index.search(org, q, top_k=5))
                timed("the view via test client, all", lambda q=query: view(q))
        profiler = cProfile.Profile()
        profiler.enable()
        for query in queries:
            view(query)
        profiler.disable()
        if not db.is_closed():
            db.close()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    per_search = 1000 / len(queries)
    profile = []
    for (path, line, name), (_, calls, _, cumulative, _) in stats.items():
        if "companin" in path or any(
            word in path for word in ("chromadb", "peewee", "flask_limiter", "marshmallow")
        ):
            where = path.split("site-packages/")[-1].split("/work/main/")[-1]
            profile.append(
                {
                    "function": f"{where}:{line}({name})",
                    "ms_per_search": round(cumulative * per_search, 3),
                    "calls_per_search": round(calls / len(queries), 2),
                }
            )
    profile.sort(key=lambda entry: -entry["ms_per_search"])
    return {
        "steps": {
            name: {
                "p50_ms": round(1000 * statistics.median(values), 2),
                "p99_ms": latency_summary(values)["p99_ms"],
            }
            for name, values in steps.items()
        },
        "profile_top": profile[:40],
    }


# ---------------------------------------------------------------------------- report


def git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def print_table(report: dict) -> None:
    ing, raw = report["ingestion"], report["raw_embedder"]
    print()
    print(
        f"corpus: {report['corpus']['files']} files, {report['chunks_indexed']} chunks indexed "
        f"({report['corpus']['vocabulary_words']} distinct words)"
    )
    print()
    print(
        f"{'ingestion through the server':36} {ing['chunks_per_s']:8.1f} chunks/s "
        f"({ing['chunks']} chunks in {ing['seconds']:.1f} s)"
    )
    print(
        f"{'raw embedder, same texts':36} {raw['chunks_per_s']:8.1f} chunks/s "
        f"({raw['chunks']} chunks in {raw['seconds']:.1f} s)"
    )
    print()
    print(
        f"{'client side, sequential':34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}"
    )
    for mode, s in report["search"].items():
        print(
            f"  {mode:32} {s['n']:5d} {s['p50_ms']:8.2f} {s['p95_ms']:8.2f} "
            f"{s['p99_ms']:8.2f} {s['max_ms']:8.2f}"
        )
    if report.get("breakdown"):
        print()
        print("where a hybrid search's time goes (in-process, same instance):")
        for step, s in report["breakdown"]["steps"].items():
            print(f"  {step:34} p50 {s['p50_ms']:7.2f} ms   p99 {s['p99_ms']:7.2f} ms")
    print()
    print(f"{'goal':50} {'measured':>12}  result")
    for goal in report["goals"]:
        verdict = "PASS" if goal["passed"] else "FAIL"
        print(f"{goal['goal']:50} {goal['measured']:>12}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks to index (files)")
    parser.add_argument("--qa", type=int, default=200, help="Q&A pairs added on top")
    parser.add_argument("--queries", type=int, default=500, help="timed hybrid searches")
    parser.add_argument("--mode-queries", type=int, default=200, help="timed per other mode")
    parser.add_argument("--warmup", type=int, default=20, help="untimed searches first")
    parser.add_argument("--threads", type=int, default=None, help="server threads (default)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to reach ready")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the step timings")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--keep", type=Path, default=None, help="build the instance in this new folder, kept"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args(argv)

    # A Ctrl-C or a kill must still stop the server: turn SIGTERM into the same exception.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    print(f"generating a corpus of at least {args.chunks} chunks...", flush=True)
    corpus, files, predicted = build_corpus(args.chunks, args.seed)
    pairs = [corpus.qa_pair() for _ in range(args.qa)]
    queries = corpus.queries(args.queries + args.warmup)
    warmup, queries = queries[: args.warmup], queries[args.warmup :]
    texts = [data.decode() for _, data in files]
    report: dict = {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes_in_companin": bool(git("status", "--porcelain", "--", "companin")),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cores": os.cpu_count(),
        "corpus": {
            "seed": args.seed,
            "files": len(files),
            "bytes": sum(len(d) for _, d in files),
            "predicted_chunks": predicted,
            "vocabulary_words": vocabulary_size(texts),
            "qa_pairs": len(pairs),
        },
        "load_1min": {"start": load()},
    }
    print(
        f"  {len(files)} files, {report['corpus']['bytes'] / 1e6:.1f} MB, {predicted} chunks "
        f"predicted, {report['corpus']['vocabulary_words']} distinct words",
        flush=True,
    )

    from companin import create_app
    from companin.knowledge.embedder import get_embedder
    from companin.services.organizations import create_organization

    # Loaded now, before the server starts: both then run the same code and weights.
    embedder = get_embedder("")
    embedder.embed(["warm up"])

    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: never mix with an earlier instance
        workdir = contextlib.nullcontext(str(args.keep))
    else:
        workdir = tempfile.TemporaryDirectory(prefix="companin-search-bench-")
    with workdir as tmp:
        instance = Path(tmp) / "instance"
        app = create_app({"INSTANCE_PATH": str(instance)})
        with app.app_context():
            credentials = create_organization("search-speed bench")
        del app  # the server is the one that opens the vector store
        headers = {"X-API-Key": credentials.client_id, "X-API-Secret": credentials.client_secret}
        session = requests.Session()
        session.headers.update(headers)

        with companin_server(instance, Path(tmp), args.threads) as server:
            # Loads the model in the server, so that the ingestion is timed warm, as the
            # raw embedder is.
            expect(
                session.post(f"{server.url}{API}/knowledge/search", json={"query": "warm up"}),
                200,
            )
            print(
                f"ingesting {len(files)} files through {server.url}, each followed by the raw "
                "embedder on its chunks...",
                flush=True,
            )
            compared = ingest_and_compare(
                session, server.url, instance, files, embedder, args.timeout
            )
            report["ingestion"] = {**compared["ingestion"], "files": compared["files"]}
            report["raw_embedder"] = compared["raw_embedder"]
            report["ingestion_to_raw_ratio"] = compared["ratio"]
            report["load_1min"]["after_ingestion"] = load()
            print(f"adding {len(pairs)} Q&A pairs...", flush=True)
            report["qa"] = add_qa_pairs(session, server.url, pairs)
            report["chunks_indexed"] = compared["ingestion"]["chunks"] + len(pairs)

            print(
                f"searching: {len(queries)} hybrid queries, {args.mode_queries} in each other "
                "mode, interleaved...",
                flush=True,
            )
            report["search"] = run_searches(session, server.url, queries, args.mode_queries, warmup)
            report["load_1min"]["after_search"] = load()
            session.close()

        if not args.no_breakdown:
            print("timing the steps of a search in-process...", flush=True)
            report["breakdown"] = breakdown(
                instance, credentials.organization_id, headers, queries[: args.mode_queries]
            )
            report["load_1min"]["after_breakdown"] = load()

    hybrid = report["search"]["hybrid"]
    report["goals"] = [
        {
            "goal": f"chunks indexed >= {args.chunks}",
            "measured": str(report["chunks_indexed"]),
            "passed": report["chunks_indexed"] >= args.chunks,
        },
        {
            "goal": f"hybrid search p50 < {GOAL_P50_MS:.0f} ms",
            "measured": f"{hybrid['p50_ms']:.2f} ms",
            "passed": hybrid["p50_ms"] < GOAL_P50_MS,
        },
        {
            "goal": f"hybrid search p99 < {GOAL_P99_MS:.0f} ms",
            "measured": f"{hybrid['p99_ms']:.2f} ms",
            "passed": hybrid["p99_ms"] < GOAL_P99_MS,
        },
        {
            "goal": f"ingestion / raw embedder >= {GOAL_RATIO}",
            "measured": f"{report['ingestion_to_raw_ratio']:.3f}",
            "passed": report["ingestion_to_raw_ratio"] >= GOAL_RATIO,
        },
    ]
    return finish(report, args, print_table)


def finish(report: dict, args, print_table: Callable[[dict], None], wrote: str = "") -> int:
    """Judge the report's goals, write it to `args.out` and print it; the exit status
    (1 when a goal is missed and `args.strict`)."""
    report["all_goals_passed"] = all(goal["passed"] for goal in report["goals"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", "utf-8")
    print_table(report)
    print(f"\nwrote {args.out}{wrote}")
    print(f"overall: {'PASS' if report['all_goals_passed'] else 'FAIL'}")
    return 1 if args.strict and not report["all_goals_passed"] else 0


def run(main: Callable[[], int]) -> None:
    """Exit with `main()`'s status; a benchmark that could not run, or was interrupted,
    says so in one line."""
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run(main)
