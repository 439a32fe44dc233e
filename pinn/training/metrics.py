"""What a run reports: metrics.jsonl lines, their truncation on resume, the progress bar, divergence errors.

metrics.jsonl holds one JSON object per logged step: step, phase, loss, the unweighted terms (TERM_NAMES),
``w_<group>`` weights, lr (NaN in the L-BFGS phase), pattern_speed (model units) and time_s (seconds since
the loop started in this process).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

from pinn.config.schema import Config
from pinn.errors import TrainingDiverged
from pinn.io import write_text
from pinn.training.checkpoints import Checkpoints
from pinn.training.losses import GROUP_NAMES, TERM_NAMES, group_losses


def metrics_line(step: int, phase: str, loss: float, terms: Sequence[float], weights: Sequence[float],
                 lr: float, c: float, wall: float) -> dict:
    """One metrics.jsonl record (values before the update of ``step``)."""
    line = {"step": step, "phase": phase, "loss": float(loss)}
    line.update({k: float(v) for k, v in zip(TERM_NAMES, terms)})
    line.update({f"w_{k}": float(v) for k, v in zip(GROUP_NAMES, weights)})
    line.update({"lr": float(lr), "pattern_speed": float(c), "time_s": round(wall, 3)})
    return line


def chunk_lines(config: Config, schedule: optax.Schedule, phase: str, s0: int, loss: np.ndarray,
                terms: np.ndarray, weights: np.ndarray, cs: np.ndarray, bad: np.ndarray,
                wall: float) -> list[dict]:
    """Records of one chunk's logged steps: every train.log_every, the last step, and a first bad step
    (after which the chunk's values are dropped)."""
    tc = config.train
    total = tc.adam_steps + tc.lbfgs_steps
    lines = []
    for i in range(len(loss)):
        s = s0 + i
        if s % tc.log_every == 0 or s == total - 1 or bad[i]:
            lr = float(schedule(min(s, tc.adam_steps))) if phase == "adam" else math.nan
            lines.append(metrics_line(s, phase, loss[i], terms[i], weights[i], lr, cs[i], wall))
        if bad[i]:
            break
    return lines


def append_lines(path: Path, lines: list[dict]) -> None:
    """Append records to metrics.jsonl, one JSON object a line."""
    with open(path, "a") as fh:
        fh.writelines(json.dumps(ln) + "\n" for ln in lines)


def truncate_metrics(path: Path, before_step: int) -> None:
    """Keep the metrics lines of steps < before_step (a resumed run re-runs the rest)."""
    if not path.exists():
        return
    keep = []
    for text in path.read_text().splitlines():
        try:
            if json.loads(text)["step"] < before_step:
                keep.append(text)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill

    write_text(path, "".join(t + "\n" for t in keep))


def progress_bar(enabled: bool, total: int, start: int) -> Any:
    """A tqdm bar over the run's steps, or None when train.progress is off."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="pinn train", unit="step", dynamic_ncols=True)


def bar_postfix(config: Config, loss: float, terms: np.ndarray, c: float) -> dict[str, str]:
    """The bar's postfix: total loss, each group loss and the pattern speed."""
    groups = group_losses(jnp.asarray(terms), config.loss.residual_weights)
    return {"loss": f"{loss:.2e}", **{k: f"{v:.1e}" for k, v in zip(GROUP_NAMES, groups)}, "c": f"{c:.3g}"}


def raise_diverged(config: Config, step: int, loss: float, terms: Sequence[float], ckpt: Checkpoints | None,
                   out_dir: Any) -> None:
    """Raise TrainingDiverged naming the step, the terms and the last good checkpoint (left intact)."""
    detail = ", ".join(f"{k}={float(v):.3g}" for k, v in zip(TERM_NAMES, terms))
    where = "no checkpoint kept (no --out)"
    if ckpt is not None:
        ckpt.wait()
        last = ckpt.latest()
        where = (f"last good checkpoint: step {last} in {Path(out_dir) / 'checkpoints'} (left intact)"
                 if last is not None else "no checkpoint was written yet")
    tc = config.train
    raise TrainingDiverged(
        f"training diverged: non-finite loss or parameters at step {step} (loss={float(loss):.3g}; {detail}); "
        f"{where}. Lower train.learning_rate (now {tc.learning_rate:g}) or set train.grad_clip "
        f"(now {tc.grad_clip})"
    )


def raise_ensemble_diverged(strengths_kG: Sequence[float], loss: np.ndarray, step: int) -> None:
    """Raise TrainingDiverged naming the members (by strength, kG) whose loss went non-finite."""
    bad = [s for s, l in zip(strengths_kG, loss) if not np.all(np.isfinite(l))]
    raise TrainingDiverged(f"ensemble training diverged at step <= {step} for members with "
                           f"strengths {bad} kG; lower train.learning_rate")
