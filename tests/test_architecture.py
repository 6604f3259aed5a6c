"""The architecture is enforced, not hoped for: imports point one way (interfaces -> domains
-> guard / audit / vault), and no interface touches patient models or the vault's sealing."""

import ast
from pathlib import Path

import carnet

ROOT = Path(carnet.__file__).parent
INTERFACES = {"web", "cli", "portal", "screen", "api"}
DOMAINS = {"organisations", "staff", "patients", "scheduling", "clinical", "laboratory", "sharing"}
# What each layer may import from Carnet itself.
ALLOWED = {
    "metrics": {"metrics"},
    "printing": {"printing"},
    "vault": {"vault", "metrics"},
    "audit": {"audit", "vault", "metrics"},
    "guard": {"guard", "audit", "vault", "metrics"},
}
FORBIDDEN_FOR_INTERFACES = (
    "carnet.patients.models",
    "carnet.vault.fields",
    "carnet.vault.keys",
    "carnet.vault.models",
    "carnet.vault.scope",
    "carnet.vault.sealing",
    "carnet.vault.blind",
)


def _imports(path: Path, package: str = "") -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    package = package or ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("carnet.")}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if len(parts) > 1 and "migrations" not in parts:
            yield parts[0], path


def test_the_layout_shows_the_domains():
    apps = {p.name for p in ROOT.iterdir() if (p / "apps.py").exists()}
    assert {"vault", "audit", "guard", *DOMAINS} <= apps
    assert "web" in apps and "cli" in apps


def test_lower_layers_import_only_what_is_below_them():
    wrong = []
    for layer, path in _modules():
        if layer not in ALLOWED:
            continue
        for name in _imports(path):
            if name.split(".")[1] not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_domains_never_import_interfaces():
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for layer, path in _modules()
        if layer in DOMAINS
        for name in _imports(path)
        if name.split(".")[1] in INTERFACES
    ]
    assert wrong == []


# The domains in their order: each imports only those before it, so none reaches back into a
# domain built on top of it (a death cancels appointments through a hook scheduling registers).
DOMAIN_ORDER = [
    "organisations",
    "staff",
    "patients",
    "scheduling",
    "sharing",
    "clinical",
    "laboratory",
]


def _backward_imports(layer: str, names: set[str], where: str) -> list[str]:
    rank = DOMAIN_ORDER.index(layer)
    return [
        f"{where} imports {name}"
        for name in sorted(names)
        if name.split(".")[1] in DOMAIN_ORDER and DOMAIN_ORDER.index(name.split(".")[1]) > rank
    ]


def test_domains_import_only_the_domains_below_them():
    assert set(DOMAIN_ORDER) == DOMAINS
    wrong = [
        line
        for layer, path in _modules()
        if layer in DOMAINS
        for line in _backward_imports(layer, _imports(path), str(path.relative_to(ROOT)))
    ]
    assert wrong == []


def test_the_domain_order_check_sees_a_backward_import(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def later():\n    from carnet.scheduling.services import change_state\n"
        "from ..laboratory import models\n"
    )
    names = _imports(planted, package="carnet.patients")
    assert _backward_imports("patients", names, "planted.py") == [
        "planted.py imports carnet.laboratory",
        "planted.py imports carnet.laboratory.models",
        "planted.py imports carnet.scheduling.services",
        "planted.py imports carnet.scheduling.services.change_state",
    ]
    assert _backward_imports("laboratory", names, "planted.py") == []


def test_interfaces_never_touch_patient_models_or_sealing():
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for layer, path in _modules()
        if layer in INTERFACES
        for name in _imports(path)
        if name.startswith(FORBIDDEN_FOR_INTERFACES)
    ]
    assert wrong == []


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The walker must not be blind: a planted module with a forbidden import is caught."""
    planted = tmp_path / "planted.py"
    planted.write_text("from carnet.patients.models import Patient\nfrom ...vault import keys\n")
    names = _imports(planted, package="carnet.web.views")
    assert "carnet.patients.models" in names and "carnet.vault.keys" in names
