"""One RBM run end to end, in one process or over the ranks of a torchrun job: load and prepare
the data, start or resume a trainer, train it with the one loop, measure, save.

`fit_rbm` is what `layerwise rbm train` calls. It picks the trainer: `CDTrainer` in one
process, `ParallelCD` when a `ParallelConfig` is given (required under torchrun). Everything
else (data, preprocessing, resume, progress, checkpoints, figures) is the same code for both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from layerwise.checkpoint import claim, stored_config
from layerwise.data.datasets import Dataset
from layerwise.distributed import Dist, join
from layerwise.errors import ConfigError
from layerwise.progress import stream
from layerwise.rbm import comm, io, shards
from layerwise.rbm.data import Preprocessing, fit_preprocessing
from layerwise.rbm.features import compare
from layerwise.rbm.images import filter_grid, filters_title, save_png
from layerwise.rbm.loop import EpochRecord, Trainer, run_epochs
from layerwise.rbm.measures import reconstruction_error
from layerwise.rbm.model import RBM, RBMConfig, check_native_products
from layerwise.rbm.monitor import RBMMonitor, epoch_measures, write_epoch_curves
from layerwise.rbm.parallel import ParallelCD, ParallelConfig
from layerwise.rbm.train import CDConfig, CDTrainer
from layerwise.resume import CD_MAY_CHANGE, reconcile, with_changes
from layerwise.runtime import (
    DataLike,
    RunConfig,
    as_dataset,
    check_outputs,
    check_path,
    setup_device,
)
from layerwise.settings import check_argument

MEASURE_SAMPLE = 1000  # examples used for the per-epoch pseudo-likelihood and free-energy gap


@dataclass
class RBMResult:
    """What a run produced. `rbm` is the whole trained model on the run's device (None on the
    ranks of a parallel run other than 0); `preprocessing` maps raw examples to its visible
    units; `history` holds one row per epoch."""

    rbm: RBM | None
    preprocessing: Preprocessing
    dataset: str
    device: str
    epochs: int
    epoch_seconds: float | None  # mean over the epochs this run trained
    recon_error: float | None  # on the test split, when there is one
    history: list[dict]
    details: dict = field(default_factory=dict)  # precision, parallel figures, feature accuracy

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden probabilities p(h | v) (N, H) of raw examples x (N, ...), prepared as in
        training."""
        rbm = self.rbm
        return rbm.transform(self.preprocessing(x.to(rbm.W.device), rbm.W.dtype))

    def to_dict(self) -> dict:
        """The run's figures as `layerwise rbm train --json` prints them."""
        cfg = self.rbm.cfg if self.rbm is not None else None
        model = f"rbm {cfg.n_visible}x{cfg.n_hidden} {cfg.visible}" if cfg else "rbm"
        return {"model": model, "dataset": self.dataset, "device": self.device,
                "epochs": self.epochs, "epoch_seconds": self.epoch_seconds,
                "recon_error": self.recon_error, **self.details, "history": self.history}


def fit_rbm(model: RBMConfig | None, data: DataLike, cd: CDConfig | None = None,
            run: RunConfig | None = None, *, parallel: ParallelConfig | None = None,
            binarize: bool | None = None, checkpoint: str | None = None,
            shards: str | None = None,
            images: str | None = None, eval_features: bool = False,
            cuda_graphs: bool = False, progress: bool = True) -> RBMResult:
    """Train an RBM `model` (or resume `run.resume`) on `data`: a dataset name, a `Dataset`, or a
    tensor/array of examples (N, ...); binary units take values in [0, 1] (`binarize`
    thresholds at 0.5), Gaussian units are standardised per input on the training data.

    `checkpoint` is rewritten after every epoch; `shards` (parallel runs) is a sharded
    checkpoint directory, also written every epoch and resumed with `RunConfig(resume=DIR)`.
    `images` gets filters.png; `eval_features` compares softmax on the features with softmax
    on the raw inputs. Under torchrun every rank calls this with the same arguments.

    With `run.resume`, `model`, `cd`, `parallel` and `binarize` left None continue the stored
    run as it was; given (see `layerwise.resume_recipe`), their changes of epochs, learning rate,
    momentum, penalty or product precision are applied and said, and any other change refused."""
    for name, value, kind in (("model", model, RBMConfig), ("cd", cd, CDConfig),
                              ("run", run, RunConfig), ("parallel", parallel, ParallelConfig)):
        check_argument(value, name, (kind, type(None)))
    check_argument(binarize, "binarize", (bool, type(None)))
    if run is not None and run.resume:
        check_path(run.resume, "resume")
    run = run or RunConfig()
    if not run.resume:
        model, cd, binarize = model or RBMConfig(), cd or CDConfig(), bool(binarize)
    check_outputs(checkpoint, logdir=run.logdir, plots=images, shards=shards)
    dist = join(setup_device(run), run.timeout)
    try:
        with claim(checkpoint if dist.is_main else None):
            return _train(data, model, cd, parallel, run, dist, binarize, checkpoint, shards,
                          images, eval_features, cuda_graphs, progress and dist.is_main)
    finally:
        dist.close()


def check_parallel_options(parallel: ParallelConfig | None, dist: Dist, run: RunConfig,
                           shards: str | None, images: str | None, eval_features: bool,
                           cuda_graphs: bool) -> None:
    """What a parallel run cannot do, refused in one sentence before anything starts."""
    if parallel is None:
        if dist.active:
            raise ConfigError(f"this job runs on {dist.world_size} ranks; choose how to split "
                              "the RBM with --parallel model|data|visible.")
        if shards:
            raise ConfigError("--shards is for parallel runs; add --parallel model|data|visible.")
        return
    if eval_features or images or run.logdir:
        raise ConfigError("--eval-features, --images and --logdir are for single-process runs; "
                          "run them on the checkpoint that --save writes (rbm features, rbm "
                          "sample).")
    if cuda_graphs:
        raise ConfigError("--cuda-graphs is for single-process runs: the parallel algorithms "
                          "exchange states between the steps of an epoch.")


def _train(data, model, cd, parallel, run, dist: Dist, binarize, checkpoint, shard_dir, images,
           eval_features, cuda_graphs, progress) -> RBMResult:
    check_parallel_options(parallel, dist, run, shard_dir, images, eval_features, cuda_graphs)
    with dist.main_first("loading the data"):
        data = as_dataset(data, run, cd.seed, dist.device, progress)
    if run.resume:
        trainer, prep, notes = _resume(run.resume, model, cd, parallel, binarize, dist)
        if progress:
            for line in notes:
                print(line, file=stream(), flush=True)
        n_visible, width = trainer.rbm_config.n_visible, data.train.x[0].numel()
        if n_visible != width:
            raise ConfigError(f"{run.resume} has {n_visible} visible units but {data.name}'s "
                              f"examples have {width} values.")
    else:
        trainer, prep = _start(data, model, cd, parallel, dist, binarize)
    check_native_products(trainer.cd.matmul, dist.device)
    single = isinstance(trainer, CDTrainer)
    dtype = trainer.rbm_config.torch_dtype
    x = prep(data.train.x, dtype)
    history: list[dict] = []
    measure = _Measures(trainer.rbm, x, data, prep, trainer.cd.seed, run.logdir) if single \
        else None

    def on_epoch(record: EpochRecord) -> None:
        row = {k: v for k, v in dataclasses.asdict(record).items()
               if v is not None or (not single and k == "sync_drift")}
        if measure is not None:
            row.update(measure.epoch(record.epoch, row))
        history.append(row)
        _save(trainer, prep, data.name, checkpoint, shard_dir)
        if progress:
            print(epoch_line(row), file=stream(), flush=True)
            if len(history) == 1 and measure is not None:
                print(MEASURES_NOTE, file=stream(), flush=True)

    try:
        records = run_epochs(trainer, x, on_epoch, cuda_graphs=cuda_graphs)
    finally:
        if measure is not None:
            measure.close()
    if not records:  # nothing left to train (--epochs 0, or reached): still keep what was asked
        _save(trainer, prep, data.name, checkpoint, shard_dir)
    details = _parallel_figures(trainer, records, len(x)) if not single else {
        "dtype": trainer.rbm.cfg.dtype, "matmul": trainer.cd.matmul, "cuda_graphs": cuda_graphs}
    rbm = trainer.full_rbm()
    if rbm is None:  # ranks other than 0 of a parallel run
        return RBMResult(None, prep, data.name, str(dist.device), trainer.epoch, None, None,
                         history)
    rbm = rbm.to(dist.device)
    result = RBMResult(rbm, prep, data.name, str(dist.device), trainer.epoch,
                       sum(r.seconds for r in records) / len(records) if records else None,
                       reconstruction_error(rbm, prep(data.test.x, dtype)) if len(data.test)
                       else None, history, details)
    _finish(result, data, images, eval_features, progress)
    return result


def _start(data: Dataset, model: RBMConfig, cd: CDConfig, parallel: ParallelConfig | None,
           dist: Dist, binarize: bool) -> tuple[Trainer, Preprocessing]:
    prep = fit_preprocessing(data.train.x, model.visible, binarize)
    model = dataclasses.replace(model, n_visible=data.train.x[0].numel())
    init = RBM(model, torch.Generator().manual_seed(cd.seed))
    if parallel is None:
        return CDTrainer(init.to(dist.device), cd), prep
    return ParallelCD.create(init, cd, parallel, dist), prep


