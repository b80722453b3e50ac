"""In-cluster mode (the Kopf operator). Placeholder until the operator issue lands."""

from __future__ import annotations

import argparse


async def run_in_cluster(args: argparse.Namespace) -> int:
    raise SystemExit("igw run: in-cluster mode (the Kopf operator) is not built yet; "
                     "use `igw run --manifests DIR` for a local gateway")
