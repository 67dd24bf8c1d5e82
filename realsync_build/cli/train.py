"""``realsync train`` and ``realsync evaluate``: the bundled StreamSync trainer and evaluator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import ProgressOpt, RootOpt, app, fail, root_of, code_of
from realsync_build.core.errors import RealsyncError

# --workers means parallel worker processes everywhere; here they are the DataLoader's
LOADER_WORKERS_HELP = (
    "Parallel worker processes, here the DataLoader's, decoding clips for the model (default: the CPU cores of "
    "each training process - 1, at most 8: one core feeds the model; 0 decodes in the training process)."
)
EVAL_WORKERS_HELP = (
    "Parallel worker processes, here the DataLoader's, decoding segments (default: the number of CPU cores this "
    "process may use; 0 decodes in this process)."
)


@app.command()
def train(
    root: RootOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default: ROOT/runs/streamsync-<model size>).")] = None,
    model_size: Annotated[str, typer.Option("--model-size", help="Model size: tiny (CPU, minutes) or base (GPU, near SparseSync). Was --config tiny|base (deprecated).")] = "tiny",
    stream_head: Annotated[str, typer.Option("--stream-head", help="Streaming head: trf (3-layer transformer) or lstm (3-layer LSTM).")] = "trf",
    history: Annotated[int, typer.Option("--history", "-H", min=1, help="H: windows per training example (evaluation history is unlimited).")] = 12,
    backprop_iterations: Annotated[int, typer.Option("--backprop-iterations", "-K", min=1, help="K: phase-2 iterations whose snapshot features get gradients; no stream loss before iteration K.")] = 3,
    head_dropout: Annotated[float, typer.Option("--head-dropout", min=0.0, max=0.9, help="Streaming head dropout (the StreamSync code: 0.1).")] = 0.1,
    recipe: Annotated[str, typer.Option("--recipe", help="paper: what the paper states (global batch 16, lr 4e-5, linear decay, phase 1 of 500 steps; Adam, eps 1e-7, no weight decay as the code); repo: what the released StreamSync code does (2 clips x 2 accumulation per process, lr 5e-6 x processes, 500-step warm-up from lr/100, 5000 constant, 7000 decaying to lr x 1e-4, phase 1 of 250 steps, K window cycling, span audio, windows 2 s early). The options below marked 'recipe' override it; config.json records the resolved values.")] = "paper",
    phase1_steps: Annotated[Optional[int], typer.Option("--phase1-steps", min=0, help="Phase 1 steps (new parts only when pretrained). Default: the recipe's (paper 500, repo 250).", show_default=False)] = None,
    phase2_epochs: Annotated[int, typer.Option("--phase2-epochs", min=0, help="Phase 2 epochs over the train clips.")] = 3,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Stop after this many steps in total.")] = None,
    phase1_freeze: Annotated[str, typer.Option("--phase1-freeze", help="Freeze pretrained parts in phase 1: auto (iff --init-from), yes, no.")] = "auto",
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Examples (each H windows) per micro-batch per process. Default: the recipe's (paper: 16 / (processes x accumulation), repo 2).", show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate. Default: the recipe's (paper 4e-5, repo 5e-6 x processes).", show_default=False)] = None,
    accumulation: Annotated[Optional[int], typer.Option("--accumulation", min=1, help="Micro-batches per optimiser step (global batch = batch x processes x this). Default: the recipe's (paper 1, repo 2).", show_default=False)] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="adam or adamw (betas 0.9/0.999). Default: the recipe's (adam).", show_default=False)] = None,
    adam_eps: Annotated[Optional[float], typer.Option("--adam-eps", help="Adam epsilon. Default: the recipe's (1e-7, the code's value under half precision).", show_default=False)] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", min=0.0, help="Weight decay. Default: the recipe's (0).", show_default=False)] = None,
    lr_schedule: Annotated[Optional[str], typer.Option("--lr-schedule", help="linear (to 0 over the planned run) or warmup-constant-decay (the code's: --warmup-steps from lr/100, --constant-steps, then --decay-steps to lr x 1e-4). Default: the recipe's.", show_default=False)] = None,
    warmup_steps: Annotated[Optional[int], typer.Option("--warmup-steps", min=1, help="warmup-constant-decay: warm-up steps (recipe repo: 500).", show_default=False)] = None,
    constant_steps: Annotated[Optional[int], typer.Option("--constant-steps", min=0, help="warmup-constant-decay: constant steps (recipe repo: 5000).", show_default=False)] = None,
    decay_steps: Annotated[Optional[int], typer.Option("--decay-steps", min=1, help="warmup-constant-decay: decay steps (recipe repo: 7000).", show_default=False)] = None,
    k_placement: Annotated[Optional[str], typer.Option("--k-placement", help="Phase 2's K window: uniform (a uniform start per step, the paper) or cycle (micro-batch % (H - 2K) + K, the code; needs H > 2K). Default: the recipe's.", show_default=False)] = None,
    audio_frontend: Annotated[Optional[str], typer.Option("--audio-frontend", help="window: each 5 s window's spectrogram alone (626 frames, standardised over the window; causal, as the monitor runs) or span: the code's (standardised over the whole 5 s + H x hop span, 625 frames cut from it). Default: the recipe's (paper window, repo span).", show_default=False)] = None,
    window_start: Annotated[Optional[str], typer.Option("--window-start", help="listed: windows from each train row's start; code: 2 s before it, as the code's loader. Default: the recipe's (paper listed, repo code).", show_default=False)] = None,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", min=0.0, max=0.5, help="Target mass on each neighbouring class (0.1: 0.1/0.8/0.1).")] = 0.1,
    hop: Annotated[float, typer.Option("--hop", help="Seconds between training windows (shrinks on short clips).")] = 1.0,
    jitter: Annotated[float, typer.Option("--jitter", help="+/- seconds of random jitter per window (the StreamSync code: 0).")] = 0.0,
    workers: Annotated[Optional[int], typer.Option("--workers", min=0, help=LOADER_WORKERS_HELP, show_default=False)] = None,
    eval_every: Annotated[int, typer.Option("--eval-every", min=0, help="Dev evaluation every N steps (0: end of each phase).")] = 0,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=1, help="Save last.pt every N steps.")] = 100,
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Snapshot predictor to start from (strict key check): a path, or a registry name such as sparsesync-vggsound-sparse (realsync models download NAME first).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:1 ... (under torchrun: cuda = cuda:LOCAL_RANK)")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="fp32, bf16 (autocast) or fp16 (autocast + grad scaler).")] = "fp32",
    progress: ProgressOpt = True,
) -> None:
    """Train StreamSync on the export's shards (shards/train-*.tar; dev segments pick best.pt).

    --recipe paper (the default: the paper's stated settings) or repo (the released StreamSync code's), see docs/streamsync.md "Recipes"; flags override the recipe.

    Writes RUN/config.json (the recipe and every setting it resolved to), metrics.csv/.jsonl, last.pt (model, optimiser, scheduler, scaler, RNGs, data position:
    --resume continues bit for bit), best.pt (by dev mAP), summary.json.  Several processes (one per GPU):
    torchrun --standalone --nproc_per_node N $(which realsync) train ... (gloo on --device cpu).
    """
    from realsync_build.streamsync.checkpoint import InitError
    from realsync_build.streamsync.data import DecodeError
    from realsync_build.core.device import check_device
    from realsync_build.stages.export.webdataset import check_train_inputs
    from realsync_build.streamsync.train import TrainConfig, run_train

    from realsync_build.streamsync.recipes import CHOICES, RECIPES

    for flag, value, allowed in (("--model-size", model_size, ("tiny", "base")), ("--stream-head", stream_head, ("trf", "lstm")),
                                 ("--phase1-freeze", phase1_freeze, ("auto", "yes", "no")), ("--recipe", recipe, tuple(RECIPES)),
                                 *((f"--{k.replace('_', '-')}", v, CHOICES[k]) for k, v in (
                                     ("optimizer", optimizer), ("lr_schedule", lr_schedule), ("k_placement", k_placement),
                                     ("audio_frontend", audio_frontend), ("window_start", window_start)) if v is not None)):  # fmt: skip
        if value not in allowed:
            fail(f"{flag} {value!r}: use {', '.join(allowed)}")  # a usage error: exit 2
    check_device(device)
    ds = root_of(root, must_exist=True)
    check_train_inputs(ds)
    cfg = TrainConfig(
        recipe=recipe, config=model_size, stream_head=stream_head, history=history, backprop_iterations=backprop_iterations,
        phase1_steps=phase1_steps, phase2_epochs=phase2_epochs, max_steps=max_steps, phase1_freeze=phase1_freeze, batch_size=batch_size,
        lr=lr, accumulation=accumulation, optimizer=optimizer, adam_eps=adam_eps, weight_decay=weight_decay, lr_schedule=lr_schedule,
        warmup_steps=warmup_steps, constant_steps=constant_steps, decay_steps=decay_steps, k_placement=k_placement,
        audio_frontend=audio_frontend, window_start=window_start,
        label_smoothing=label_smoothing, hop_s=hop, jitter_s=jitter, workers=workers, precision=precision, eval_every=eval_every, checkpoint_every=checkpoint_every,
        init_from=str(init_from) if init_from else None, seed=seed, device=device, progress=progress,
        model_overrides={"stream_dropout": head_dropout},
    )
    try:
        run_train(ds, out or ds.runs / f"streamsync-{model_size}", cfg, resume=resume)
    except RealsyncError as exc:  # one line, with its exit code (2: a wrong option, 1: no CUDA ...)
        fail(str(exc), code=exc.exit_code)
    except (InitError, FileNotFoundError, ValueError, DecodeError) as exc:
        fail(str(exc), code=code_of(exc))


@app.command()
def evaluate(
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="A checkpoint from realsync train (RUN/best.pt), or a public SparseSync file / registry name (snapshot rows only).")],
    root: RootOpt = None,
    split: Annotated[str, typer.Option("--split", help="dev or test: whose fixed segments to evaluate.")] = "test",
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: ROOT/report/eval-<split>).")] = None,
    iterations: Annotated[str, typer.Option("--iterations", help="Windows per segment, or several counts (2,4,12,24,32,40,48: mAP per count, Table 4); clamped to what fits.")] = "18",
    hop: Annotated[float, typer.Option("--hop", help="Seconds between a segment's windows.")] = 2.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Segments per batch.")] = 8,
    workers: Annotated[Optional[int], typer.Option("--workers", min=0, help=EVAL_WORKERS_HELP, show_default=False)] = None,
    ablation: Annotated[bool, typer.Option("--ablation/--no-ablation", help="Also evaluate with audio silenced and video blanked.")] = True,
    cost: Annotated[bool, typer.Option("--cost/--no-cost", help="Measure ms per iteration at batch 1 (snapshot vs each head).")] = True,
    max_segments: Annotated[Optional[int], typer.Option("--max-segments", min=1, help="Evaluate only the first N segments.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda ...")] = "auto",
    pretrained: Annotated[Optional[str], typer.Option("--pretrained", help="Also evaluate this public SparseSync (registry name or path) without fine-tuning: Table 3's pretrained row.")] = None,
    window_start: Annotated[str, typer.Option("--window-start", help="listed: each segment's windows from its listed start; code: 2 s before it, as the StreamSync code's loader.")] = "listed",
    progress: ProgressOpt = True,
) -> None:
    """Evaluate snapshot, APA and StreamSync on the fixed dev/test segments.

    Writes OUT/metrics.json (acc, acc_pm1, roc_auc, map per method, per scenario and channel; accuracy by
    iteration; modality ablation; inference cost), OUT/by_iteration.csv and OUT/by_iteration.png.
    Beside every figure: the floors of two constant predictors on the same segments (always offset
    0, the most common class; "baselines"), and OUT/paper_tables.md/.json with every figure of the
    paper's Tables 3-6 beside the measured one (also in ROOT/report).
    """
    from realsync_build.streamsync.checkpoint import InitError
    from realsync_build.streamsync.evaluate import EvalOptions, run_evaluate

    if split not in ("dev", "test"):
        fail(f"--split {split!r}: use dev or test")
    if window_start not in ("listed", "code"):
        fail(f"--window-start {window_start!r}: use listed or code")
    from realsync_build.core.device import check_device
    from realsync_build.streamsync.evaluate import parse_iterations

    check_device(device)
    try:
        parse_iterations(iterations)
    except ValueError as exc:
        fail(str(exc))
    if checkpoint.endswith((".pt", ".pth", ".ckpt")) and not Path(checkpoint).is_file():  # a file, not a registry name
        fail(f"checkpoint not found: {checkpoint}")
    ds = root_of(root, must_exist=True)
    from realsync_build.core.executors.base import default_workers
    from realsync_build.stages.export.webdataset import check_train_inputs

    check_train_inputs(ds, split)
    workers = default_workers() if workers is None else workers
    opts = EvalOptions(iterations=iterations, hop_s=hop, batch_size=batch_size, workers=workers, ablation=ablation, cost=cost,
                       max_segments=max_segments, device=device, progress=progress, pretrained=pretrained, window_start=window_start)
    out = out or ds.report / f"eval-{split}"
    try:
        metrics = run_evaluate(ds, checkpoint, split, out, opts)
        ds.publish(out)  # a URL root: the evaluation goes to ROOT/report at the URL (a local --out stays)
    except RealsyncError as exc:
        fail(str(exc), code=exc.exit_code)
    except (InitError, FileNotFoundError, RuntimeError, ValueError) as exc:
        fail(str(exc), code=code_of(exc))
    from realsync_build.core.ui import console

    style = "green" if not metrics.get("n_failed") else "yellow"
    console.print(f"[{style}]evaluate {split}: {metrics.get('n_segments')} segments done, {metrics.get('n_failed')} failed; "
                  f"metrics in {out / 'metrics.json'}[/{style}]", highlight=False)  # fmt: skip
