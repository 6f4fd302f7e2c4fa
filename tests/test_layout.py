"""Each folder of the package is defined by what it may import (docs/architecture.md).

Read from the source with ``ast``, so a rule breaks here, at once, rather than as a slow import of
torch in NNI's dispatcher or an NNI import in a user's Lightning loop.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bttackler_nni"
STDLIB = set(sys.stdlib_module_names)


def imports_of(path: Path) -> set[str]:
    """Absolute top-level-qualified names of every module ``path`` imports, anywhere in the file."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names.update([target] if node.module else [f"{target}.{a.name}" for a in node.names])
            else:
                names.add(node.module or "")
    return {name.removesuffix(".__init__") for name in names if name != "__future__"}


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py")) if folder else [PACKAGE / "record.py"]


def outside(names: set[str], allowed: tuple[str, ...]) -> set[str]:
    return {
        name
        for name in names
        if name.split(".")[0] not in STDLIB
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    }


DIAGNOSIS_MAY_IMPORT = (
    "numpy",
    "bttackler_nni.diagnosis",
    "bttackler_nni.record",
    "bttackler_nni.gradient_summary",
)


@pytest.mark.parametrize("path", modules("diagnosis") + modules(""), ids=lambda p: p.name)
def test_the_diagnosis_core_needs_only_numpy(path):
    assert outside(imports_of(path), DIAGNOSIS_MAY_IMPORT) == set()


@pytest.mark.parametrize("path", modules("trial"), ids=lambda p: p.name)
def test_the_trial_side_needs_torch_and_only_its_reporter_and_parameter_handoff_talk_to_nni(path):
    allowed = (
        "numpy",
        "torch",
        "bttackler_nni.trial",
        "bttackler_nni.record",
        "bttackler_nni.gradient_summary",
    )
    if path.name == "reporter.py":
        allowed += ("nni", "psutil")  # psutil: the trial process's start-up, sent in the first record
    if path.name == "distributed.py":
        allowed += ("nni",)  # asks NNI for the parameters of a trial that trains in several processes
    assert outside(imports_of(path), allowed) == set()


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_torch_stays_on_the_trial_side_and_the_paper_tasks_stay_out(path):
    names = imports_of(path)
    if path.parent.name != "trial":
        assert not {n for n in names if n.split(".")[0] == "torch"}, "torch outside trial/"
    assert not {n for n in names if n.split(".")[0] == "bttackler_paper"}
    assert not {n for n in names if n.startswith("bttackler_nni.cli")} or path.parent.name == "cli"


@pytest.mark.parametrize("path", modules("dispatcher") + modules("tuners"), ids=lambda p: p.name)
def test_what_runs_inside_nni_needs_nni_and_the_core_only(path):
    allowed = (
        "numpy",
        "nni",
        "scipy",
        "smac",
        "ConfigSpace",
        "bttackler_nni.dispatcher",
        "bttackler_nni.tuners",
    )
    allowed += ("yaml", "bttackler_nni.diagnosis", "bttackler_nni.record")
    assert outside(imports_of(path), allowed) == set()


ADAPTER_FRAMEWORKS = {
    "lightning.py": ("lightning",),
    "huggingface.py": ("transformers",),
    "optuna.py": ("optuna",),
    "ray.py": ("ray",),
    "loop.py": (),
    "__init__.py": (),
}
"""Each adapter imports its own framework, and no other."""

LOOP_SIDE = {"loop.py", "lightning.py", "huggingface.py"}
"""Adapters inside the user's training loop: they drive the Reporter (and torch through it)."""


@pytest.mark.parametrize("path", modules("adapters"), ids=lambda p: p.name)
def test_each_adapter_needs_its_framework_and_the_core_and_the_search_side_never_loads_torch(path):
    allowed = ("numpy", "bttackler_nni.diagnosis", "bttackler_nni.record", *ADAPTER_FRAMEWORKS[path.name])
    if path.name in LOOP_SIDE:
        allowed += ("bttackler_nni.trial", "bttackler_nni.adapters.loop")
    assert outside(imports_of(path), allowed) == set()


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_in_the_package_depends_on_an_adapter(path):
    if path.parent.name != "adapters":
        assert not {n for n in imports_of(path) if n.startswith("bttackler_nni.adapters")}


def test_the_rules_read_relative_imports_right():
    names = imports_of(PACKAGE / "dispatcher" / "assessor.py")
    assert "bttackler_nni.diagnosis.engine" in names and "nni.assessor" in names


@pytest.mark.parametrize(
    "statement, absent",
    [
        ("from bttackler_nni import Diagnoser, AssessorConfig, Verdict", ("torch", "nni", "yaml")),
        ("from bttackler_nni import BTTacklerAssessor, BTTacklerTuner", ("torch",)),
        ("import bttackler_nni", ("torch", "nni", "numpy")),
        ("import bttackler_nni.adapters", ("torch", "nni", "lightning", "transformers", "optuna", "ray")),
    ],
)
def test_importing_a_side_loads_nothing_of_the_others(statement, absent):
    import subprocess

    code = f"import sys; {statement}; print(sorted(m for m in {absent!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "framework, statement",
    [
        ("optuna", "from bttackler_nni.adapters.optuna import BTTacklerPruner"),
        ("ray.tune", "from bttackler_nni.adapters.ray import BTTacklerScheduler"),
    ],
)
def test_the_search_side_adapters_load_neither_torch_nor_nni(framework, statement):
    pytest.importorskip(framework)
    test_importing_a_side_loads_nothing_of_the_others(statement, ("torch", "nni"))
