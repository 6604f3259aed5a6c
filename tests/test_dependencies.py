"""Dependencies are pinned all the way down: requirements.lock (with hashes, used by `make
install`) holds every package, at the versions pyproject.toml pins for the direct ones."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return (
        re.split(r"[\[=<>~! ]", requirement, maxsplit=1)[0]
        .lower()
        .replace("_", "-")
        .replace(".", "-")
    )


def _locked() -> dict[str, tuple[str, int]]:
    text = (ROOT / "requirements.lock").read_text()
    found = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        head = re.match(r"([A-Za-z0-9_.\-]+)==([^ \\\n]+)", block)
        if head:
            found[_name(head.group(1))] = (head.group(2), block.count("--hash=sha256:"))
    return found


def test_every_direct_dependency_is_pinned_and_locked_at_that_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["dev"]
    locked = _locked()
    wrong = []
    for requirement in direct:
        assert "==" in requirement, f"{requirement} is not pinned"
        version = requirement.split("==", 1)[1]
        if locked.get(_name(requirement), ("",))[0] != version:
            wrong.append(f"{requirement} (lock: {locked.get(_name(requirement))})")
    assert wrong == [], "pyproject.toml and requirements.lock disagree: run `make lock`"


def test_every_locked_package_carries_its_hashes():
    locked = _locked()
    assert len(locked) > 50  # the transitive dependencies are there too
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []
