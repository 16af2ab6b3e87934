"""Job templates: editable starting files and the gallery of complete jobs.

``new`` writes one of the starting files (run.sh, metadata.yaml, README.md, job.py) or a whole
gallery job into a folder; a file that already exists there is replaced, as in DataRobot's editor.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from drcompat.errors import BadRequest

GALLERY = Path(__file__).resolve().parent / "gallery"
STARTING_FILES = ("run.sh", "metadata.yaml", "README.md", "job.py")


def gallery() -> dict[str, str]:
    """Template name -> the first line of its README."""
    found = {}
    for folder in sorted(p for p in GALLERY.iterdir() if p.is_dir() and (p / "run.sh").is_file()):
        readme = folder / "README.md"
        title = readme.read_text().splitlines()[0].lstrip("# ") if readme.is_file() else folder.name
        found[folder.name] = title
    return found


def new_job(target: Path, template: str = "sample", file: str | None = None) -> list[Path]:
    """Copy a gallery job (or one starting file of the sample job) into ``target``."""
    if template not in gallery():
        raise BadRequest(f"Unknown template {template!r}; the gallery has: {', '.join(gallery())}.")
    source = GALLERY / template
    target.mkdir(parents=True, exist_ok=True)
    if file is not None:
        if file not in STARTING_FILES:
            raise BadRequest(f"--file must be one of {', '.join(STARTING_FILES)}.")
        shutil.copyfile(GALLERY / "sample" / file, target / file)
        return [target / file]
    written = []
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            written.append(destination)
    return written
