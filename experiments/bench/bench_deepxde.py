"""DeepXDE comparison (docs/science.md section 6): PINN training throughput of pinn against DeepXDE (PyTorch backend).

What: collocation points x steps per second of one Adam training step, for the same PDE, network and batch,
measured in one process on one machine, three ways:

* ``ours``: pinn's own step (pinn.training: forward-mode derivatives, lax.scan-fused chunks), timed by
  experiments/bench/bench_training.py's ``step_measure`` (imported, not copied);
* ``deepxde``: the same loss and network written for DeepXDE and trained by DeepXDE's own path
  (``dde.data.PDE`` on a (lat, lon) ``Rectangle``, ``dde.Model.compile("adam")``, ``model.train``,
  ``PDEPointResampler(period=1)`` so that points are redrawn every step as in ours) - what a DeepXDE user
  gets;
* ``torch``: the same torch module and loss in a plain ``torch.optim.Adam`` loop (no DeepXDE), so that the
  report separates DeepXDE's overhead from torch's.

Why: the issue's goal is ours >= 3x the DeepXDE throughput. The number is measured, not tuned: both sides
use float32, the same number of CPU threads (torch.set_num_threads = the cores JAX sees), the same initial
weights, and best-of-blocks step times after a warm-up. The three methods are timed in alternation
(``--rounds``) and the best of the rounds is kept for each, so a load change on a shared machine does not
favour one of them; the load average is recorded at start and end.

The torch side (deliberately a second copy, for this benchmark only; the reference is
pinn/physics/equations.py ``primitive_residuals`` and pinn/losses.py ``loss_terms``):

* network ``TorchSphereNet`` (a ``deepxde.nn.pytorch.NN``): input (lat, lon) -> Cartesian unit vector ->
  random Fourier features [x, cos 2 pi B x, sin 2 pi B x] -> MLP with random weight factorisation
  W = V diag(exp(s)) -> (h, A, W); outputs (u, v, h, A) with (u, v) the tangent projection of W, as
  pinn.training.networks.SphereNet; weights copied from the JAX model;
* derivatives: reverse mode on the (lat, lon) inputs, ``deepxde.grad.jacobian`` in the DeepXDE run and
  ``torch.autograd.grad`` in the plain loop: a = -A_lat / h, b = A_lon / (cos h), then the lat/lon
  gradients of u, v, h (network outputs) and of a, b (second derivatives of A); d/dt = -c d/dlon with the
  trainable pattern speed c, as ours;
* loss: the terms of pinn.training.losses.TERM_NAMES listed in ``TORCH_TERMS`` with their group weights - the six
  residuals x cos(lat)^p / R (p = ``loss.residual_cos_power`` where the config has it, else 1),
  the toroid data term on the same points, the zonal-mean prior and the flow-departure term on a
  stratified (lat, lon) grid, mean(h) = 1 and the gauge of A on a Gauss-Legendre grid (these two grids
  are redrawn every step, inside the DeepXDE pde function, as ours redraws them). Each term is returned to
  DeepXDE as a vector whose mean square is the term, so DeepXDE's MSE loss with ``loss_weights`` is our
  weighted loss. A term of ours outside ``TORCH_TERMS`` (e.g. a higher-derivative term added later) must
  have weight 0 in the benchmarked config, else the run stops: the comparison would not be like for like.

Included/omitted relative to ours, as far as cost goes: the learning-rate schedule (warm-up + decay) is
omitted on the torch sides (a constant rate costs the same); the global-norm gradient clip is in the plain
torch loop but not in DeepXDE (its compile has no clip option); adaptive loss weights are off in all three
(off by default). DeepXDE's geometry samples uniformly in (lat, lon); ``SphereLatLon`` (a Rectangle
subclass, DeepXDE's extension point) overrides ``random_points`` to sample area-uniformly as ours does.
DeepXDE also has a forward-mode option (``dde.config.set_default_autodiff("forward")``), whose Jacobians
take the network function, so derivatives of derived tensors such as a and b would need hand-written chain
rules; it is not measured (reverse mode is DeepXDE's default).

Correctness check (can fail): at 256 area-uniform points the residual of each equation (x cos(lat) / R),
the loss terms and the parameter gradient of the weighted loss are computed by both implementations from
the same weights; the max relative differences go into the JSON and the run stops if any exceeds 1e-3
(seen: ~1e-6 in float32). Two quantities cancel by construction and are compared on their own scale
instead: the divergence residual (zero; difference relative to its two cancelling parts) and the mean_h
term, the square of q = (<h> - 1) / h_scale, where h = 1 + O(h_scale) in float32 puts a floor of
~eps32 / h_scale on q: q is compared by absolute difference (q is O(1) by its normalisation), the
relative difference of the term itself is reported but not checked (seen: 1.1e-3 with the default
network and grids, where q differs by 3e-6).

Shared machines: torch's OpenMP threads spin-wait by default, and when other jobs occupy the cores a
step can take many times longer (seen on 2 cores at load 4: 40x at the --quick size, none at
OMP_WAIT_POLICY=PASSIVE); XLA's thread pool is far less sensitive. The JSON records the load average per
round and flags a busy start; quote numbers from an idle machine (or state the OMP_WAIT_POLICY used,
which the JSON records). On GPU the script needs a CUDA build of torch in the venv and refuses to compare
JAX on one device kind with torch on another.

Run (in the separate venv with the ``bench`` extra: deepxde==1.15.0, torch==2.13.0):
    .venv-bench/bin/python experiments/bench/bench_deepxde.py [--quick] [--out DIR] [--points N]
        [--width W] [--depth D] [--steps S] [--rounds R]
writes DIR/bench_deepxde_<cpu|gpu>[_quick].json (default DIR: experiments/bench).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

os.environ["DDE_BACKEND"] = "pytorch"  # before deepxde is imported

import jax
import jax.numpy as jnp
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import deepxde as dde
from bench_training import build, machine, step_measure, with_overrides
from flax import nnx

from pinn.config.schema import Config, load_config, to_dict
from pinn.io import write_json
from pinn.physics.equations import Fields, SWTParams, drift_frame_tendency, primitive_residuals
from pinn.training import TrainingProgram
from pinn.training.losses import GROUP_NAMES, TERM_NAMES, Batch, Problem, sample_batch, static_weights
from pinn.training.networks import SphereNet, field_derivatives

assert dde.backend.backend_name == "pytorch", dde.backend.backend_name

TOLERANCE = 1e-3  # max relative difference allowed between the torch and JAX residuals/terms/gradients
GOAL = 3.0  # the goal: ours / DeepXDE throughput
BUSY_LOAD = 0.5  # 1-min load average per core above which the machine is reported as not idle
BUSY_NOTE = ("machine not idle at start: torch's OpenMP threads slow down many-fold when other jobs "
             "share the cores (seen on 2 cores at load 4, --quick size: 1.3 s/step with 2 threads, "
             "0.03 s with 1, 0.017 s with 2 and OMP_WAIT_POLICY=PASSIVE); rerun on an idle machine, or "
             "with OMP_WAIT_POLICY=PASSIVE, before quoting the torch/DeepXDE numbers")
PDE_TERMS = ("mom_u", "mom_v", "mass", "ind_a", "ind_b", "div")  # the 'pde' group, in residual order
TORCH_TERMS = PDE_TERMS + ("data", "prior", "flow_dev", "mean_h", "gauge")  # the terms written in torch
assert set(TORCH_TERMS) <= set(TERM_NAMES), "pinn.training.losses renamed a term: update the torch copy"
_LAT_LIMIT = 1.0 - 1e-6  # |sin lat| bound of the collocation points, as pinn.training.losses.sample_batch

Deriv = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]  # (y, x, column) -> (N, 2) d/d(lat, lon)


# ---------------------------------------------------------------------------------------------
# The network in torch (a DeepXDE NN), weights copied from pinn.training.networks.SphereNet


_TORCH_ACTIVATIONS = {"tanh": torch.tanh, "sin": torch.sin,
                      "gelu": lambda z: torch.nn.functional.gelu(z, approximate="tanh"),  # = jax.nn.gelu
                      "silu": torch.nn.functional.silu}


def _param(x) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor(np.asarray(x), dtype=torch.float32))


class TorchRWFLinear(torch.nn.Module):
    """Dense layer with optional random weight factorisation, as pinn.training.networks.RWFLinear."""

    def __init__(self, p: dict):
        super().__init__()
        self.kernel = _param(p["kernel"])
        self.log_scale = _param(p["log_scale"]) if "log_scale" in p else None
        self.bias = _param(p["bias"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.kernel if self.log_scale is None else self.kernel * torch.exp(self.log_scale)
        return torch.addmm(self.bias, x, w)


class TorchSphereNet(dde.nn.pytorch.NN):
    """pinn.training.networks.SphereNet in torch: (N, 2) (lat, lon) -> (N, 4) (u, v, h, A)."""

    def __init__(self, model: SphereNet):
        super().__init__()
        p = nnx.to_pure_dict(nnx.state(model))
        self.activation = _TORCH_ACTIVATIONS[model.activation]
        fourier = p.get("fourier")
        self.register_buffer("fourier", None if fourier is None else torch.tensor(np.asarray(fourier)))
        self.register_buffer("scales", torch.tensor(np.asarray(p["scales"])))
        self.layers = torch.nn.ModuleList(TorchRWFLinear(p["layers"][i]) for i in sorted(p["layers"]))
        self.head = TorchRWFLinear(p["head"])
        c = _param(p["pattern_speed"])
        if isinstance(model.pattern_speed, nnx.Param):
            self.pattern_speed = c
        else:
            self.register_buffer("pattern_speed", c.detach())

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(h, A, W) at embedded points x (N, 3); h, A of shape (N, 1), W (N, 3)."""
        z = x
        if self.fourier is not None:
            f = 2.0 * math.pi * (x @ self.fourier)
            z = torch.cat([x, torch.cos(f), torch.sin(f)], dim=-1)
        for layer in self.layers:
            z = self.activation(layer(z))
        o = self.head(z)
        s = self.scales
        return 1.0 + s[0] * o[:, 0:1], s[1] * o[:, 1:2], s[2] * o[:, 2:5]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs if self._input_transform is None else self._input_transform(inputs)
        lat, lon = x[:, 0:1], x[:, 1:2]
        cl, sl, co, so = torch.cos(lat), torch.sin(lat), torch.cos(lon), torch.sin(lon)
        h, A, W = self.raw(torch.cat([cl * co, cl * so, sl], dim=-1))
        u = -so * W[:, 0:1] + co * W[:, 1:2]  # W . e_lon
        v = -sl * co * W[:, 0:1] - sl * so * W[:, 1:2] + cl * W[:, 2:3]  # W . e_lat
        y = torch.cat([u, v, h, A], dim=-1)
        return y if self._output_transform is None else self._output_transform(inputs, y)