def _stored(path: str) -> tuple[dict, RBMConfig, CDConfig, ParallelConfig | None]:
    """The payload (single run) or manifest (parallel run) saved at `path`, and its configs."""
    if Path(path).is_dir():
        saved = shards.read_manifest(path)
        return saved, RBMConfig.from_dict(saved["model"]), CDConfig(**saved["train"]), \
            ParallelConfig(**saved["parallel"])
    saved = io.load_payload(path)
    recipe = CDConfig(**io.stored_recipe(saved, path))
    model = stored_config(RBMConfig, saved["model"], path, "model",
                          required=("n_visible", "n_hidden", "visible"))
    return saved, model, recipe, None


def train_rbm(data: DataLike, model: RBMConfig | None = None, cd: CDConfig | None = None,
              run: RunConfig | None = None, **options) -> RBMResult:
    """Deprecated: `fit_rbm(model, data, cd, run, ...)`, whose arguments come in the order of
    `fit(model, data, ...)`. Kept for one release."""
    import warnings

    warnings.warn("layerwise.train_rbm(data, model, ...) is now fit_rbm(model, data, ...); "
                  "train_rbm will be removed in the next release.", DeprecationWarning,
                  stacklevel=2)
    return fit_rbm(model, data, cd, run, **options)


def rbm_recipe(path: str, model: dict | None = None, cd: dict | None = None,
               parallel: dict | None = None
               ) -> tuple[RBMConfig, CDConfig, ParallelConfig | None]:
    """The architecture, recipe and split (None for a single-process run) of the RBM run saved
    at `path` (a checkpoint file, or a parallel run's shard directory) with `model`, `cd` and
    `parallel` (RBMConfig, CDConfig and ParallelConfig fields) changed: what `fit_rbm` is
    given to continue it, e.g. with more epochs or a new learning rate."""
    _, stored_model, stored_cd, stored_parallel = _stored(path)
    if stored_parallel is not None:
        stored_parallel = with_changes(stored_parallel, parallel or {})
    return (with_changes(stored_model, model or {}), with_changes(stored_cd, cd or {}),
            stored_parallel)


def _resume(path: str, model: RBMConfig | None, cd: CDConfig | None,
            parallel: ParallelConfig | None, binarize: bool | None, dist: Dist
            ) -> tuple[Trainer, Preprocessing, list[str]]:
    """The trainer of the run saved at `path` (a checkpoint file, or a sharded directory for
    parallel runs), with the changes `model`, `cd` and `parallel` ask for (see reconcile)."""
    saved, stored_model, stored_cd, stored_parallel = _stored(path)
    if (parallel is None) != (stored_parallel is None):
        kind = "parallel" if stored_parallel else "single-process"
        how = "with --parallel, from its --shards directory" if stored_parallel else \
            "without --parallel"
        raise ConfigError(f"{path} was written by a {kind} run; resume it {how}.")
    pairs = [(stored_model, model or stored_model), (stored_cd, cd or stored_cd)]
    if parallel is not None:
        pairs.append((stored_parallel, parallel))
    notes = reconcile(path, pairs, CD_MAY_CHANGE)
    if cd is not None:
        stored_cd = with_changes(stored_cd, {k: getattr(cd, k) for k in CD_MAY_CHANGE
                                             if getattr(cd, k) is not None})
    if parallel is None:
        prep = _same_binarize(path, io.load_preprocessing(saved), binarize)
        rbm = io.rbm_from_payload(saved, path).to(dist.device)
        return io.resume_trainer(saved, rbm, cd=stored_cd), prep, notes
    state, prep = shards.load_shard(path, saved, dist)
    _same_binarize(path, prep, binarize)
    init = RBM(stored_model, torch.Generator().manual_seed(stored_cd.seed))
    trainer = ParallelCD.create(init, stored_cd, stored_parallel, dist)
    trainer.load_state_dict(state)
    return trainer, prep, notes


def _same_binarize(path: str, prep: Preprocessing, binarize: bool | None) -> Preprocessing:
    """`prep`, unless the run asks for another binarisation than the one trained with."""
    if binarize is not None and binarize != prep.binarize:
        raise ConfigError(f"{path} was trained {'with' if prep.binarize else 'without'} "
                          "--binarize, and a resumed run cannot change that.")
    return prep


def _save(trainer: Trainer, prep: Preprocessing, dataset: str, checkpoint: str | None,
          shard_dir: str | None) -> None:
    """After an epoch: the sharded checkpoint (parallel) and the ordinary one (rank 0)."""
    if shard_dir:
        shards.save_shards(shard_dir, trainer, prep, dataset)
    if not checkpoint:
        return
    if isinstance(trainer, CDTrainer):
        io.save(checkpoint, trainer.rbm, prep, trainer, dataset=dataset)
        return
    rbm = trainer.full_rbm()  # a collective: every rank takes part
    if rbm is not None:
        io.save(checkpoint, rbm, prep, dataset=dataset, epochs=trainer.epoch,
                train_config=trainer.cd)


class _Measures:
    """Per-epoch measures on fixed samples (single-process runs, whose RBM is at hand), and the
    TensorBoard writer when there is a log directory."""

    def __init__(self, rbm: RBM, x: torch.Tensor, data: Dataset, prep: Preprocessing, seed: int,
                 logdir: str | None):
        self.rbm = rbm
        self.generator = torch.Generator(x.device).manual_seed(seed + 2)
        # A fixed random sample: the gap's level carries sampling noise, its trend is the signal.
        pick = torch.randperm(len(x), generator=self.generator, device=x.device)
        self.sample = x[pick[:MEASURE_SAMPLE]]
        self.held = prep(data.val.x[:MEASURE_SAMPLE], x.dtype) if data.val is not None else None
        self.monitor = RBMMonitor(logdir) if logdir else None

    def epoch(self, epoch: int, row: dict) -> dict:
        figures = epoch_measures(self.rbm, self.sample, self.held, self.generator)
        if self.monitor is not None:
            self.monitor.epoch(epoch, self.rbm, {**row, **figures})
        return figures

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()


# What the epoch lines' figures mean, said once under the first (a learner reads them there).
MEASURES_NOTE = (
    "note: recon error is the mean squared difference between the data and E[v | h] one\n"
    "  Gibbs step away, per visible value; pseudo_likelihood (binary units) is the mean\n"
    "  log p(v_i | all other units) on a fixed sample of the training data, in nats per\n"
    "  visible unit: it rises towards 0 as the model learns; free_energy_gap is\n"
    "  mean F(held-out) - mean F(that sample), in nats per example: its level carries\n"
    "  sampling noise, a steady rise means the RBM is overfitting its training data.")


def epoch_line(row: dict) -> str:
    """One progress line per epoch: error, the measures or bytes sent, time."""
    parts = [f"epoch {row['epoch']:3}", f"recon error {row['recon_error']:.5f}"]
    parts += [f"{k} {row[k]:.4f}" for k in ("pseudo_likelihood", "free_energy_gap") if k in row]
    if "sent_bytes" in row:
        parts.append(f"sent {row['sent_bytes'] / 1e6:.2f} MB (rank 0)")
    if row.get("sync_drift") is not None:
        parts.append(f"sync drift {row['sync_drift']:.3g}")
    return "  ".join(parts + [f"{row['seconds']:.2f} s"])


def _parallel_figures(trainer: ParallelCD, records: list[EpochRecord], examples: int) -> dict:
    """Bytes each rank sent per epoch (a collective), the model's prediction, the drift log."""
    dist, cfg = trainer.dist, trainer.rbm_config
    sent = torch.tensor([r.sent_bytes for r in records] or [0], dtype=torch.float64,
                        device=dist.device)
    sent_by_rank = dist.all_gather(sent.mean().reshape(1), "collecting the bytes sent")
    problem = comm.Problem(cfg.n_visible, cfg.n_hidden, examples, trainer.cd.batch_size)
    return {"ranks": dist.world_size, "parallel": trainer.par.algorithm,
            "sent_bytes_per_epoch": [float(b) for b in sent_by_rank.view(-1)],
            "model_bytes_per_epoch": comm.epoch_bytes(problem, trainer.par.algorithm,
                                                      dist.world_size, cfg.visible, cfg.dtype),
            "sync_drift": list(trainer.sync_log)}


def _finish(result: RBMResult, data: Dataset, images: str | None, eval_features: bool,
            progress: bool) -> None:
    """The end-of-run extras: the filter grid, the per-epoch curves (their paths go to
    details["wrote"]) and the feature comparison."""
    if images:
        wrote = []
        grid = filter_grid(result.rbm.W)
        if grid is not None:
            result.details["filters_png"] = str(save_png(
                grid, Path(images) / "filters.png",
                filters_title(result.rbm.W, f"RBM on {data.name},")))
            wrote.append(result.details["filters_png"])
        if result.history:
            cfg = result.rbm.cfg
            wrote += [str(path) for path in write_epoch_curves(
                result.history, images, f"RBM {cfg.n_visible}x{cfg.n_hidden} {cfg.visible} on "
                f"{data.name}: reconstruction error"
                + (" and pseudo-likelihood" if not result.rbm.gaussian else "") + " per epoch")]
        result.details["wrote"] = wrote
    if eval_features:
        if data.task != "classification":
            raise ConfigError(f"--eval-features needs labelled data; {data.name} has none.")
        result.details.update(compare(result.rbm, result.preprocessing, data,
                                      progress=progress))
