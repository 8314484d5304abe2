"""Regenerate ``schema-keys.txt``: the configuration keys of the Zero to JupyterHub chart.

    python deploy/z2jh/schema_keys.py PATH/TO/zero-to-jupyterhub-k8s/jupyterhub/values.schema.yaml

One dotted key per line (``hub.db.url``); a key followed by ``.*`` takes any sub-keys (the schema
gives ``additionalProperties`` or ``patternProperties``, or no ``properties`` for an object). The
first line names the chart commit the list came from. ``tests/test_hub.py`` checks
``deploy/z2jh/values.yaml`` against this list, so no Helm and no network is needed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

OUT = Path(__file__).with_name("schema-keys.txt")


def walk(schema: dict, prefix: str, out: set[str]) -> None:
    props = schema.get("properties") or {}
    open_ = (schema.get("additionalProperties", False) is not False or "patternProperties" in schema
             or (not props and "object" in (schema.get("type") or []) and prefix))
    if open_ and prefix:
        out.add(prefix + ".*")
    for name, sub in props.items():
        key = f"{prefix}.{name}" if prefix else name
        out.add(key)
        if isinstance(sub, dict):
            walk(sub, key, out)


def main(path: str, source: str = "") -> None:
    schema = yaml.safe_load(Path(path).read_text())
    keys: set[str] = set()
    walk(schema, "", keys)
    OUT.write_text(f"# z2jh values.schema.yaml keys ({source or path})\n" + "\n".join(sorted(keys)) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
