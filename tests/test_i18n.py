"""French first, English on demand: the pages speak French by default and English after the
language switch; the French catalogue translates every source string, none is left fuzzy, and
the compiled .mo says what the .po says."""

import ast
import gettext
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from carnet import settings as carnet_settings
from carnet.guard.policy import Role

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.LOCALE_PATHS[0])
FRENCH_PO = LOCALE / "fr" / "LC_MESSAGES" / "django.po"
FRENCH_MO = LOCALE / "fr" / "LC_MESSAGES" / "django.mo"
SOURCES = Path(settings.BASE_DIR) / "carnet"


def _read_po(path: Path) -> list[dict]:
    """The live entries of a .po file: msgid, msgid_plural, msgstr (a list, one string per
    plural form), msgctxt, flags. Enough of the format for what makemessages writes."""
    entries: list[dict] = []

    def new() -> dict:
        return {"flags": set(), "msgctxt": None, "msgid": None, "msgid_plural": None, "msgstr": []}

    entry, current = new(), None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if entry["msgid"] is not None:
                entries.append(entry)
            entry, current = new(), None
        elif line.startswith("#~"):
            continue  # obsolete: no longer in the sources, never shown
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if current == "msgstr":
                entry["msgstr"][-1] += value
            else:
                entry[current] += value
        else:
            keyword, value = line.split(" ", 1)
            current = "msgstr" if keyword.startswith("msgstr") else keyword
            if current == "msgstr":
                entry["msgstr"].append(ast.literal_eval(value))
            else:
                entry[current] = ast.literal_eval(value)
    return entries


def _key(entry: dict) -> str:
    """How gettext keys an entry: the context, EOT, then the msgid."""
    if entry["msgctxt"] is None:
        return entry["msgid"]
    return f"{entry['msgctxt']}\x04{entry['msgid']}"


def _login_page(client: Client, **headers) -> str:
    response = client.get(reverse("web:login"), **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_pages_are_french_by_default():
    # The test settings read English by default; Carnet's own settings are the ones to check.
    assert carnet_settings.LANGUAGE_CODE == "fr"
    with override_settings(LANGUAGE_CODE=carnet_settings.LANGUAGE_CODE):
        page = _login_page(Client())
    assert 'lang="fr"' in page
    assert "Connexion" in page and "Sign in" not in page


def test_a_french_browser_gets_french():
    page = _login_page(Client(), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert "Connexion" in page and "Sign in" not in page
    assert "Se déconnecter" not in page  # nobody is signed in yet


def test_an_english_browser_gets_english():
    page = _login_page(Client(), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert 'lang="en"' in page
    assert "Sign in" in page and "Connexion" not in page


def test_the_language_switch_wins_over_the_browser():
    client = Client()
    switched = client.post(reverse("web:language"), {"language": "en", "next": "/login/"})
    assert switched.status_code == 302 and switched["Location"] == "/login/"
    page = _login_page(client, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert "Sign in" in page and "Connexion" not in page
    client.post(reverse("web:language"), {"language": "fr", "next": "/login/"})
    page = _login_page(client, HTTP_ACCEPT_LANGUAGE="en")
    assert "Connexion" in page and "Sign in" not in page


def test_signed_in_pages_and_python_strings_are_french(staff):
    user, client = staff(Role.SECRETARY)
    page = client.get(reverse("web:dashboard"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    # Template strings, a lazy Python string (the role's label) and a form label.
    assert "Tableau de bord" in page and "Rechercher un patient" in page
    assert "Secrétaire médicale" in page and "Date de naissance" in page
    assert "Dashboard" not in page and "Medical secretary" not in page


def test_every_french_entry_is_translated_and_none_is_fuzzy():
    entries = [e for e in _read_po(FRENCH_PO) if e["msgid"]]
    assert len(entries) > 100  # the catalogue was read, not silently empty
    untranslated = [e["msgid"] for e in entries if not all(t.strip() for t in e["msgstr"])]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert not untranslated, f"untranslated in {FRENCH_PO}: {untranslated}"
    assert not fuzzy, f"fuzzy in {FRENCH_PO}: {fuzzy}"
    header = next(e for e in _read_po(FRENCH_PO) if e["msgid"] == "")
    assert "fuzzy" not in header["flags"]  # a fuzzy header is left out of the .mo


def test_the_compiled_catalogue_matches_the_po():
    """Modification times mean nothing after a git checkout: compare the contents instead."""
    with FRENCH_MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    assert compiled.info().get("plural-forms", "").startswith("nplurals=2")
    catalogue = compiled._catalog  # as Django will read it: msgid, or (msgid, n) for plurals
    stale = {}
    for e in _read_po(FRENCH_PO):
        if not e["msgid"]:
            continue
        if e["msgid_plural"] is None:
            expected = {_key(e): e["msgstr"][0]}
        else:
            expected = {(_key(e), n): text for n, text in enumerate(e["msgstr"])}
        stale.update(
            {k: (v, catalogue.get(k)) for k, v in expected.items() if catalogue.get(k) != v}
        )
    assert not stale, "run: cd carnet && ../manage.py compilemessages\n" + repr(stale)


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed")
def test_every_source_string_has_a_french_translation(tmp_path, monkeypatch):
    """Extracts the strings as makemessages would, from a copy of the sources (so the real
    catalogue is not touched), and looks each one up in the French catalogue."""
    copy = tmp_path / "carnet"
    shutil.copytree(
        SOURCES,
        copy,
        ignore=shutil.ignore_patterns("locale", "migrations", "static", "__pycache__", "*.pyc"),
    )
    (copy / "locale").mkdir()
    monkeypatch.chdir(copy)  # makemessages reads the sources under the current directory
    with override_settings(LOCALE_PATHS=[copy / "locale"]):
        call_command("makemessages", locale=["fr"], verbosity=0)
    extracted = {_key(e) for e in _read_po(copy / "locale/fr/LC_MESSAGES/django.po")}
    translated = {_key(e) for e in _read_po(FRENCH_PO) if all(t.strip() for t in e["msgstr"])}
    missing = sorted(extracted - translated - {""})
    assert not missing, (
        "strings with no French translation; run makemessages -l fr -l en in carnet/, "
        f"translate them in {FRENCH_PO}, then compilemessages:\n" + "\n".join(missing)
    )
