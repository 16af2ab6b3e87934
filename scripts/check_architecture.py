"""Check that a built layer holds native libraries for one architecture, by their ELF headers.

    python scripts/check_architecture.py .aws-sam/build/CoreLayer x86_64

Reads ``e_machine`` of every ``.so`` under the folder (onnxruntime, numpy, pandas, ...): a layer
built for arm64 must hold only aarch64 binaries, one for x86_64 only x86-64 ones.
"""

from __future__ import annotations

import struct
import sys
from collections import Counter
from pathlib import Path

MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}  # EM_X86_64, EM_AARCH64


def elf_machine(path: Path) -> str | None:
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(order + "H", header[18:20])
    return MACHINES.get(machine, f"e_machine {machine:#x}")


def machines(folder: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in folder.rglob("*.so*"):
        if path.is_file() and (kind := elf_machine(path)) is not None:
            found[kind] += 1
    return found


def main() -> int:
    folder, wanted = Path(sys.argv[1]), sys.argv[2]
    found = machines(folder)
    onnxruntime = machines(folder / "python" / "onnxruntime") if (folder / "python").is_dir() else machines(folder)
    print(f"{folder}: {dict(found)} (onnxruntime: {dict(onnxruntime)})")
    if not onnxruntime or set(found) != {wanted}:
        print(f"expected only {wanted} binaries", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
