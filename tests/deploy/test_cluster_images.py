"""scripts/cluster.sh's kubectl resolves the manifests' public image references to the images
`make images` builds, and changes nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.k8s_manifests import manifest_files
from tests.support.processes import REPO

SCRIPTS = REPO / "scripts"


def built_images() -> set[str]:
    out = subprocess.run(
        ["bash", str(SCRIPTS / "images.sh"), "--list"], capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_only_image_fields_change_and_each_names_a_built_image(path: Path) -> None:
    text = path.read_text()
    out = subprocess.run(
        ["bash", str(SCRIPTS / "cluster.sh"), "rewrite"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    before, after = text.splitlines(), out.splitlines()
    assert len(before) == len(after)
    built = built_images()
    for old, new in zip(before, after, strict=True):
        if old == new:
            assert "image:" not in old or old.strip().startswith("#"), (
                f"{path.name}: {old.strip()} not resolved"
            )
            continue
        key, _, image = new.partition("image:")
        assert key == old.partition("image:")[0], f"{path.name}: more than the image changed: {old!r}"
        assert image.strip() in built, f"{path.name}: {image.strip()} is not built by make images"