def flat_parameters(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Trainable parameters by pinn-style path ('layers/0/kernel', 'pattern_speed')."""
    return {name.replace(".", "/"): p for name, p in net.named_parameters()}


# ---------------------------------------------------------------------------------------------
# The loss in torch: second copy of pinn.physics.equations.primitive_residuals and pinn.training.losses.loss_terms


def torch_primitive_residuals(lat, q: Fields, dlat: Fields, dlon: Fields, c, gravity) -> tuple:
    """The six MHD-SWT residuals; a transcription of pinn.physics.equations.primitive_residuals (no tilt)
    with d/dt = -c d/dlon (steady in the frame drifting at c, pinn.training.losses)."""
    u, v, h, a, b = q
    dt = Fields(*(-c * x for x in dlon))
    cs = torch.cos(lat)
    t = torch.sin(lat) / cs
    f = 2.0 * torch.sin(lat)
    g = gravity

    def advect(vel_u, vel_v, d_lon, d_lat):
        return vel_u / cs * d_lon + vel_v * d_lat

    mom_u = (dt.u + advect(u, v, dlon.u, dlat.u) - u * v * t - f * v + g / cs * dlon.h
             - advect(a, b, dlon.a, dlat.a) + a * b * t)
    mom_v = (dt.v + advect(u, v, dlon.v, dlat.v) + u * u * t + f * u + g * dlat.h
             - advect(a, b, dlon.b, dlat.b) - a * a * t)
    mass = dt.h + (dlon.h * u + h * dlon.u) / cs + dlat.h * v + h * dlat.v - h * v * t
    ind_a = dt.a + advect(u, v, dlon.a, dlat.a) - u * b * t - advect(a, b, dlon.u, dlat.u) + a * v * t
    ind_b = dt.b + advect(u, v, dlon.b, dlat.b) - advect(a, b, dlon.v, dlat.v)
    div = (dlon.h * a + h * dlon.a) / cs + dlat.h * b + h * dlat.b - h * b * t
    return mom_u, mom_v, mass, ind_a, ind_b, div


def torch_fields(x: torch.Tensor, y: torch.Tensor, deriv: Deriv) -> tuple[Fields, Fields, Fields]:
    """Values and lat/lon derivatives of (u, v, h, a, b) from the network outputs y = (u, v, h, A)."""
    lat = x[:, 0:1]
    u, v, h, _ = y.split(1, dim=1)
    gA = deriv(y, x, 3)
    a = -gA[:, 0:1] / h
    b = gA[:, 1:2] / (torch.cos(lat) * h)
    grads = [deriv(y, x, 0), deriv(y, x, 1), deriv(y, x, 2), deriv(a, x, 0), deriv(b, x, 0)]
    return (Fields(u, v, h, a, b), Fields(*(g[:, 0:1] for g in grads)), Fields(*(g[:, 1:2] for g in grads)))


def torch_toroid_target(problem: Problem, lat: torch.Tensor, lon: torch.Tensor):
    """pinn.training.losses.toroid_target in torch (the centre lines are tabulated on a uniform periodic grid)."""
    n = problem.centre_lon.shape[0]
    pos = torch.remainder(lon, 2.0 * math.pi) * (n / (2.0 * math.pi))
    i0 = torch.floor(pos)
    frac = pos - i0
    i0 = i0.long().remainder(n)
    i1 = (i0 + 1).remainder(n)
    centres = problem.centre_lat[:, i0] * (1.0 - frac) + problem.centre_lat[:, i1] * frac  # (2, N, 1)
    z = (lat[None] - centres) / problem.width[:, None, None]
    bands = problem.sign[:, None, None] * torch.exp(-(z**2))
    mask = torch.where(lat >= 0.0, problem.has_data[0], problem.has_data[1])
    return problem.a0 * bands.sum(dim=0), mask


def _grid_outputs(net: TorchSphereNet, lat: torch.Tensor, lon: torch.Tensor) -> list[torch.Tensor]:
    """(u, v, h, A) on a (nz, nl) grid of latitudes lat (nz,) and longitudes lon (nz, nl)."""
    pts = torch.stack([lat[:, None].expand_as(lon), lon], dim=-1).reshape(-1, 2)
    return [o.reshape(lon.shape) for o in net(pts).unbind(dim=1)]


def residual_vectors(net: TorchSphereNet, x: torch.Tensor, y: torch.Tensor, grids: Batch, problem: Problem,
                     deriv: Deriv, cos_power: float = 1.0) -> list[torch.Tensor]:
    """One vector per term of :data:`TORCH_TERMS` whose mean square is that term."""
    lat, lon = x[:, 0:1], x[:, 1:2]
    q, dlat, dlon = torch_fields(x, y, deriv)
    res = torch_primitive_residuals(lat, q, dlat, dlon, net.pattern_speed, problem.gravity)
    w = torch.cos(lat) ** cos_power / problem.residual_scale
    vecs = [w * r for r in res]
    target, mask = torch_toroid_target(problem, lat, lon)
    vecs.append(torch.sqrt(mask) * (q.a - target) / problem.a0)
    u, v, _, _ = _grid_outputs(net, grids.qlat, grids.qlon)
    s2 = torch.sin(grids.qlat) ** 2
    u0 = torch.cos(grids.qlat) * (problem.s[0] + problem.s[1] * s2 + problem.s[2] * s2 * s2)
    vecs.append((u.mean(dim=1) - u0) / problem.flow_scale)
    dev = torch.cat([(u - u0[:, None]).reshape(-1), v.reshape(-1)])
    vecs.append(math.sqrt(2.0) * dev / problem.flow_scale)
    _, _, hg, Ag = _grid_outputs(net, grids.glat, grids.glon)
    vecs.append(((grids.gw * hg.mean(dim=1)).sum() - 1.0).reshape(1) / problem.h_scale)
    vecs.append((grids.gw * Ag.mean(dim=1)).sum().reshape(1) / problem.A_scale)
    return vecs


def term_weights(cfg: Config) -> list[float]:
    """Weight of each of :data:`TORCH_TERMS` (static weight of its group; adaptive weights off).

    Raises if the config gives weight to a group of ours that the torch copy does not have.
    """
    g = dict(zip(GROUP_NAMES, (float(w) for w in np.asarray(static_weights(cfg)))))
    missing = {k: w for k, w in g.items() if k != "pde" and k not in TORCH_TERMS and w != 0.0}
    if missing:
        raise NotImplementedError(f"loss groups {missing} have weight but no torch copy in this benchmark")
    return [g["pde"] if k in PDE_TERMS else g[k] for k in TORCH_TERMS]


def cos_power(cfg: Config) -> float:
    """Exponent of the cos(lat) residual weight (``loss.residual_cos_power`` where the config has it)."""
    return float(getattr(cfg.loss, "residual_cos_power", 1.0))


def torch_autograd_deriv(y: torch.Tensor, x: torch.Tensor, i: int) -> torch.Tensor:
    yi = y[:, i:i + 1]
    return torch.autograd.grad(yi, x, grad_outputs=torch.ones_like(yi), create_graph=True)[0]


def deepxde_deriv(y: torch.Tensor, x: torch.Tensor, i: int) -> torch.Tensor:
    return dde.grad.jacobian(y, x, i=i)


# ---------------------------------------------------------------------------------------------
# Sampling in torch (same distributions as pinn.training.losses.sample_batch)


class GridSampler:
    """Draws the stratified prior grid and the Gauss-Legendre grid of a step (lat/lon fields unused)."""

    def __init__(self, nz: int, nl: int, device: torch.device):
        self.nz, self.nl, self.device = nz, nl, device
        gmu, gw = np.polynomial.legendre.leggauss(nz)
        self.glat = torch.tensor(np.arcsin(gmu), dtype=torch.float32, device=device)
        self.gw = torch.tensor(gw / 2.0, dtype=torch.float32, device=device)
        self.ar_z = torch.arange(nz, dtype=torch.float32, device=device)
        self.ar_l = torch.arange(nl, dtype=torch.float32, device=device)[None, :]

    def __call__(self) -> Batch:
        nz, nl, dev = self.nz, self.nl, self.device
        qmu = -1.0 + (self.ar_z + torch.rand(nz, device=dev)) * (2.0 / nz)
        qlat = torch.asin(qmu.clamp(-_LAT_LIMIT, _LAT_LIMIT))
        qlon = (self.ar_l + torch.rand(nz, 1, device=dev)) * (2.0 * math.pi / nl)
        glon = (self.ar_l + torch.rand(nz, 1, device=dev)) * (2.0 * math.pi / nl)
        return Batch(None, None, qlat, qlon, self.glat, self.gw, glon)


def sample_points(n: int, device: torch.device) -> torch.Tensor:
    """(n, 2) area-uniform (lat, lon), as pinn.training.losses.sample_batch."""
    mu = (2.0 * torch.rand(n, device=device) - 1.0) * _LAT_LIMIT
    lon = 2.0 * math.pi * torch.rand(n, device=device)
    return torch.stack([torch.asin(mu), lon], dim=1)


class SphereLatLon(dde.geometry.Rectangle):
    """(lat, lon) in [-pi/2, pi/2] x [0, 2 pi] whose random points are area-uniform (uniform in sin lat)."""

    def __init__(self):
        super().__init__([-0.5 * math.pi, 0.0], [0.5 * math.pi, 2.0 * math.pi])

    def random_points(self, n, random="pseudo"):
        s = dde.geometry.sampler.sample(n, 2, random)
        lat = np.arcsin((2.0 * s[:, 0] - 1.0) * _LAT_LIMIT)
        return np.stack([lat, 2.0 * math.pi * s[:, 1]], axis=1).astype(dde.config.real(np))


# ---------------------------------------------------------------------------------------------
# Correctness: torch vs JAX at the same points and weights


def _rel(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    return float(np.max(np.abs(a - b)) / max(scale, 1e-30))


def agreement(program: TrainingProgram, model: SphereNet, problem: Problem, device: torch.device, n: int = 256,
              seed: int = 1) -> dict:
    """Max relative torch-vs-JAX differences of the residuals, the loss terms and the loss gradient.

    ``program``: pinn.training's program of the run (from bench_training.build); the JAX gradient is that of
    ``program.loss``, the function the training step differentiates.
    """
    cfg = program.config
    lc = cfg.loss
    batch = sample_batch(jax.random.key(seed), n, lc.quadrature_lats, lc.quadrature_lons)
    # JAX: pointwise residuals x cos / R (as in pinn.training.losses.loss_terms), terms, gradient of the weighted loss
    d = field_derivatives(model, batch.lat, batch.lon, "forward")
    c = model.pattern_speed[...]
    res = primitive_residuals(batch.lat, batch.lon, d.q.fields, Fields(*(drift_frame_tendency(x, c) for x in d.dlon.fields)),
                              d.dlat.fields, d.dlon.fields, SWTParams(gravity=problem.gravity))
    w = jnp.cos(batch.lat) ** cos_power(cfg) / problem.residual_scale
    jres = [np.asarray(w * r) for r in res]
    q, dla, dlo = d.q.fields, d.dlat.fields, d.dlon.fields
    div_scale = float(jnp.maximum(jnp.max(jnp.abs(w * q.h * dla.b)),
                                  jnp.max(jnp.abs(w * q.h * dlo.a / jnp.cos(batch.lat)))))
    _, params, statics = nnx.split(model, nnx.Param, ...)
    ones = jnp.ones(len(GROUP_NAMES), jnp.float32)
    jgrad, jterms = jax.grad(lambda p: program.loss(p, statics, problem, batch, ones),
                             has_aux=True)(params)
    jterms = dict(zip(TERM_NAMES, np.asarray(jterms)))
    jgrad = {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(g)
             for path, g in jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(jgrad))[0]}

    problem_t = to_torch(problem, device)
    grids = Batch(None, None, *(torch.tensor(np.asarray(a), device=device) for a in batch[2:]))
    out: dict = {"points": n, "tolerance": TOLERANCE}
    for name, deriv in (("deepxde_grad", deepxde_deriv), ("torch_autograd", torch_autograd_deriv)):
        net = TorchSphereNet(model).to(device)
        x = torch.tensor(np.stack([np.asarray(batch.lat), np.asarray(batch.lon)], axis=1), device=device)
        x.requires_grad_()
        vecs = residual_vectors(net, x, net(x), grids, problem_t, deriv, cos_power(cfg))
        tres = [v.detach().cpu().numpy().reshape(-1) for v in vecs[:len(PDE_TERMS)]]
        tterms = {k: float(torch.mean(v.detach() ** 2)) for k, v in zip(TORCH_TERMS, vecs)}
        scales = [float(np.max(np.abs(r))) for r in jres[:-1]] + [div_scale]
        r = {"residual_max_rel_diff": {k: _rel(t, j, s) for k, t, j, s in zip(PDE_TERMS, tres, jres, scales)},
             "loss_term_rel_diff": {k: _rel(tterms[k], jterms[k], abs(jterms[k])) for k in TORCH_TERMS
                                    if k != "div"},
             "div_term_values": {"jax": float(jterms["div"]), "torch": tterms["div"]},
             "mean_h_root_abs_diff": abs(math.sqrt(tterms["mean_h"]) - math.sqrt(float(jterms["mean_h"])))}
        if deriv is torch_autograd_deriv:
            total = sum(wk * torch.mean(v**2) for wk, v in zip(term_weights(cfg), vecs))
            total.backward()
            tp = {k: v.grad.cpu().numpy() for k, v in flat_parameters(net).items()}
            diff = math.sqrt(sum(float(np.sum((tp[k] - g) ** 2)) for k, g in jgrad.items()))
            norm = math.sqrt(sum(float(np.sum(g**2)) for g in jgrad.values()))
            r["gradient_rel_l2_diff"] = diff / norm
            r["gradient_rel_l2_diff_per_tensor"] = {
                k: float(np.linalg.norm(tp[k] - g) / max(np.linalg.norm(g), 1e-30))
                for k, g in jgrad.items()}
        dde.grad.clear()
        out[name] = r
    checked = [v for r in (out["deepxde_grad"], out["torch_autograd"])
               for part in ("residual_max_rel_diff", "loss_term_rel_diff") for k, v in r[part].items()
               if part != "loss_term_rel_diff" or k != "mean_h"]
    worst = max(checked + [r["mean_h_root_abs_diff"] for r in (out["deepxde_grad"], out["torch_autograd"])]
                + [out["torch_autograd"]["gradient_rel_l2_diff"]])
    out["max_rel_diff"] = worst
    out["passed"] = worst <= TOLERANCE
    return out


def to_torch(problem: Problem, device: torch.device) -> Problem:
    return Problem(*(torch.tensor(np.asarray(v), dtype=torch.float32, device=device) for v in problem))


# ---------------------------------------------------------------------------------------------
# Timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def block_stats(step_times: Sequence[float], warmup: int, block: int) -> dict:
    """Best mean over consecutive blocks of ``block`` steps after ``warmup`` steps, the median, and all
    step times (warm-up included)."""
    t = np.asarray(step_times[warmup:])
    nb = len(t) // block
    if nb == 0:
        raise ValueError(f"{len(t)} timed steps after warm-up: fewer than one block of {block}")
    return {"step_s": float(t[: nb * block].reshape(nb, block).mean(axis=1).min()),
            "median_step_s": float(np.median(t)), "timed_steps": len(t),
            "step_times_s": [float(x) for x in step_times]}


def time_torch(net: TorchSphereNet, problem: Problem, cfg: Config, n_steps: int,
               device: torch.device) -> list[float]:
    """Wall time of each of n_steps plain-torch Adam steps (new points and grids every step)."""
    lc, tc = cfg.loss, cfg.train
    opt = torch.optim.Adam(net.parameters(), lr=tc.learning_rate)
    grids = GridSampler(lc.quadrature_lats, lc.quadrature_lons, device)
    weights = term_weights(cfg)
    times = []
    for _ in range(n_steps):
        _sync(device)
        t0 = time.perf_counter()
        x = sample_points(lc.collocation_points, device).requires_grad_()
        vecs = residual_vectors(net, x, net(x), grids(), problem, torch_autograd_deriv, cos_power(cfg))
        loss = sum(w * torch.mean(v**2) for w, v in zip(weights, vecs))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), tc.grad_clip)
        opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


class StepTimer(dde.callbacks.Callback):
    """Time stamp at the start of every DeepXDE iteration (intervals = whole iterations incl. resampling)."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device
        self.stamps: list[float] = []

    def on_batch_begin(self):
        _sync(self.device)
        self.stamps.append(time.perf_counter())


def deepxde_model(net: TorchSphereNet, problem: Problem, cfg: Config, device: torch.device) -> dde.Model:
    """The benchmark problem as a DeepXDE user writes it: PDE data on a geometry, a pde function, Adam."""
    lc = cfg.loss
    grids = GridSampler(lc.quadrature_lats, lc.quadrature_lons, device)
    p = cos_power(cfg)

    def pde(x, y):
        return residual_vectors(net, x, y, grids(), problem, deepxde_deriv, p)

    data = dde.data.PDE(SphereLatLon(), pde, [], num_domain=lc.collocation_points, num_boundary=0,
                        train_distribution="pseudo")
    model = dde.Model(data, net)
    model.compile("adam", lr=cfg.train.learning_rate, loss_weights=term_weights(cfg), verbose=0)
    return model


def time_deepxde(model: dde.Model, n_steps: int, device: torch.device) -> list[float]:
    """Wall time of n_steps DeepXDE iterations (model.train; the last iteration, which also evaluates the
    test losses, is run but not timed)."""
    timer = StepTimer(device)
    resample = dde.callbacks.PDEPointResampler(period=1)  # new points every step, as ours
    model.train(iterations=n_steps + 1, callbacks=[resample, timer], verbose=0)
    return list(np.diff(timer.stamps))


def torch_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def versions() -> dict:
    return {p: version(p) for p in ("jax", "jaxlib", "flax", "optax", "torch", "deepxde", "numpy")}


# ---------------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test, < 1 minute)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    p.add_argument("--points", type=int, default=None, help="collocation points per step (default 4096)")
    p.add_argument("--width", type=int, default=None, help="hidden units per layer (default 128)")
    p.add_argument("--depth", type=int, default=None, help="hidden layers (default 4)")
    p.add_argument("--steps", type=int, default=None, help="steps per timed block (ours: fused chunk)")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds of the three methods")
    args = p.parse_args()

    cfg = load_config(None, ["train.progress=false"])
    if args.quick:
        cfg = with_overrides(cfg, network={"width": 32, "depth": 2, "fourier_features": 8},
                             loss={"collocation_points": 256, "quadrature_lats": 16, "quadrature_lons": 8})
    net_over = {k: v for k, v in (("width", args.width), ("depth", args.depth)) if v is not None}
    cfg = with_overrides(cfg, network=net_over,
                         loss={"collocation_points": args.points} if args.points else {})
    gpu = jax.default_backend() != "cpu"
    device = torch_device()
    if gpu != (device.type == "cuda"):
        raise RuntimeError(f"JAX runs on {jax.default_backend()} but torch on {device.type}: not the same "
                           "hardware; install the matching torch build")
    steps = args.steps or (3 if args.quick else (100 if gpu else 10))
    rounds = args.rounds or (1 if args.quick else 2)
    warmup = 1 if args.quick else 3
    n_threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(n_threads)
    torch.set_float32_matmul_precision("highest")  # as pinn's matmul_precision 'highest'
    torch.manual_seed(cfg.seed)
    dde.config.set_random_seed(cfg.seed)

    result = {"machine": machine(), "quick": args.quick, "versions": versions(),
              "threads": {"cpus_available": n_threads, "torch_intra_op": torch.get_num_threads(),
                          "torch_device": str(device), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
              "config": {"network": to_dict(cfg.network), "loss": to_dict(cfg.loss), "steps_per_block": steps,
                         "rounds": rounds, "torch_warmup_steps": warmup,
                         "learning_rate": cfg.train.learning_rate,
                         "terms": dict(zip(TORCH_TERMS, term_weights(cfg))),
                         "residual_cos_power": cos_power(cfg)}}
    load = os.getloadavg()[0]
    result["machine_busy_at_start"] = load > BUSY_LOAD * n_threads
    if result["machine_busy_at_start"]:
        result["busy_note"] = BUSY_NOTE
        print(f"warning (load {load:.2f}): {BUSY_NOTE}", flush=True)
    t_all = time.perf_counter()
    path = args.out / f"bench_deepxde_{'gpu' if gpu else 'cpu'}{'_quick' if args.quick else ''}.json"

    def save():  # after every section, so that an interrupted run keeps what it measured
        result["total_s"] = time.perf_counter() - t_all
        write_json(path, result)

    program, model, _, problem = build(cfg)
    result["agreement"] = agreement(program, model, problem, device)
    ag = result["agreement"]
    print(f"agreement torch vs JAX (256 points): max rel diff {ag['max_rel_diff']:.2e}, gradient "
          f"{ag['torch_autograd']['gradient_rel_l2_diff']:.2e}", flush=True)
    save()
    if not ag["passed"]:
        raise RuntimeError(f"torch and JAX disagree by {ag['max_rel_diff']:.2e} > {TOLERANCE:g}; see {path}")

    problem_t = to_torch(problem, device)
    torch_net = TorchSphereNet(model).to(device)
    dde_net = copy.deepcopy(torch_net)
    dde_model = deepxde_model(dde_net, problem_t, cfg, device)
    n = cfg.loss.collocation_points
    runs: dict[str, list] = {"ours": [], "deepxde": [], "torch": []}
    for r in range(rounds):
        o = step_measure(cfg, steps, flops=(r == 0))
        if r > 0:  # XLA's FLOP count of one step, from the first round's compile
            o["flops_per_step"] = runs["ours"][0]["flops_per_step"]
            o["achieved_flops_per_s"] = o["flops_per_step"] / o["step_s"]
        o["load_average"] = os.getloadavg()
        runs["ours"].append(o)
        print(f"round {r}: ours {o['step_s'] * 1e3:.1f} ms/step", flush=True)
        w = warmup if r == 0 else 1
        t = block_stats(time_torch(torch_net, problem_t, cfg, w + steps, device), w, steps)
        t["load_average"] = os.getloadavg()
        runs["torch"].append(t)
        print(f"round {r}: torch {t['step_s'] * 1e3:.1f} ms/step", flush=True)
        d = block_stats(time_deepxde(dde_model, w + steps, device), w, steps)
        d["load_average"] = os.getloadavg()
        runs["deepxde"].append(d)
        print(f"round {r}: deepxde {d['step_s'] * 1e3:.1f} ms/step", flush=True)
        for k, v in runs.items():
            best = dict(min(v, key=lambda e: e["step_s"]))
            best["points_x_steps_per_s"] = n / best["step_s"]
            best["rounds"] = v
            result[k] = best
        result["ratios"] = {
            "ours_over_deepxde": result["deepxde"]["step_s"] / result["ours"]["step_s"],
            "ours_over_torch": result["torch"]["step_s"] / result["ours"]["step_s"],
            "deepxde_overhead_over_torch": result["deepxde"]["step_s"] / result["torch"]["step_s"],
        }
        result["goal"] = {"ours_over_deepxde_at_least": GOAL,
                          "met": result["ratios"]["ours_over_deepxde"] >= GOAL}
        save()
    result["load_average_at_end"] = os.getloadavg()
    save()
    rt = result["ratios"]
    tp = {k: result[k]["points_x_steps_per_s"] for k in runs}
    print(f"throughput (points x steps / s): ours {tp['ours']:.3g}, deepxde {tp['deepxde']:.3g}, "
          f"torch {tp['torch']:.3g}; "
          f"ours/deepxde {rt['ours_over_deepxde']:.2f}x, ours/torch {rt['ours_over_torch']:.2f}x")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
