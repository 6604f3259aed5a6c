"""Synthetic, reproducible demo data: a French group of establishments, its staff, and
patients with valid NIR keys, French addresses and phones, and some duplicates-to-be.
Faker fills pools once; patients are drawn from the pools, so a million take minutes.
Then what the demo's clinicians write (see the clinical record's section below)."""

from __future__ import annotations

import datetime
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone
from faker import Faker
from stdnum.fr import nir as stdnum_nir

DEPARTMENTS = [
    "01", "06", "13", "21", "2A", "2B", "31", "33", "34", "35", "38", "42", "44", "59", "63",
    "67", "69", "69", "69", "71", "75", "75", "76", "92", "93", "94", "971", "974",
]  # fmt: skip
ABROAD = ["99350", "99352", "99351", "99109", "99134", "99127", "99139", "99132", "99100"]
COUNTRY_OF = {"99": "France"}
EMAIL_DOMAINS = ["example.fr", "example.org", "example.net"]


@dataclass(frozen=True)
class Pools:
    surnames: list[str]
    female_names: list[str]
    male_names: list[str]
    addresses: list[tuple[str, str, str]]


def make_pools(seed: int, size: int = 4000) -> Pools:
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    return Pools(
        surnames=sorted({fake.last_name() for _ in range(size)}),
        female_names=sorted({fake.first_name_female() for _ in range(size // 4)}),
        male_names=sorted({fake.first_name_male() for _ in range(size // 4)}),
        addresses=[(fake.street_address(), fake.postcode(), fake.city()) for _ in range(size)],
    )


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-")).lower()


def _birthplace(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(ABROAD)
    department = rng.choice(DEPARTMENTS)
    if len(department) == 3:  # overseas: 97 + 3-digit commune (971xx)
        return department + f"{rng.randint(1, 34):02d}"
    return department + f"{rng.randint(1, 350):03d}"


def make_nir(sex: str, day: datetime.date, birthplace: str, rng: random.Random) -> str:
    sex_digit = 1 if sex == "M" else 2
    order = rng.randint(1, 999)
    body = f"{sex_digit}{day.year % 100:02d}{day.month:02d}{birthplace}{order:03d}"
    return body + stdnum_nir.calc_check_digits(body)


def _variant(surname: str, rng: random.Random) -> str:
    """A spelling a tired desk might type for the same person."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", surname) if not unicodedata.combining(c)
    )
    choices = [
        plain.replace("-", " "),
        plain + plain[-1],
        plain[:-1] if len(plain) > 4 else plain + "E",
    ]
    return rng.choice([c for c in choices if c != surname] or [surname + "E"])


def identities(
    count: int,
    *,
    seed: int,
    establishment_ids: list[int],
    practitioner_ids: list[int],
    pools: Pools | None = None,
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    pools = pools or make_pools(seed)
    today = timezone.localdate()
    recent: list[dict[str, Any]] = []
    for index in range(count):
        if recent and index % 97 == 96:
            original = rng.choice(recent)
            yield {
                **original,
                "birth_surname": _variant(original["birth_surname"], rng),
                "status": "provisional",
                "nir": "",
                "used_surname": "",
                "canary": False,
                "establishment_ids": [rng.choice(establishment_ids)],
            }
            continue
        sex = "F" if rng.random() < 0.52 else "M"
        names = pools.female_names if sex == "F" else pools.male_names
        surname = rng.choice(pools.surnames)
        first = rng.choice(names)
        second = rng.choice(names) if rng.random() < 0.6 else ""
        day = today - datetime.timedelta(days=rng.randint(0, 98 * 365))
        birthplace = _birthplace(rng)
        qualified = rng.random() < 0.7
        has_nir = qualified or rng.random() < 0.5
        street, postcode, city = rng.choice(pools.addresses)
        used = rng.choice(pools.surnames) if sex == "F" and rng.random() < 0.25 else ""
        record = {
            "status": "qualified" if qualified else "provisional",
            "sex": sex,
            "birth_surname": surname.upper(),
            "first_names": f"{first} {second}".strip(),
            "used_surname": used.upper(),
            "used_first_name": "",
            "birth_date": day,
            "birthplace_code": birthplace,
            "nir": make_nir(sex, day, birthplace, rng) if has_nir else "",
            "address_line": street,
            "postal_code": postcode,
            "city": city,
            "country": "France",
            "phone": f"+33{rng.choice('67')}{rng.randint(0, 99_999_999):08d}",
            "email": f"{_ascii(first)}.{_ascii(used or surname)}{rng.randint(1, 99)}"
            f"@{rng.choice(EMAIL_DOMAINS)}",
            "treating_doctor": rng.choice(practitioner_ids)
            if practitioner_ids and rng.random() < 0.3
            else None,
            # About one in five hundred is a canary: looks like anyone, is no one.
            "canary": rng.random() < 0.002,
            "establishment_ids": rng.sample(
                establishment_ids, k=1 if rng.random() < 0.8 else min(2, len(establishment_ids))
            ),
        }
        if len(recent) < 500:
            recent.append(record)
        else:
            recent[rng.randrange(500)] = record
        yield record


# ---- the clinical record -----------------------------------------------------------------------
# What the demo's clinicians write: coherent cases (a reason, what was found, what was decided,
# what was prescribed and asked of the laboratory), laboratory values that hold together
# within a panel, a small PDF, insurance cards. Pure data: carnet/cli/demo_clinical.py writes it
# through the services, in French like the clinicians it stands for.

# Ages that change what a doctor writes: a child's consultation (no adult drugs, no sensitive
# category), adults only for psychiatry and screening serologies, and a cardiology stay.
CHILD_UNTIL = 15
ADULT_FROM = 18
ADMITTED_FROM = 35


@dataclass(frozen=True)
class Rx:
    """A line of the shipped medication list (by DCI and strength) with how to take it."""

    dci: str
    strength: str
    dosage: str
    days: int
    renewals: int = 0


RX = {
    "aspirine": Rx("Acide acétylsalicylique", "75 mg", "1 sachet par jour au repas de midi", 90, 3),
    "atorvastatine": Rx("Atorvastatine", "20 mg", "1 comprimé le soir", 90, 3),
    "rosuvastatine": Rx("Rosuvastatine", "10 mg", "1 comprimé le soir", 90, 3),
    "bisoprolol": Rx("Bisoprolol", "5 mg", "1 comprimé le matin", 90, 3),
    "ramipril": Rx("Ramipril", "5 mg", "1 comprimé le matin", 90, 3),
    "amlodipine": Rx("Amlodipine", "5 mg", "1 gélule le matin", 90, 3),
    "apixaban": Rx("Apixaban", "5 mg", "1 comprimé matin et soir", 90, 3),
    "clopidogrel": Rx("Clopidogrel", "75 mg", "1 comprimé par jour", 90, 3),
    "furosemide": Rx("Furosémide", "40 mg", "1 comprimé le matin, à adapter au poids", 30, 2),
    "warfarine": Rx("Warfarine", "5 mg", "Dose du soir selon l'INR (carnet de suivi)", 30, 2),
    "metformine": Rx("Metformine", "1000 mg", "1 comprimé matin et soir au repas", 90, 3),
    "levothyroxine": Rx("Lévothyroxine sodique", "50 µg", "1 comprimé le matin à jeun", 90, 3),
    "fer": Rx("Sulfate ferreux", "80 mg", "1 comprimé par jour à distance des repas", 90),
    "allopurinol": Rx("Allopurinol", "100 mg", "1 comprimé par jour", 90, 3),
    "colchicine": Rx("Colchicine", "1 mg", "1 comprimé par jour pendant trois mois", 90),
    "omeprazole": Rx("Oméprazole", "20 mg", "1 gélule le matin à jeun pendant 4 semaines", 28),
    "paracetamol": Rx("Paracétamol", "1 g", "1 comprimé toutes les 6 heures si douleur", 5),
    "paracetamol_enfant": Rx(
        "Paracétamol",
        "2,4 %",
        "1 dose-poids toutes les 6 heures si fièvre, 4 fois par jour au plus",
        5,
    ),
    "ibuprofene": Rx("Ibuprofène", "400 mg", "1 comprimé 3 fois par jour au cours des repas", 5),
    "amoxicilline": Rx("Amoxicilline", "1 g", "1 comprimé matin, midi et soir pendant 7 jours", 7),
    "fosfomycine": Rx("Fosfomycine trométamol", "3 g", "1 sachet en prise unique au coucher", 1),
    "cetirizine": Rx("Cétirizine", "10 mg", "1 comprimé le soir pendant la saison pollinique", 60),
    "salbutamol": Rx("Salbutamol", "100 µg/dose", "2 bouffées en cas de gêne respiratoire", 90, 1),
    "symbicort": Rx(
        "Budésonide / formotérol", "200 µg / 6 µg par dose", "1 inhalation matin et soir", 90, 3
    ),
    "macrogol": Rx("Macrogol 4000", "10 g", "1 sachet le matin", 14),
    "enoxaparine": Rx(
        "Énoxaparine sodique",
        "4000 UI anti-Xa / 0,4 ml",
        "1 injection sous-cutanée le soir pendant l'hospitalisation",
        10,
    ),
    "furosemide_iv": Rx("Furosémide", "40 mg", "2 comprimés le matin, kaliémie à surveiller", 7),
    "sertraline": Rx("Sertraline", "50 mg", "1 gélule le matin", 28, 2),
    "escitalopram": Rx("Escitalopram", "10 mg", "1 comprimé le matin", 28, 2),
    "lithium": Rx("Carbonate de lithium", "400 mg", "1 comprimé le soir, lithiémie à 12 h", 28, 2),
    "oxazepam": Rx("Oxazépam", "10 mg", "1 comprimé le soir si anxiété, 3 par jour au plus", 14),
}

LIPIDS = ("CHOL", "HDL", "LDL", "TG")
BLOOD_COUNT = ("HB", "HT", "GR", "VGM", "GB", "PNN", "LYM", "PLQ")
IONOGRAM = ("NA", "K", "CREA")


@dataclass(frozen=True)
class Case:
    """One consultation as a clinician writes it, coherent from the reason to the orders.
    `flavour` tells the laboratory values what to look like (anaemia, infection...)."""

    reason: str
    findings: str
    conclusion: str
    prescription: tuple[str, ...] = ()  # keys of RX
    tests: tuple[str, ...] = ()  # catalogue codes
    flavour: str = ""
    document: tuple[str, tuple[str, ...]] | None = None


ECHO_NORMAL = (
    "Échographie cardiaque transthoracique",
    (
        "Ventricule gauche non dilaté, fraction d'éjection estimée à 62 %.",
        "Pas de valvulopathie significative. Péricarde sec.",
        "Conclusion : examen dans les limites de la normale.",
    ),
)
ECHO_FAILURE = (
    "Échographie cardiaque transthoracique",
    (
        "Ventricule gauche dilaté (diamètre télédiastolique 62 mm).",
        "Fraction d'éjection estimée à 35 %, hypokinésie globale.",
        "Pressions de remplissage élevées. Insuffisance mitrale fonctionnelle modérée.",
        "Conclusion : cardiopathie dilatée à fonction systolique altérée.",
    ),
)
ECHO_AORTIC = (
    "Échographie cardiaque transthoracique",
    (
        "Valve aortique calcifiée, gradient moyen 22 mmHg, surface 1,4 cm².",
        "Ventricule gauche non dilaté, fraction d'éjection conservée (60 %).",
        "Conclusion : rétrécissement aortique modéré, contrôle dans un an.",
    ),
)
ECG_SINUS = (
    "ECG de repos — interprétation",
    (
        "Rythme sinusal à 68/min, axe normal, PR 160 ms, QRS fins.",
        "Pas de trouble de la repolarisation.",
    ),
)

CARDIOLOGY_CASES = (
    Case(
        "Douleur thoracique d'effort",
        "Bruits du cœur réguliers, pas de souffle. ECG de repos : rythme sinusal, pas de "
        "trouble de la repolarisation.",
        "Angor d'effort probable : épreuve d'effort programmée, aspirine et statine débutées.",
        ("aspirine", "atorvastatine"),
        (*LIPIDS, "GLY"),
        document=ECG_SINUS,
    ),
    Case(
        "Palpitations depuis trois semaines",
        "Rythme irrégulier. ECG : fibrillation atriale à réponse ventriculaire à 88/min. "
        "CHA2DS2-VASc à 3.",
        "Fibrillation atriale : anticoagulation et bêtabloquant, échographie cardiaque demandée.",
        ("apixaban", "bisoprolol"),
        ("HB", "PLQ", *IONOGRAM, "TSH"),
    ),
    Case(
        "Suivi d'hypertension artérielle",
        "Automesure : moyenne 128/79 mmHg. Examen cardiovasculaire normal.",
        "Hypertension contrôlée : traitement poursuivi à l'identique.",
        ("ramipril", "amlodipine"),
        IONOGRAM,
    ),
    Case(
        "Dyspnée d'effort (NYHA II)",
        "Œdèmes des chevilles prenant le godet, crépitants aux deux bases. ECG : rythme "
        "sinusal, bloc de branche gauche.",
        "Insuffisance cardiaque probable : diurétique, NT-proBNP, échographie cardiaque.",
        ("furosemide",),
        ("NTBNP", *IONOGRAM),
        flavour="heart_failure",
        document=ECHO_FAILURE,
    ),
    Case(
        "Souffle cardiaque découvert par le médecin traitant",
        "Souffle systolique 2/6 au foyer aortique, irradiant aux carotides. ECG : rythme "
        "sinusal, hypertrophie ventriculaire gauche électrique.",
        "Rétrécissement aortique probable : échographie transthoracique.",
        document=ECHO_AORTIC,
    ),
    Case(
        "Suivi de fibrillation atriale",
        "Rythme irrégulier à 76/min. Pas de signe d'insuffisance cardiaque, pas de saignement.",
        "Anticoagulation poursuivie, contrôle annuel de la fonction rénale.",
        ("apixaban", "bisoprolol"),
        ("HB", "CREA"),
    ),
    Case(
        "Contrôle six mois après angioplastie coronaire",
        "Pas de récidive angineuse. ECG : séquelle de nécrose inférieure, stable.",
        "Double antiagrégation jusqu'à un an, objectif LDL < 0,55 g/L.",
        ("aspirine", "clopidogrel", "rosuvastatine"),
        LIPIDS,
    ),
    Case(
        "Suivi d'anticoagulation (valve mécanique mitrale)",
        "Claquement de valve mécanique net. Pas de saignement, pas de souffle nouveau.",
        "INR dans la cible (2,5 à 3,5) : même posologie, INR mensuel.",
        ("warfarine",),
        ("INR", "HB"),
        flavour="anticoagulated",
    ),
)
INTERNAL_CASES = (
    Case(
        "Asthénie depuis deux mois",
        "Examen clinique sans particularité, pas d'adénopathie, pas d'hépatosplénomégalie.",
        "Bilan biologique de débrouillage, revoir avec les résultats.",
        (),
        (*BLOOD_COUNT, "CRP", "FERR", "TSH"),
        document=(
            "Compte rendu de consultation de médecine interne",
            (
                "Asthénie isolée depuis deux mois, sans fièvre ni amaigrissement.",
                "Examen clinique normal.",
                "Bilan biologique prescrit, nouvelle consultation dans un mois.",
            ),
        ),
    ),
    Case(
        "Bilan d'anémie",
        "Pâleur cutanéo-muqueuse, pas de saignement extériorisé, toucher rectal normal.",
        "Anémie microcytaire par carence martiale probable : fer oral, endoscopies à prévoir.",
        ("fer",),
        (*BLOOD_COUNT, "FERR"),
        flavour="anaemia",
    ),
    Case(
        "Suivi de diabète de type 2",
        "Examen des pieds normal, monofilament perçu. Pas de plaie.",
        "Équilibre glycémique à améliorer : règles hygiéno-diététiques, metformine poursuivie.",
        ("metformine",),
        ("HBA1C", "GLY", "CREA", *LIPIDS),
        flavour="diabetes",
    ),
    Case(
        "Douleurs articulaires diffuses",
        "Synovites des poignets et des métacarpo-phalangiennes, pas de signe cutané.",
        "Polyarthrite débutante possible : bilan inflammatoire, avis rhumatologique.",
        ("paracetamol",),
        ("VS", "CRP", "HB", "GB", "PLQ"),
        flavour="inflammation",
    ),
    Case(
        "Goutte, consultation de suivi",
        "Pas d'arthrite ce jour. Tophus du pavillon de l'oreille gauche.",
        "Traitement de fond par allopurinol, sous couvert de colchicine trois mois.",
        ("allopurinol", "colchicine"),
        ("CREA",),
    ),
    Case(
        "Hypothyroïdie, adaptation du traitement",
        "Pas de signe clinique de dysthyroïdie, poids stable.",
        "Lévothyroxine poursuivie, TSH de contrôle dans six semaines.",
        ("levothyroxine",),
        ("TSH",),
    ),
    Case(
        "Pyrosis et régurgitations",
        "Abdomen souple et indolore, pas de signe d'alarme.",
        "Reflux gastro-œsophagien : inhibiteur de la pompe à protons quatre semaines.",
        ("omeprazole",),
    ),
)
GENERAL_CASES = (
    Case(
        "Toux fébrile depuis trois jours",
        "Température 38,6 °C. Crépitants de la base droite, pas de signe de gravité.",
        "Pneumopathie communautaire probable : amoxicilline, réévaluation à 48 heures.",
        ("amoxicilline", "paracetamol"),
        ("HB", "GB", "PNN", "LYM", "PLQ", "CRP"),
        flavour="infection",
    ),
    Case(
        "Brûlures mictionnelles",
        "Bandelette urinaire : leucocytes et nitrites positifs. Apyrétique, pas de douleur "
        "lombaire.",
        "Cystite simple : fosfomycine en prise unique.",
        ("fosfomycine",),
    ),
    Case(
        "Lombalgie aiguë",
        "Contracture paravertébrale lombaire, Lasègue négatif, pas de déficit.",
        "Traitement symptomatique et reprise progressive de l'activité.",
        ("ibuprofene", "paracetamol"),
    ),
    Case(
        "Rhinite saisonnière",
        "Rhinorrhée claire, éternuements, conjonctivite bilatérale.",
        "Rhinite allergique : antihistaminique pendant la saison pollinique.",
        ("cetirizine",),
    ),
    Case(
        "Renouvellement d'ordonnance (asthme)",
        "Auscultation normale, pas d'exacerbation depuis un an.",
        "Asthme contrôlé : traitement inchangé.",
        ("symbicort", "salbutamol"),
    ),
    Case(
        "Bilan de santé",
        "Examen clinique sans particularité.",
        "Bilan biologique de routine demandé.",
        (),
        ("GLY", *LIPIDS, "CREA", "TSH", "VITD"),
    ),
    Case(
        "Constipation",
        "Abdomen souple, pas de masse palpable.",
        "Règles hygiéno-diététiques et laxatif osmotique.",
        ("macrogol",),
    ),
)
CHILD_CASES = (
    Case(
        "Fièvre depuis 48 heures",
        "Rhinopharyngite : gorge peu inflammatoire, tympans normaux, pas de raideur de nuque.",
        "Traitement symptomatique, reconsulter si la fièvre dure plus de trois jours.",
        ("paracetamol_enfant",),
    ),
    Case(
        "Visite de suivi",
        "Bon état général, courbes de croissance régulières, vaccinations à jour.",
        "Pas d'examen complémentaire, revoir dans un an.",
    ),
    Case(
        "Souffle cardiaque à l'auscultation scolaire",
        "Souffle systolique 1/6 doux, variable avec la position, pas de signe fonctionnel.",
        "Souffle fonctionnel probable : échographie de contrôle.",
        document=ECHO_NORMAL,
    ),
    Case(
        "Toux fébrile",
        "Température 38,9 °C, crépitants de la base gauche.",
        "Bilan sanguin, radiographie thoracique demandée.",
        ("paracetamol_enfant",),
        ("HB", "GB", "PLQ", "CRP"),
        flavour="infection",
    ),
)
PSYCHIATRY_CASES = (
    Case(
        "",
        "Entretien : humeur triste depuis trois mois, anhédonie, réveils précoces. Pas d'idée "
        "suicidaire exprimée.",
        "Épisode dépressif caractérisé d'intensité modérée : antidépresseur, suivi "
        "psychiatrique proposé et accepté.",
        ("sertraline",),
    ),
    Case(
        "",
        "Entretien : anxiété envahissante, ruminations, difficultés d'endormissement. Pas de "
        "consommation de toxiques.",
        "Trouble anxieux généralisé : escitalopram, psychothérapie conseillée, revoir dans "
        "quatre semaines.",
        ("escitalopram", "oxazepam"),
    ),
    Case(
        "",
        "Suivi d'un trouble bipolaire connu : thymie stable, bonne observance, pas d'effet "
        "indésirable.",
        "Lithium poursuivi, lithiémie et fonction rénale à contrôler.",
        ("lithium",),
        ("CREA", "TSH"),
    ),
)


@dataclass(frozen=True)
class Stay:
    """An admission in cardiology: what the admitting note says, the ward's prescription,
    how the troponin moves between H0 and H3, and the heart rate the nurses see."""

    reason: str
    findings: str
    plan: str
    prescription: tuple[str, ...]
    troponin: tuple[int, int]  # H0 range, ng/L
    rise: tuple[float, float]  # H3 / H0
    heart_rate: tuple[int, int]
    flavour: str = ""


STAYS = (
    Stay(
        "Insuffisance cardiaque décompensée",
        "Œdèmes bilatéraux, crépitants aux deux bases, turgescence jugulaire.",
        "diurétique, restriction hydrosodée, pesée quotidienne, échographie cardiaque",
        ("furosemide_iv", "enoxaparine", "bisoprolol"),
        (18, 35),
        (0.9, 1.15),
        (78, 98),
        flavour="heart_failure",
    ),
    Stay(
        "Syndrome coronarien aigu sans sus-décalage du segment ST",
        "Douleur thoracique résolutive. ECG : sous-décalage du segment ST en latéral.",
        "double antiagrégation, anticoagulation, coronarographie dans les 24 heures",
        ("aspirine", "enoxaparine", "atorvastatine"),
        (40, 90),
        (1.6, 3.0),
        (62, 84),
    ),
    Stay(
        "Fibrillation atriale rapide mal tolérée",
        "Rythme irrégulier à 140/min, TA 105/70 mmHg, pas de signe de choc.",
        "ralentissement, anticoagulation, échographie cardiaque",
        ("apixaban", "bisoprolol"),
        (15, 30),
        (0.9, 1.2),
        (95, 125),
    ),
    Stay(
        "Malaise avec bradycardie",
        "FC 38/min. ECG : bloc auriculo-ventriculaire complet, échappement à QRS fins.",
        "scope, stimulation cardiaque à discuter, arrêt des bradycardisants",
        ("enoxaparine", "paracetamol"),
        (12, 25),
        (0.9, 1.1),
        (36, 48),
    ),
)
NURSING_NOTES = (
    "Transmissions : installation en chambre, scope en place. Constantes : {vitals}. Douleur "
    "EVA {pain}/10. Bilan sanguin prélevé, traitement du soir donné.",
    "Transmissions : nuit calme. Constantes : {vitals}. Diurèse conservée, pas de douleur "
    "thoracique. Poids du matin noté.",
    "Transmissions : lever au fauteuil bien toléré. Constantes : {vitals}. Éducation "
    "thérapeutique débutée.",
)

# What the demo's drafted discharge letter says about the follow-up.
LETTER_FOLLOW_UP = (
    "Consultation de cardiologie dans un mois avec ECG et bilan biologique (ionogramme, "
    "créatinine). Réadaptation cardiaque à organiser. Revenir aux urgences en cas de douleur "
    "thoracique."
)


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def weight_for(age: int, rng: random.Random) -> int:
    if age < CHILD_UNTIL:
        return max(3, round(3.5 + 2.6 * age + rng.uniform(-1, 3)))
    return rng.randint(50, 102)


def vitals(rng: random.Random, *, age: int, weight: int, heart_rate=(58, 92)) -> str:
    if age < CHILD_UNTIL:
        pressure = f"{rng.randint(90, 115)}/{rng.randint(50, 70)}"
        heart_rate = (75, 115)
    else:
        pressure = f"{rng.randint(112, 152)}/{rng.randint(65, 90)}"
    return (
        f"TA {pressure} mmHg, FC {rng.randint(*heart_rate)}/min, "
        f"SpO2 {rng.randint(94, 99)} %, poids {weight} kg"
    )


def consultation_note(case: Case, *, vitals_text: str) -> str:
    return (
        f"Motif : {case.reason}.\nExamen : {vitals_text}. {case.findings}\n"
        f"Conclusion : {case.conclusion}"
    )


def admission_note(stay: Stay, unit: str, *, vitals_text: str) -> str:
    return (
        f"Entrée en {unit} : {stay.reason[0].lower()}{stay.reason[1:]}.\n"
        f"Examen : {vitals_text}. {stay.findings}\n"
        f"Conduite à tenir : {stay.plan} ; troponine à H0 et H3, groupe sanguin (deux "
        "déterminations)."
    )


BLOOD_GROUPS = [("A+", 38), ("O+", 36), ("B+", 8), ("A-", 7), ("O-", 6), ("AB+", 3), ("B-", 1)]


@dataclass(frozen=True)
class TestSpec:
    """What a value needs of a catalogue test (carnet.laboratory's LabTest has these)."""

    code: str
    result_type: str  # "numeric" or "coded"
    decimals: int
    low: Decimal | None
    high: Decimal | None
    answers: tuple[str, ...] = ()


def _draw(spec: TestSpec, rng: random.Random, abnormal: float) -> float:
    low, high = spec.low, spec.high
    off = rng.random() < abnormal
    if low is not None and high is not None:
        span = float(high - low)
        if not off:
            return rng.uniform(float(low) + span * 0.1, float(high) - span * 0.1)
        if rng.random() < 0.5:
            return float(high) + span * rng.uniform(0.05, 0.4)
        return float(low) - span * rng.uniform(0.05, 0.3)
    if high is not None:
        return float(high) * (rng.uniform(1.1, 2.0) if off else rng.uniform(0.25, 0.85))
    if low is not None:
        return float(low) * (rng.uniform(0.6, 0.9) if off else rng.uniform(1.1, 2.2))
    return rng.uniform(1, 10)


def _coded(spec: TestSpec, rng: random.Random) -> str:
    if spec.code == "GRP":
        return rng.choices([g for g, _ in BLOOD_GROUPS], [w for _, w in BLOOD_GROUPS])[0]
    if "negative" in spec.answers:
        # A rare positive: what the sensitive categories are there for.
        return "positive" if rng.random() < 0.03 and "positive" in spec.answers else "negative"
    return spec.answers[0]


def panel_values(
    specs: dict[str, TestSpec], rng: random.Random, *, flavour: str = ""
) -> dict[str, str]:
    """Values for every test in `specs` (by code), as typed at the bench, that hold together:
    haemoglobin, haematocrit, red cells and MCV; white cells and their differential; LDL
    calculated from the other lipids; and what the case's flavour implies."""
    raw: dict[str, float] = {}
    anaemia = flavour == "anaemia"
    red_cells = rng.uniform(3.7, 4.3) if anaemia else rng.uniform(4.5, 5.2)
    mcv = rng.uniform(66, 77) if anaemia else rng.uniform(84, 96)
    haematocrit = red_cells * mcv / 10
    raw.update(GR=red_cells, VGM=mcv, HT=haematocrit, HB=haematocrit / (3.25 if anaemia else 3.0))
    infected = flavour == "infection"
    white = rng.uniform(12, 17) if infected else rng.uniform(4.6, 9.2)
    raw.update(
        GB=white,
        PNN=white * (rng.uniform(0.76, 0.86) if infected else rng.uniform(0.5, 0.66)),
        LYM=white * (rng.uniform(0.08, 0.15) if infected else rng.uniform(0.22, 0.36)),
    )
    if infected:
        raw["CRP"] = rng.uniform(45, 180)
    elif flavour == "inflammation":
        raw.update(CRP=rng.uniform(12, 45), VS=rng.uniform(30, 55))
    if anaemia:
        raw["FERR"] = rng.uniform(3, 11)
    if flavour == "diabetes":
        raw.update(HBA1C=rng.uniform(6.7, 8.6), GLY=rng.uniform(1.2, 1.9))
    if flavour == "heart_failure":
        raw["NTBNP"] = rng.uniform(700, 4800)
    if flavour == "anticoagulated":
        raw["INR"] = rng.uniform(2.5, 3.4)
    hdl, triglycerides = rng.uniform(0.38, 0.85), rng.uniform(0.6, 2.1)
    ldl = rng.uniform(0.8, 2.0)
    raw.update(HDL=hdl, TG=triglycerides, LDL=ldl, CHOL=ldl + hdl + triglycerides / 5)
    values = {}
    for code, spec in specs.items():
        if spec.result_type == "coded":
            values[code] = _coded(spec, rng)
            continue
        number = raw[code] if code in raw else _draw(spec, rng, abnormal=0.1)
        values[code] = f"{max(number, 0):.{spec.decimals}f}"
    return values


MUTUELLES = [
    ("MGEN", "77567227"),
    ("Harmonie Mutuelle", "75450318"),
    ("Malakoff Humanis", "40321001"),
    ("AG2R La Mondiale", "88234907"),
    ("Mutuelle Générale", "77530131"),
    ("Groupama Rhône-Alpes Auvergne", "69300247"),
    ("Apréva", "59403921"),
]
# Mostly the Rhône's CPAM (691, with a centre or not), a few from elsewhere.
AMO_FUNDS = (["691", "6910000", "6910010", "6910020"] * 4) + ["381", "421", "0131000", "751"]


def mandatory_card(rng: random.Random, *, since: datetime.date) -> dict[str, str]:
    """An AMO card as the desk would type it (the identity pages' form checks it)."""
    return {
        "scheme": rng.choices(["01", "02", "03", "91", "04"], [82, 6, 5, 5, 2])[0],
        "fund_code": rng.choice(AMO_FUNDS),
        "valid_from": since.isoformat(),
        "valid_to": "",
    }


def complementary_card(
    rng: random.Random, *, since: datetime.date, until: datetime.date
) -> dict[str, str]:
    organism, number = rng.choice(MUTUELLES)
    return {
        "organism": organism,
        "amc_number": number,
        "member_number": f"{rng.randint(10, 99)} {rng.randint(100000, 999999)}",
        "valid_from": since.isoformat(),
        "valid_to": until.isoformat(),
    }
