"""Print each zip function's unzipped size with its layers, from a build folder and template.yaml.

Lambda refuses a function whose code plus layers unzip past 250 MB; we aim for at most 150 MB for
the predict function so that bundled models fit beside it. Exits 1 past the hard limit.

    python scripts/bundle_sizes.py .aws-sam/build
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

LAMBDA_LIMIT = 250 * 10**6
AIM = 150 * 10**6
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as plain values."""


def _any_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return {suffix: loader.construct_scalar(node)}  # type: ignore[arg-type]


CfnLoader.add_multi_constructor("!", _any_tag)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(build: Path) -> int:
    resources = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)["Resources"]  # noqa: S506 - SafeLoader subclass
    status = 0
    print(f"{'function':18} {'code MB':>8} {'layers MB':>10} {'total MB':>9}  limit 250 MB")
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Serverless::Function" or props.get("PackageType") == "Image":
            continue
        code = folder_size(build / name)
        # Our own layers only (Ref); AWS's web-adapter layer (FrontDoor=FunctionUrl) is not in the build.
        layers = {ref["Ref"]: folder_size(build / ref["Ref"]) for ref in props.get("Layers", []) if "Ref" in ref}
        total = code + sum(layers.values())
        verdict = "OVER THE LIMIT" if total > LAMBDA_LIMIT else ("over the 150 MB aim" if total > AIM else "ok")
        detail = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in layers.items())
        sizes = f"{code / 1e6:>8.2f} {sum(layers.values()) / 1e6:>10.1f} {total / 1e6:>9.1f}"
        print(f"{name:18} {sizes}  {verdict} ({detail})")
        if total > LAMBDA_LIMIT:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")))
