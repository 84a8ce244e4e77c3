"""The dependencies: weights are never unpickled (every torch.load asks for weights_only, and
nothing calls pickle), and requirements.txt allows no release below the floors that have
published advisories.
"""

from __future__ import annotations

import re

from .support.paths import ROOT


def test_weights_are_never_unpickled():
    """Every torch.load in the code asks for weights_only=True; nothing calls pickle."""
    for path in [ROOT / "app.py", *sorted((ROOT / "nst").rglob("*.py"))]:
        text = path.read_text()
        for call in re.finditer(r"torch\.load\(([^)]*)\)", text):
            assert "weights_only=True" in call.group(1), f"{path.name}: {call.group(0)}"
        assert not re.search(r"\bpickle\.loads?\(|\bdill\b|\bjoblib\.load", text), path.name


def _just_below(floor: str) -> str:
    major, minor = map(int, floor.split("."))
    return f"{major}.{minor - 1}.99" if minor else f"{major - 1}.99.99"


def test_dependency_floors_have_no_known_advisories():
    from importlib.metadata import version

    from packaging.requirements import Requirement
    from packaging.version import Version

    floors = {"gradio": "6.25", "pillow": "12.2"}  # earlier releases have published advisories
    specs = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)  # a line may carry an environment marker (torch's, per Python)
            specs[req.name.lower()] = req.specifier
    for name, floor in floors.items():
        assert name in specs, f"requirements.txt does not name {name}"
        assert not specs[name].contains(_just_below(floor)), f"requirements.txt allows {name} below {floor}"
        assert Version(version(name)) >= Version(floor), f"installed {name} {version(name)} is below {floor}"
    sdk = re.search(r"^sdk_version:\s*(\S+)", (ROOT / "README.md").read_text(), re.M).group(1)
    assert Version(sdk) >= Version(floors["gradio"]), f"the Space's sdk_version {sdk} is below the floor"
