"""Each Dockerfile installs its own group of pyproject.toml and nothing else.

The images cannot be built here (no registry), so the Dockerfiles are read:
which group the dependency layer installs, with which constraints, and that
the project itself goes in with `--no-deps` (its dependencies are that layer).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.unit.packaging import groups

IMAGES = {"Dockerfile.operator": "operator", "Dockerfile.runner": "runner"}
ENTRY = {"Dockerfile.operator": "wafleet-operator", "Dockerfile.runner": "wafleet-runner"}


def _instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = (groups.REPO / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def _runs(name: str) -> list[list[list[str]]]:
    """Each RUN as its `&&`-separated commands, each command as words."""
    return [
        [shlex.split(part) for part in args.split("&&")]
        for word, args in _instructions(name)
        if word == "RUN"
    ]


@pytest.mark.parametrize("name", list(IMAGES))
def test_the_dependency_layer_installs_the_images_group(name: str) -> None:
    commands = [cmd for run in _runs(name) for cmd in run]
    group_cmds = [c for c in commands if c[:2] == ["python", "requirements/group.py"]]
    assert len(group_cmds) == 1, group_cmds
    # `python requirements/group.py GROUP > /tmp/runtime.txt`
    assert group_cmds[0][2:] == [IMAGES[name], ">", "/tmp/runtime.txt"]
    installs = [c for c in commands if c[:2] == ["pip", "install"]]
    assert ["pip", "install", "-c", "requirements/constraints.txt", "-r", "/tmp/runtime.txt"] in (
        installs
    )
    project = [c for c in installs if c[-1] == "."]
    assert len(project) == 1, project
    assert "--no-deps" in project[0]
    assert len(installs) == 2, "every pip install is one of the two above"
    assert not any("[" in word for c in installs for word in c), "no extras by other means"


@pytest.mark.parametrize("name", list(IMAGES))
def test_the_files_the_group_script_needs_are_copied_first(name: str) -> None:
    instructions = _instructions(name)
    copies = [args for word, args in instructions if word == "COPY" and "--from" not in args]
    first_run = next(i for i, (w, a) in enumerate(instructions) if w == "RUN" and "group.py" in a)
    before = " ".join(a for w, a in instructions[:first_run] if w == "COPY")
    for needed in ("requirements/group.py", "requirements/constraints.txt", "pyproject.toml"):
        assert needed in before, f"{needed} is not copied before the group layer"
    assert copies  # sanity: the parser saw the COPY lines
    assert ["ENTRYPOINT", f'["{ENTRY[name]}"]'] in [list(i) for i in instructions]


@pytest.mark.parametrize("group", sorted(set(IMAGES.values())))
def test_the_group_script_prints_dependencies_and_the_group(group: str) -> None:
    done = subprocess.run(
        [sys.executable, str(groups.REPO / "requirements" / "group.py"), group],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = done.stdout.split()
    assert printed == [str(r) for r in groups.requirements(group)]
    assert {"playwright", "neonize"} & set(printed) == (
        {"playwright", "neonize"} if group == "runner" else set()
    )


def test_the_group_script_refuses_an_unknown_group() -> None:
    done = subprocess.run(
        [sys.executable, str(groups.REPO / "requirements" / "group.py"), "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "no group 'nope'" in done.stderr
