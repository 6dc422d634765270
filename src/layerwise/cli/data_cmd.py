"""`layerwise data list | path | verify | fetch`."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_data_source, add_json, emit
from layerwise.data.catalog import CATALOG
from layerwise.data.resolve import cache_dir, locate, read_location, search_dirs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list, locate, verify and fetch datasets",
                       description="Manage the datasets layerwise knows by name.")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    q = dsub.add_parser("list", help="the datasets layerwise knows")
    add_json(q)
    q.set_defaults(func=cmd_list)
    for name, helptext, func in (
        ("path", "where a dataset's files are (fetching them if needed)", cmd_path),
        ("verify", "read every file of a dataset and check its checksums and shapes", cmd_verify),
        ("fetch", "download a dataset into the cache (or --data-dir) unless already there",
         cmd_path),
    ):
        q = dsub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:])
        q.add_argument("name", help="dataset name (see `layerwise data list`), NAME:options, "
                       "or a directory of MNIST-named IDX files")
        add_data_source(q)
        add_json(q)
        q.set_defaults(func=func)


def cmd_list(args) -> int:
    lines = [f"{'name':<15} {'layout':<9} description"]
    rows = []
    for spec in CATALOG.values():
        lines.append(f"{spec.name:<15} {spec.layout:<9} {spec.description}")
        for key, meaning in spec.options.items():
            lines.append(f"{'':<25}  option {key}: {meaning}")
        rows.append({"name": spec.name, "layout": spec.layout, "description": spec.description,
                     "downloadable": spec.downloadable, "options": spec.options})
    lines.append(f"cache: {cache_dir()}")
    emit(lines, {"datasets": rows, "cache": str(cache_dir())}, args.json)
    return 0


def cmd_path(args) -> int:
    loc = locate(args.name, data_dir=args.data_dir, offline=args.offline)
    if loc.directory is None:
        emit([f"{args.name} is synthetic: it is generated in memory and has no files."],
             {"dataset": args.name, "path": None, "source": loc.source}, args.json)
        return 0
    emit([str(loc.directory)], {"dataset": loc.spec.name, "path": str(loc.directory),
                                "source": loc.source}, args.json)
    return 0


def cmd_verify(args) -> int:
    loc = locate(args.name, data_dir=args.data_dir, offline=True)
    if loc.directory is None:
        emit([f"{args.name} is synthetic: nothing to verify."],
             {"dataset": args.name, "ok": True, "files": {}}, args.json)
        return 0
    arrays, methods = read_location(loc)
    lines = [f"{loc.spec.name} at {loc.directory} ({loc.source})"]
    lines += [f"  ok  {name}: {method}" for name, method in methods.items()]
    lines.append(f"  train {len(arrays['train_x'])}, test {len(arrays['test_x'])} examples")
    looked = [str(d) for d, _ in search_dirs(loc.spec, args.data_dir)] \
        if loc.source != "path" else [str(loc.directory)]
    emit(lines, {"dataset": loc.spec.name, "path": str(loc.directory), "ok": True,
                 "files": methods, "train": len(arrays["train_x"]),
                 "test": len(arrays["test_x"]), "looked_in": looked}, args.json)
    return 0
