"""``kpbench data synth NAME --out DIR``: write a dataset's synthetic twin in its official format."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("data", help="dataset utilities (synthetic twins)")
    dsub = p.add_subparsers(dest="data_verb", metavar="ACTION", required=True)
    s = dsub.add_parser(
        "synth", help="write a small synthetic twin of a dataset in its official format"
    )
    s.add_argument("name", help="dataset name (see `kpbench list datasets`)")
    s.add_argument("--out", type=Path, required=True, help="folder to write")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generator option, e.g. frames=120",
    )
    s.set_defaults(handler=handle)


def handle(args) -> int:
    from kpbench.config import parse_set
    from kpbench.errors import PluginError
    from kpbench.plugins import get_registry

    spec = get_registry().dataset(args.name)
    if spec.synthesize is None:
        raise PluginError(f"dataset {args.name} has no synthetic twin")
    try:
        out = spec.synthesize(args.out, args.seed, **parse_set(args.sets))
    except TypeError as exc:
        from kpbench.errors import ConfigError

        raise ConfigError(f"kpbench data synth {args.name}: {exc}") from None
    print(f"wrote synthetic {args.name} to {out}")
    return 0
