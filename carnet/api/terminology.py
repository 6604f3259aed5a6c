"""Codes the FHIR resources carry where the domain's word is known to a code system: the
WHO ATC class of the medications Carnet ships (by their DCI), and the LOINC document type.
A medication whose DCI is not listed here (or is ambiguous: aspirin is an antiplatelet at
75 mg and an analgesic at 500 mg) is sent as text only, never with a guessed code."""

from __future__ import annotations

ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
# LOINC's document type for a document whose clinical kind Carnet does not record.
PATIENT_DATA_DOCUMENT = {"system": LOINC, "code": "55188-7", "display": "Patient data Document"}

ATC_BY_DCI = {
    "Acide folique": "B03BB01",
    "Allopurinol": "M04AA01",
    "Alprazolam": "N05BA12",
    "Amlodipine": "C08CA01",
    "Amoxicilline": "J01CA04",
    "Amoxicilline / acide clavulanique": "J01CR02",
    "Apixaban": "B01AF02",
    "Atorvastatine": "C10AA05",
    "Azithromycine": "J01FA10",
    "Bictégravir / emtricitabine / ténofovir alafénamide": "J05AR20",
    "Bisoprolol": "C07AB07",
    "Bromazépam": "N05BA08",
    "Budésonide / formotérol": "R03AK07",
    "Carbonate de lithium": "N05AN01",
    "Clopidogrel": "B01AC04",
    "Colchicine": "M04AC01",
    "Colécalciférol (vitamine D3)": "A11CC05",
    "Cétirizine": "R06AE07",
    "Desloratadine": "R06AX27",
    "Désogestrel": "G03AC09",
    "Emtricitabine / ténofovir disoproxil": "J05AR03",
    "Escitalopram": "N06AB10",
    "Fosfomycine trométamol": "J01XX01",
    "Furosémide": "C03CA01",
    "Gliclazide": "A10BB09",
    "Hydrochlorothiazide": "C03AA03",
    "Ibuprofène": "M01AE01",
    "Insuline glargine": "A10AE04",
    "Kétoprofène": "M01AE03",
    "Lopéramide": "A07DA03",
    "Lévonorgestrel / éthinylestradiol": "G03AA07",
    "Lévothyroxine sodique": "H03AA01",
    "Macrogol 4000": "A06AD15",
    "Metformine": "A10BA02",
    "Montélukast": "R03DC03",
    "Morphine (sulfate)": "N02AA01",
    "Méthadone (chlorhydrate)": "N07BC02",
    "Métoclopramide": "A03FA01",
    "Nicotine": "N07BA01",
    "Nitrofurantoïne": "J01XE01",
    "Néfopam": "N02BG06",
    "Olanzapine": "N05AH03",
    "Oméprazole": "A02BC01",
    "Oxazépam": "N05BA04",
    "Pantoprazole": "A02BC02",
    "Paracétamol": "N02BE01",
    "Paracétamol / codéine": "N02AJ06",
    "Paroxétine": "N06AB05",
    "Phloroglucinol": "A03AX12",
    "Prednisolone": "H02AB06",
    "Prednisone": "H02AB07",
    "Pristinamycine": "J01FG01",
    "Périndopril arginine": "C09AA04",
    "Quétiapine": "N05AH04",
    "Ramipril": "C09AA05",
    "Rivaroxaban": "B01AF01",
    "Rosuvastatine": "C10AA07",
    "Salbutamol": "R03AC02",
    "Sertraline": "N06AB06",
    "Sulfate ferreux": "B03AA07",
    "Tamsulosine": "G04CA02",
    "Tramadol": "N02AX02",
    "Valaciclovir": "J05AB11",
    "Warfarine": "B01AA03",
    "Zolpidem": "N05CF02",
    "Énoxaparine sodique": "B01AB05",
    "Ésoméprazole": "A02BC05",
}
# Longest first, so "Paracétamol / codéine 500 mg" is not read as paracetamol alone.
_BY_LENGTH = sorted(ATC_BY_DCI, key=len, reverse=True)


def medication_coding(medication: str) -> list[dict[str, str]]:
    """The ATC coding of a medication named "<DCI> <strength> <form>", or none."""
    for dci in _BY_LENGTH:
        if medication == dci or medication.startswith(dci + " "):
            return [{"system": ATC, "code": ATC_BY_DCI[dci], "display": dci}]
    return []
