"""Settings live once: every flag that sets a config field takes its default, help and choices
from the field; library errors name the field, the CLI says the flag."""

import argparse
import ast
import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given as given_values
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from layerwise.cli.flags import FIELD, flags_of, given, say_flags
from layerwise.cli.main import build_parser, main
from layerwise.errors import ConfigError, ConfigTypeError, LayerwiseError
from layerwise.lab_options import LabOptions
from layerwise.nn.config import ModelConfig
from layerwise.rbm.comm import Problem
from layerwise.rbm.config import CDConfig, ParallelConfig, RBMConfig
from layerwise.run_config import RunConfig
from layerwise.settings import default_of, fields_of
from layerwise.train.config import TrainConfig

CONFIGS = {cls.__name__: cls for cls in (TrainConfig, ModelConfig, RBMConfig, CDConfig,
                                         ParallelConfig, RunConfig, LabOptions, Problem)}
# Given, --parallel makes an RBM run parallel; absent, there is no ParallelConfig at all, so
# its help says "default: none" rather than the field's "model".
ABSENT_MEANS_OFF = {"ParallelConfig.algorithm"}


def _actions(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _actions(child, (*path, name))
        else:
            yield parser, path, action


def _setting_actions():
    return [(p, path, a) for p, path, a in _actions(build_parser()) if getattr(a, FIELD, None)]


def test_every_config_flag_takes_default_help_and_choices_from_its_field():
    checked, wrong = 0, []
    for parser, path, action in _setting_actions():
        cls_name, name = getattr(action, FIELD).split(".")
        field, where = fields_of(CONFIGS[cls_name])[name], f"{' '.join(path)} {action.dest}"
        default = default_of(CONFIGS[cls_name], name)
        if action.default is not argparse.SUPPRESS:
            wrong.append(f"{where}: the parser holds a default of its own, {action.default!r}")
        if tuple(action.choices or ()) != tuple(field.metadata["choices"] or ()):
            wrong.append(f"{where}: choices {action.choices} are not the field's")
        shown = parser.formatter_class("x")._get_help_string(action) % {}
        if not action.option_strings or getattr(action, FIELD) in ABSENT_MEANS_OFF:
            pass
        elif "default" in action.help:
            pass  # the help says what the default means (--eval-every: once an epoch)
        elif default is None or default is False:
            if "(default" in shown:
                wrong.append(f"{where}: help claims a default the field does not have")
        elif not shown.endswith(f"(default: {_cli(default)})"):
            wrong.append(f"{where}: help {shown!r} does not show the default {default!r}")
        checked += 1
    assert not wrong, wrong
    assert checked > 60  # train, curve, eval, rbm train, dbn, lab, reproduce, bench, data...


def _cli(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def test_run_flags_are_declared_once_from_runconfig():
    """--device, --threads, --gpu-memory-fraction, --timeout, --data-dir, --offline: wherever a
    command has one, it is RunConfig's (`data import --data-dir`, where to write, excepted)."""
    run_flags = {"--device", "--threads", "--gpu-memory-fraction", "--timeout", "--data-dir",
                 "--offline"}
    for _, path, action in _actions(build_parser()):
        for flag in set(action.option_strings) & run_flags:
            if path == ("data", "import"):
                continue
            assert getattr(action, FIELD, "").startswith("RunConfig."), (path, flag)


def test_reproduce_device_defaults_to_auto_like_every_command():
    parser = build_parser()
    args = parser.parse_args(["reproduce", "all", "--out", "x"])
    assert "device" not in vars(args)
    devices = {getattr(a, "config_default", a.default) for _, _, a in _actions(parser)
               if "--device" in a.option_strings}
    assert devices == {"auto"}


def test_lab5_runs_on_the_device_asked_for():
    from layerwise.labs import lab5

    with pytest.raises(ConfigError, match="--device 'tpu' is not a device"):  # not ignored
        lab5(LabOptions(device="tpu", steps=1, progress=False))
    args = build_parser().parse_args(["lab", "5", "--device", "cpu"])
    assert args.device == "cpu"


def test_an_omitted_flag_stays_absent_and_resume_overlays_only_the_flags_given():
    parser = build_parser()
    args = parser.parse_args(["train", "mlp", "--resume", "r.pt", "--lr", "0.01",
                              "--hidden", "8,4", "--init", "w.pt"])
    assert given(args, TrainConfig) == {"lr": 0.01}
    assert given(args, ModelConfig) == {"name": "mlp", "hidden": (8, 4)}  # not --init's path
    assert given(args, RunConfig) == {"resume": "r.pt"}
    args = parser.parse_args(["rbm", "train", "--resume", "r.pt", "--epochs", "3", "--pcd",
                              "--parallel", "data"])
    assert given(args, CDConfig) == {"epochs": 3, "persistent": True}
    assert given(args, RBMConfig) == {} and given(args, ParallelConfig) == {"algorithm": "data"}
    args = parser.parse_args(["rbm", "train"])
    assert given(args, CDConfig) == given(args, RBMConfig) == {}
    assert "binarize" not in vars(args) and "algorithm" not in vars(args)


def test_library_errors_name_the_field():
    with pytest.raises(ConfigError) as e:
        TrainConfig(lr=-1)
    assert str(e.value) == "TrainConfig.lr must be a positive number, got -1."
    assert e.value.field == "TrainConfig.lr" and isinstance(e.value, ValueError)
    for make, field in ((lambda: CDConfig(momentum=1.0), "CDConfig.momentum"),
                        (lambda: RBMConfig(n_hidden=0), "RBMConfig.n_hidden"),
                        (lambda: ParallelConfig(rng_blocks=0), "ParallelConfig.rng_blocks"),
                        (lambda: RunConfig(timeout=0), "RunConfig.timeout"),
                        (lambda: LabOptions(seeds=0), "LabOptions.seeds"),
                        (lambda: ModelConfig("mlp", hidden=(0,)), "ModelConfig.hidden")):
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as e:
            make()
        assert e.value.field == field and "--" not in str(e.value)


@pytest.mark.parametrize("make, field", [
    (lambda: TrainConfig(batch_size=2.5), "TrainConfig.batch_size"),
    (lambda: TrainConfig(batch_size=True), "TrainConfig.batch_size"),  # a bool is no count
    (lambda: TrainConfig(lr="0.1"), "TrainConfig.lr"),
    (lambda: RBMConfig(n_hidden=4.5), "RBMConfig.n_hidden"),
    (lambda: ModelConfig("mlp", hidden={"a": 1}), "ModelConfig.hidden"),
    (lambda: CDConfig(lr={"lr": 0.1}), "CDConfig.lr"),
    (lambda: RunConfig(device=0), "RunConfig.device"),
    (lambda: RBMConfig(sigma_bounds=(0.1,)), "RBMConfig.sigma_bounds"),
])
def test_wrong_types_are_type_errors_naming_the_field(make, field):
    with pytest.raises(ConfigTypeError) as e:
        make()
    assert e.value.field == field and str(e.value).startswith(field)
    assert isinstance(e.value, TypeError) and isinstance(e.value, ConfigError)


def test_ints_stand_for_floats_and_lists_for_tuples():
    assert TrainConfig(lr=1).lr == 1 and CDConfig(weight_decay=0).weight_decay == 0
    assert ModelConfig("mlp", hidden=[16, 8]).hidden == (16, 8)
    assert RunConfig(data_dir=Path("/tmp")).data_dir == Path("/tmp")


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.lists(st.integers(-2, 5), max_size=3).map(tuple),
                    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                    st.sampled_from(["adam", "mlp", "gaussian", "float64", "bf16", "model"]))


@hypothesis_settings(max_examples=300, deadline=None)
@given_values(cls=st.sampled_from(sorted(CONFIGS)), data=st.data())
def test_any_values_build_a_config_or_raise_a_layerwise_error(cls, data):
    cls = CONFIGS[cls]
    names = [f.name for f in dataclasses.fields(cls)]
    chosen = data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    values = {n: data.draw(_VALUES) for n in chosen}
    if cls is ModelConfig:
        values.setdefault("name", "mlp")
    try:
        config = cls(**values)
    except LayerwiseError:
        return
    for name, value in values.items():  # what was accepted is what is held
        held = getattr(config, name)
        assert held == value or isinstance(value, tuple) or value is None or (
            isinstance(value, float) and math.isnan(value))


def test_the_cli_says_flags_where_the_library_says_fields(capsys):
    flags = flags_of(build_parser())
    assert flags["TrainConfig.lr"] == "--lr" and flags["CDConfig.weight_decay"] == "--l2"
    assert flags["RBMConfig.n_hidden"] == "--hidden" and flags["RunConfig.device"] == "--device"
    assert say_flags("give TrainConfig.steps or TrainConfig.epochs, not both.", flags) == \
        "give --steps or --epochs, not both."
    assert main(["train", "mlp", "--lr", "-1", "--device", "cpu"]) == 2
    assert capsys.readouterr().err == \
        "layerwise: error: --lr must be a positive number, got -1.0.\n"
    assert main(["rbm", "train", "--l2", "-1", "--device", "cpu"]) == 2
    assert capsys.readouterr().err == "layerwise: error: --l2 must be non-negative, got -1.0.\n"


def test_the_cli_package_has_no_import_circles():
    cli = Path(__file__).parents[1] / "src" / "layerwise" / "cli"
    imports = {}
    for path in cli.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "layerwise.cli":
                    found |= {a.name for a in node.names}
                elif node.module.startswith("layerwise.cli."):
                    found.add(node.module.split(".")[2])
        imports[path.stem] = found

    def reaches(start, target, seen=()):
        return any(m == target or (m not in seen and reaches(m, target, (*seen, m)))
                   for m in imports.get(start, ()))

    circles = sorted(m for m in imports if reaches(m, m))
    assert not circles, circles
