"""mkdocs hook: the pages' generated parts, filled in at build time so they cannot drift.

A page asks for a generated part with an HTML comment on a line of its own:

    <!-- generated: cli-reference -->            every command and flag (layerwise.cli.reference)
    <!-- generated: bench-tables -->             a table per JSON file under bench-results/
    <!-- generated: bench-table FILE... -->      the tables of those files only
    <!-- generated: command-output ARGS... -->   what `layerwise ARGS` prints (instant ones)
    <!-- generated: results SECTION... -->       rows of docs/reproduce-quick/results.json
    <!-- generated: runs NAME... -->             rows of the run records docs/results/NAME.json
    <!-- generated: course-hardware NAME... -->  the course's Lab 7 hardware table with records
    <!-- generated: notebook N -->               notebooks/labN*.ipynb, where one is committed
    <!-- generated: modules -->                  each module of src/layerwise, its docstring
    <!-- generated: lab-output N -->             what `layerwise lab N` prints (labs 1-3: instant)

tests/test_docs.py imports this file and checks the same functions, so what the site shows
and what the suite checks are one text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench-results"
RESULTS = ROOT / "docs" / "reproduce-quick" / "results.json"
RECORDS = ROOT / "docs" / "results"
MARKER = re.compile(r"^<!-- generated: ([\w-]+)(.*?) -->$", re.M)


def cli_reference() -> str:
    from layerwise.cli.reference import markdown
    return markdown()


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def environment_line(env: dict) -> str:
    """Machine, instruction sets, versions and revision of one bench run, in one paragraph."""
    isa = env.get("cpu_instruction_sets") or {}
    sets = ", ".join(k.upper().replace("_", "-") for k, v in isa.items()
                     if v is True) or "none detected"
    parts = [f"machine: {env.get('device_name', env.get('device'))}, CPU {env.get('cpu')}"
             + (f" ({env['cpu_count']} cores)" if env.get("cpu_count") else ""),
             f"instruction sets: {sets}",
             f"torch {env.get('torch')}, Python {env.get('python')}, NumPy {env.get('numpy')}"
             + (f", CUDA {env['cuda']}" if env.get("cuda") else ", no CUDA"),
             f"layerwise {env.get('layerwise')} at revision `{env.get('revision')}`"]
    return "; ".join(parts) + "."


def _share(value) -> str | None:
    return None if value is None else f"{value:.0%}"


def _table(header: list[str], rows: list[list], digits: int = 4) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_fmt(c, digits) for c in row) + " |" for row in rows]
    return lines


def _named_rows(report: dict) -> list[str]:
    """lab7 and rbm reports: rows keyed by implementation."""
    rows = []
    for name, row in report["rows"].items():
        if "skipped" in row:
            rows.append([name, "–", "skipped", "–", row["skipped"].removeprefix("skipped: ")])
            continue
        rows.append([name, row.get("products"), row.get("seconds"), row.get("x_floor"),
                     row.get("test_accuracy")])
    header = ["implementation", "products", "seconds", "× floor", "test accuracy / note"]
    lines = _table(header, rows)
    if report.get("large_problem"):
        lines += ["", "The report's problem at this machine's size "
                  f"({report.get('large_problem')[0].get('examples')} examples):", ""]
        big = [[r["precision"], "skipped" if "skipped" in r else r.get("epoch_seconds"),
                r.get("achieved_flops", 0) / 1e9 if "achieved_flops" in r else None,
                r.get("gemm_flops", 0) / 1e9 if "gemm_flops" in r else None,
                _share(r.get("fraction_of_gemm"))] for r in report["large_problem"]]
        lines += _table(["precision", "epoch s", "achieved GFLOP/s", "GEMM GFLOP/s",
                         "of GEMM"], big)
    return lines


def _ratio(report: dict, key: str, what: str) -> str | None:
    value = report.get(key)
    return None if value is None or value != value else f"{what} {value:.2f}×"


def _summary(report: dict) -> list[str]:
    """The ratios a lab7 or rbm report computed in its run, as one sentence."""
    suite = report.get("suite")
    parts = []
    if suite == "lab7":
        parts = [_ratio(report, "speedup_vs_plain", "layerwise over the plain eager loop:"),
                 _ratio(report, "floor_speedup_vs_plain", "by the paired floors:"),
                 _ratio(report, "speedup_vs_tensorflow",
                        "layerwise over TensorFlow running the course's listing:"),
                 _ratio(report, "bf16_speedup_vs_float32", "layerwise bf16 autocast over float32:")]
        if report.get("bf16_accuracy_minus_float32") is not None:
            parts.append("bf16 test accuracy minus float32's: "
                         f"{report['bf16_accuracy_minus_float32']:+.4f}")
        parts.append(f"floor: {report['step_flops'] / 1e9:.2f} GFLOP a step, "
                     f"{report['floor_seconds']:.2f} s for the run")
    elif suite == "rbm":
        peer = report.get("versus_sklearn") or {}
        if peer.get("speedup") is not None:
            parts.append(f"layerwise over {peer['peer']}: {peer['speedup']:.2f}× by time, "
                         f"{peer['floor_speedup']:.2f}× by the paired floors")
        lo, hi = report.get("gemm_flops_range") or (None, None)
        parts.append(f"float32 floor {report['floor_seconds']:.3f} s an epoch at "
                     f"{report['gemm_flops'] / 1e9:.0f} GFLOP/s"
                     + (f" (windows {lo / 1e9:.0f}–{hi / 1e9:.0f})" if lo else ""))
        bf16 = report.get("bf16_floor_seconds")
        if bf16 is not None and bf16 == bf16:
            parts.append(f"bf16 floor {bf16:.3f} s at {report['bf16_gemm_flops'] / 1e9:.0f} "
                         "GFLOP/s")
    parts = [p for p in parts if p]
    return ["", "; ".join(parts) + "."] if parts else []


def _scaling_rows(report: dict) -> list[str]:
    """ddp and rbm-parallel reports: one row per rank count (and configuration)."""
    rows = report["rows"]
    if _suite(report) == "ddp":
        return _table(["ranks", "threads per rank", "examples/s", "efficiency", "test accuracy"],
                      [[r["ranks"], r.get("threads_per_rank"), r["examples_per_second"],
                        _share(r.get("efficiency")), r.get("test_accuracy")] for r in rows])
    return _table(["visible", "precision", "batch", "ranks", "epoch s", "K → 2K",
                   "efficiency", "ideal"],
                  [[r["visible"], r["precision"], r["batch"], r["ranks"], r["epoch_seconds"],
                    r.get("speedup_to_2k"), _share(r.get("efficiency_to_2k")),
                    r.get("ideal_speedup_to_2k")] for r in rows])


def _link_rows(report: dict) -> list[str]:
    """links reports: one row per shaped link rate."""
    header = ["link", "qdisc", "CD-1 epoch s", "compute s", "waited ms", "model ms", "hidden"]
    rows = [[r["rate"], r["qdisc"], r["rbm_epoch_seconds"], r["rbm_compute_seconds"],
             r["rbm_exposed_seconds"] * 1e3,
             None if r.get("rbm_predicted_seconds") is None else r["rbm_predicted_seconds"] * 1e3,
             _share(r.get("rbm_hidden"))] for r in report["rows"]]
    lines = _table(header, rows)
    if "ddp" in report.get("jobs", []):
        rows = [[r["rate"], r["ddp_step_seconds"] * 1e3, r["ddp_compute_seconds"] * 1e3,
                 None if r.get("ddp_predicted_seconds") is None
                 else r["ddp_predicted_seconds"] * 1e3, _share(r.get("ddp_hidden"))]
                for r in report["rows"]]
        lines += ["", "Data-parallel deepnn on the same links:", ""]
        lines += _table(["link", "step ms", "alone ms", "model ms", "hidden"], rows)
    return lines


def _suite(report: dict) -> str:
    """The bench that wrote a report: its "suite", or for the scaling and links reports (which
    do not name it) what their rows hold."""
    if "suite" in report:
        return report["suite"]
    first = (report.get("rows") or [{}])[0]
    if "examples_per_second" in first:
        return "ddp"
    return "rbm-parallel" if "epoch_seconds" in first else "links"


def _title(path: Path, report: dict) -> str:
    suite = _suite(report)
    if suite == "ddp":
        return (f"`layerwise bench ddp`: {report['model']} data parallel on {report['dataset']}, "
                f"{report['steps']} steps of a global batch of {report['global_batch']}, gloo")
    if suite == "rbm-parallel":
        return (f"`layerwise bench rbm-parallel`: model-parallel CD-1, {report['visible']} × "
                f"{report['hidden']} RBM, {report['examples']} random binary examples, the last "
                f"of {report['epochs']} epochs timed, gloo; K → 2K is the speed-up from this row "
                "to the one with twice the ranks")
    if "suite" in report:
        return f"`layerwise bench {report['suite']}` on {report.get('dataset')}"
    return (f"`layerwise bench links`, {report['visible']} × {report['hidden']} RBM, "
            f"{report['examples']} examples, batch {report['batch']}, {report['hosts']} hosts")


def bench_tables(directory: Path = BENCH, names: list[str] | None = None,
                 headings: bool = True) -> str:
    """A section per committed bench report (every one, or those `names`): what ran, where,
    and its table."""
    out = []
    paths = [directory / n for n in names] if names else sorted(directory.glob("*.json"))
    for path in paths:
        report = json.loads(path.read_text())
        out += [f"### {path.name}", ""] if headings else []
        out += [_title(path, report) + f" (`bench-results/{path.name}`).",
                "", environment_line(report.get("environment", {})), ""]
        rows = report.get("rows")
        if isinstance(rows, dict):
            out += _named_rows(report) + _summary(report)
        elif _suite(report) in ("ddp", "rbm-parallel"):
            out += _scaling_rows(report)
        else:
            out += _link_rows(report)
        out.append("")
    return "\n".join(out)


def results(sections: list[str], path: Path = RESULTS) -> str:
    """The rows of `layerwise reproduce`'s committed results.json for the given sections
    (a section name, or a prefix of one ending in '*')."""
    report = json.loads(path.read_text())

    def wanted(section: str) -> bool:
        return any(section == s or (s.endswith("*") and section.startswith(s[:-1]))
                   for s in sections)

    def with_unit(value, unit):
        return value if value is None or not unit else f"{_fmt(value, 8)} {unit}"

    rows = [[r["section"], r["quantity"], with_unit(r["printed"], r["unit"]),
             with_unit(r["measured"], r["unit"]), r["verdict"], f"`{r['command']}`"]
            for r in report["rows"] if wanted(r["section"])]
    if not rows:
        return "*(no row of docs/reproduce-quick/results.json for this yet)*"
    env = report.get("environment", {})
    lines = _table(["section", "quantity", "printed", "measured", "verdict", "re-run"], rows,
                   digits=8)
    return "\n".join(lines + ["", f"From `docs/reproduce-quick/results.json` "
                              f"(`layerwise reproduce all --{report.get('mode')}`, "
                              f"{report.get('seconds', 0):.0f} s; " + environment_line(env)
                              + ")"])


def _machine(env: dict) -> str:
    """A record's machine in a few words: cores, the instruction sets that decide the timings,
    the threads torch used, the revision."""
    isa = env.get("cpu_instruction_sets") or {}
    kind = ("AVX-512" + (" + BF16/AMX" if isa.get("avx512_bf16") or isa.get("amx") else "")
            if isa.get("avx512") else "AVX2" if isa.get("avx2") else "CPU")
    if env.get("cuda"):
        kind = env.get("device_name", "GPU")
    return (f"{env.get('cpu_count')} cores, {kind}, {env.get('torch_threads')} threads, "
            f"`{env.get('revision')}`")


def _accuracy(f: dict) -> str:
    if "test_accuracy_seeds" in f:
        each = f["test_accuracy_seeds"]
        return (f"{f['test_accuracy']:.4f} ± {f['test_accuracy_std']:.4f} over seeds "
                f"{f['seeds'][0]}–{f['seeds'][1]} ({min(each):.4f}–{max(each):.4f})")
    text = f"{f['test_accuracy']:.4f}"
    last = f.get("last_eval") or {}
    if last.get("val_accuracy") is not None:
        text += f" (validation {last['val_accuracy']:.4f})"
    if f.get("best_step") is not None:
        text += f", weights of step {f['best_step']:,}"
    return text


def _run_row(record: dict) -> list:
    """[run, result, time, machine, re-run] of one record, by what its command printed."""
    f, command = record["figures"], record["command"]
    wall = record["wall_seconds"]
    load = record.get("load_average", {})
    loaded = max([*(load.get("start") or [0])[:1], *(load.get("end") or [0])[:1]])
    busy = f" (machine busy: load {loaded:.1f})" \
        if loaded > (record["environment"].get("cpu_count") or 1) + 0.5 else ""
    if "log_likelihood" in f:                       # rbm ais
        what = f"AIS, {f.get('runs')} runs × {f.get('betas')} temperatures"
        low = "unbounded below" if f.get("log_z_low") is None else f"{f['log_z_low']:.1f}"
        result = (f"{f['log_likelihood']:.2f} nats (log Z {f['log_z']:.1f}, 3 s.e. "
                  f"{low} to {f['log_z_high']:.1f})"
                  + "".join(f"; warned: {w.split(', so')[0]}" for w in f.get("warnings") or []))
        time = f"{wall:,.0f} s"
    elif "dbn_accuracy" in f:                       # dbn train
        layers = f.get("layers")
        layers = "-".join(map(str, layers)) if isinstance(layers, list) else layers
        what = f"DBN {layers} on {f.get('dataset')}"
        result = (f"{f['dbn_accuracy']:.4f} (random initialisation: "
                  f"{f['random_init_accuracy']:.4f})")
        time = (f"{f['pretrain_seconds']:.0f} s pre-training + "
                f"{f['dbn_finetune_seconds']:.0f} s fine-tuning")
    elif "epoch_seconds" in f:                      # rbm train
        model = str(f.get("model", "rbm")).replace("rbm ", "RBM ", 1)
        what = f"{model} on {f.get('dataset')}, {f.get('epochs')} epochs"
        result = f"test recon error {f['recon_error']:.4f}"
        if "feature_accuracy" in f:
            result = (f"softmax on its features {f['feature_accuracy']:.4f} (raw pixels: "
                      f"{f['raw_accuracy']:.4f})")
        time = f"{f['epoch_seconds']:.1f} s an epoch"
    elif "test_accuracy" in f:                      # train, lab 6/7
        what = f"{f['model']} on {f['dataset']}, {f['steps']:,} steps"
        result = _accuracy(f)
        for said in f.get("course") or []:     # a lab: the course's printed figure beside ours
            if said.get("figure") == "test_accuracy":
                result += (f"; the course printed {said['course'] * 100:g} %: "
                           f"{said['verdict']}")
        runs = " a run" if "test_accuracy_seeds" in f else ""
        time = f"{f['train_seconds']:,.1f} s{runs}"
    else:
        raise ValueError(f"docs/hooks.py: no row format for the record of `{command}`")
    return [what, result, time + busy, _machine(record["environment"]), f"`{command}`"]


def runs(names: list[str], directory: Path = RECORDS) -> str:
    """A table of the named run records (docs/results/NAME.json, written by --record)."""
    from layerwise.record import read_record

    rows = [[c.replace("|", "/") for c in _run_row(read_record(directory / f"{name}.json"))]
            for name in names]                              # a table cell cannot hold '|'
    return "\n".join(_table(["run", "result", "time", "machine, threads, revision", "re-run"],
                            rows))


def course_hardware(names: list[str], directory: Path = RECORDS) -> str:
    """The course's Lab 7 hardware table (layerwise.reproduce.course), then the full-recipe
    runs recorded here."""
    from layerwise.record import read_record
    from layerwise.reproduce.course import COURSE_HARDWARE

    rows = [[name, "out of memory" if s is None else f"{s:,.0f}", None]
            for name, s in COURSE_HARDWARE]
    for name in names:
        record = read_record(directory / f"{name}.json")
        f, env = record["figures"], record["environment"]
        rows.append([f"this project: {env.get('cpu')}, {env.get('cpu_count')} cores, "
                     f"{env.get('torch_threads')} threads (`{name}.json`)",
                     f"{f['train_seconds']:,.0f}", f"{f['test_accuracy']:.2%}"])
    return "\n".join(_table(["hardware", "seconds for 20,000 steps", "test accuracy"], rows))


def notebook(number: str) -> str:
    found = sorted((ROOT / "notebooks").glob(f"lab{number}*.ipynb"))
    if not found:
        return f"No notebook for Lab {number} is committed yet."
    return "Notebook: " + ", ".join(f"`{p.relative_to(ROOT)}`" for p in found) + "."


def command_output(argv: list[str]) -> str:
    """Run `layerwise ARGV` now (a command of a second or two that reads committed files)
    and show what it prints."""
    import contextlib
    import io

    from layerwise.cli.main import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.chdir(ROOT):  # its paths: the repo's
        status = main(argv)
    if status:
        raise RuntimeError(f"docs/hooks.py: `layerwise {' '.join(argv)}` exited {status}")
    return "\n".join([f"`layerwise {' '.join(argv)}` prints (run while this page was built):",
                      "", "```text", printed.getvalue().rstrip(), "```"])


def lab_output(number: str) -> str:
    """Run one of the instant labs (1-3) now and show what it prints."""
    from layerwise import labs
    from layerwise.lab_options import LabOptions
    lines, _ = getattr(labs, f"lab{int(number)}")(LabOptions(progress=False))
    return "\n".join([f"`layerwise lab {number}` prints (run while this page was built):", "",
                      "```text", *lines, "```"])


def modules(package: Path = ROOT / "src" / "layerwise") -> str:
    """Every module of the package with the first sentence of its docstring (read, not imported)."""
    import ast

    rows = []
    for path in sorted(package.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        first = re.split(r"(?<=[a-z0-9)\]`'\"]\.)\s+(?=[A-Z])", first)[0] if first else "–"
        name = path.relative_to(package).as_posix()
        rows.append([f"`{name}`", first.replace("|", "/")])   # a table cell cannot hold '|'
    return "\n".join(_table(["file under src/layerwise/", "what it holds (its docstring)"], rows))


def fill(markdown: str) -> str:
    def one(match: re.Match) -> str:
        kind, args = match.group(1), match.group(2).split()
        if kind == "cli-reference":
            return cli_reference()
        if kind == "bench-tables":
            return bench_tables()
        if kind == "bench-table":
            return bench_tables(names=args, headings=False)
        if kind == "command-output":
            return command_output(args)
        if kind == "results":
            return results([a.replace("_", " ") for a in args])
        if kind == "runs":
            return runs(args)
        if kind == "course-hardware":
            return course_hardware(args)
        if kind == "modules":
            return modules()
        if kind == "lab-output":
            return lab_output(args[0])
        if kind == "notebook":
            return notebook(args[0])
        raise ValueError(f"docs/hooks.py: unknown generated part {kind!r}")
    return MARKER.sub(one, markdown)


def on_page_markdown(markdown, page=None, config=None, files=None):
    return fill(markdown)
