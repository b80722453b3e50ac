"""`igw validate FILE…`: manifests against the CRDs, offline (operator/crd_validation.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from inference_gateway.operator.crd_validation import CRDS_DIR_ENV, load_crds, validate_files
from inference_gateway.operator.ignored import ignored_objects
from inference_gateway.operator.manifests import load_paths, manifest_files
from inference_gateway.operator.translate.objects import ObjectSet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``igw validate``."""
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="YAML manifests (multi-document) or directories of them"
    )
    parser.add_argument(
        "--crds-dir", type=Path, default=None, help=f"directory of CRD YAML files (default: ${CRDS_DIR_ENV} or crds/)"
    )


def run(args: argparse.Namespace) -> int:
    """Print ``OK <file>`` per clean file and one line per problem; 1 when there are problems."""
    try:
        registry = load_crds(getattr(args, "crds_dir", None))
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        print(f"error: cannot load CRDs: {exc}")
        return 2
    files = manifest_files(args.files, suffixes=(".yaml", ".yml"))  # examples/ holds request bodies as JSON
    status = 0
    context = ObjectSet.of(load_paths(files)[0])  # a Service used by a pool in another file is used
    for path in files:
        problems = validate_files([path], registry)
        ignored = ignored_objects([path], context)
        for where, why in ignored:
            print(f"WARN {where}: {why}")
        if problems:
            status = 1
            for problem in problems:
                print(problem)
        elif ignored:
            # Never "OK" for a file part of which the gateway silently ignores.
            print(f"CHECKED {path}: {len(ignored)} object(s) will not be acted on (WARN above)")
        else:
            print(f"OK {path}")
    if not files:
        print("error: no YAML files found")
        return 2
    return status
