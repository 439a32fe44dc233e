"""Command-line interface: parses arguments, calls the package's public functions, prints results.

No science lives here: every command is a thin wrapper over functions that notebooks can call too.
User errors (bad files, bad config) end with a one-line message and exit status 2, never a traceback.

Each command imports what it runs inside its own function, on purpose: ``pinn config`` and ``pinn inspect``
must answer without starting JAX (seconds), and a command pays only for the stages it uses.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from pinn.emergence.models import MODELS  # the registry (no JAX): the hindcast's --help lists its models
from pinn.errors import ConfigError, InputWarning, OutputError, PinnError

log = logging.getLogger("pinn")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="CONFIG", help="YAML run config (see configs/)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set toroids.threshold_G=150 (repeatable)",
    )


def _add_strict_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true",
                   help="refuse maps with documented, repairable header defects or physically impossible pixels "
                        "instead of repairing/masking them (sets observations.strict)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinn",
        description="Physics-informed forecasts of solar active-region emergence (PINNBARDS + MHD-SWT).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="check synoptic FITS files: one line per file with a verdict")
    p.add_argument("fits", nargs="+", type=Path, metavar="FITS")
    _add_config_args(p)
    _add_strict_arg(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("toroids", help="extract toroids (per-hemisphere warped AR bands) from synoptic maps")
    p.add_argument("fits", nargs="*", type=Path, metavar="FITS", help="maps (default: bundled CR 2276-2280)")
    p.add_argument("--threshold", type=float, metavar="G", help="|Br| threshold in gauss (default 100)")
    p.add_argument("--modes", type=int, metavar="M", help="fixed number of longitudinal modes")
    p.add_argument("--causal", action="store_true", help="estimate the latest rotation from trailing maps only")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="write the toroids as JSON")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="overlay the toroids on the magnetogram")
    _add_config_args(p)
    _add_strict_arg(p)
    p.set_defaults(func=cmd_toroids)

    p = sub.add_parser("solve", help="integrate the MHD-SWT equations for a test or science case")
    p.add_argument("--case", required=True, choices=["williamson2", "band-equilibrium", "band-unstable"])
    p.add_argument("--days", type=float, default=None, help="simulated days")
    p.add_argument("--trunc", type=int, default=None, help="triangular truncation T")
    p.add_argument("--strength-kG", type=float, default=None, help="peak toroidal field, kG")
    p.add_argument("--balance", choices=["pressure", "jet"], default="pressure")
    p.add_argument("--x64", action="store_true", help="float64 (conservation to round-off)")
    p.add_argument("--no-dissipation", action="store_true")
    p.add_argument("--out", type=Path, default=Path("solve.nc"), metavar="OUT.nc")
    _add_config_args(p)
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("train", help="train the PINN on observed toroids (writes state.nc, metrics, checkpoints)")
    p.add_argument("config_arg", nargs="?", metavar="CONFIG",
                   help="YAML run config, e.g. configs/quick.yaml (or give it as --config CONFIG)")
    _add_config_args(p)
    p.add_argument("--out", type=Path, default=Path("pinn_run"), metavar="DIR")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in DIR")
    _add_strict_arg(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("forecast", help="forecast where new ARs emerge in the rotation after the latest map",
                       description="Forecast where new ARs emerge in the rotation after the latest map. Without "
                                   "--config it uses pinn/config/forecast.yaml (see `pinn config --for forecast`).")
    p.add_argument("fits", nargs="*", type=Path, metavar="FITS",
                   help="consecutive maps, latest last (default: bundled CR 2276-2280)")
    p.add_argument("--weeks", type=float, default=None, help=_weeks_help())
    p.add_argument("--strength-kG", type=float, default=None, help="toroidal field strength, kG")
    p.add_argument("--out", type=Path, default=Path("forecast_out"), metavar="DIR")
    _add_config_args(p)
    _add_strict_arg(p)
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("hindcast", help="forecast every rotation from earlier maps only and score against ARISE",
                       description="Forecast every rotation from earlier maps only and score against ARISE. Without "
                                   "--config it uses pinn/config/forecast.yaml (see `pinn config --for hindcast`).",
                       epilog=_score_names_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True, metavar="DIR",
                   help="folder with maps *.<CR>.fits and the ARISE table (e.g. ../shared/data/raw)")
    p.add_argument("--crs", metavar="A-B", help="scored rotations (N+1) to include, e.g. 2250-2282")
    p.add_argument("--leads", metavar="L,...", default=None,
                   help="rotations ahead to score, starting with 1, e.g. 1,2,3: lead L scores N+L from maps and ARs up to "
                        "N (forecast.leads; forecast.weeks must reach N+max(L): about 9.8 weeks for 2, 13.6 for 3)")
    p.add_argument("--strength-kG", type=float, default=None)
    p.add_argument("--out", type=Path, default=Path("hindcast_out"), metavar="DIR")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--batch", type=int, default=None, metavar="N",
                      help="cases per batched program (PINN trainings vmapped, integrations as one ensemble; "
                           "default: all cases in one batch)")
    mode.add_argument("--per-case", action="store_true", help="one case after another (same as --batch 1)")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() (cluster auto-detection or JAX_COORDINATOR_"
                        "ADDRESS etc.); every process forecasts its share, process 0 scores (shared --out)")
    _add_config_args(p)
    _add_strict_arg(p)
    p.set_defaults(func=cmd_hindcast)

    p = sub.add_parser(
        "config",
        help="print the resolved config (defaults + CONFIG + overrides) as YAML",
        description="Print the resolved config as YAML: the built-in defaults, then CONFIG, then --set overrides. "
                    "Without --config it shows the built-in defaults; --for forecast (or hindcast) starts from the "
                    "file that command uses when given no --config (pinn/config/forecast.yaml).",
    )
    p.add_argument("--reference", action="store_true", help="print the config reference (Markdown) instead")
    p.add_argument("--for", dest="for_command", choices=sorted(_DEFAULT_CONFIGS), metavar="COMMAND",
                   help="without --config, use the default config file of COMMAND "
                        f"({', '.join(sorted(_DEFAULT_CONFIGS))}: pinn/config/forecast.yaml)")
    _add_config_args(p)
    p.set_defaults(func=cmd_config)
    return parser


def _score_names_help() -> str:
    """The epilog of `pinn hindcast --help`: what the printed score names mean."""
    lines = [("printed scores: mean log2-likelihood per new AR in bits (higher is better; AUC of the density at the "
             "ARs, 0.5 = no skill), one line per density:")]
    lines += [f"  {name:16s} {model.description}" for name, model in MODELS.models.items()]
    lines += ["  (each data-only family is the candidate chosen causally, on rotations before the scored one)",
              ("then A_minus_B  mean(bits of A - bits of B) per AR [95% paired bootstrap interval over rotations]; "
              "an interval above 0 means A beats B")]
    return "\n".join(lines)


def _weeks_help() -> str:
    """--weeks help: the domain of forecast.weeks and the minimum horizon of the default density grid."""
    import math

    from pinn.config.schema import ForecastConfig
    from pinn.emergence.ridges import minimum_horizon_days

    nlon = ForecastConfig().output_nlon
    days = minimum_horizon_days(nlon)
    return (f"integration horizon in weeks (sets forecast.weeks, default 6), in (0, 52] and at least the lead of the "
            f"next rotation's last observed longitude: {math.ceil(days / 7 * 100) / 100:.2f} weeks ({days:.1f} d) "
            f"with forecast.output_nlon = {nlon}; shorter horizons are refused before any work")


def _forecast_config() -> Path:
    from pinn.data.bundled import default_forecast_config

    return default_forecast_config()


_DEFAULT_CONFIGS = {"forecast": _forecast_config, "hindcast": _forecast_config}  # commands whose default isn't built in


def _load_config(args: argparse.Namespace, default_for: str | None = None):
    """The command's config: --config, else ``default_for``'s default file, else the built-in defaults; --strict
    sets observations.strict. Says on stderr which file it uses."""
    from pinn.config.schema import load_config

    path = args.config
    if path is None and default_for in _DEFAULT_CONFIGS:
        path = _DEFAULT_CONFIGS[default_for]()
    overrides = list(args.overrides)
    if getattr(args, "strict", False):
        overrides.append("observations.strict=true")
    cfg = load_config(path, overrides)
    print(f"config: {path if path is not None else 'built-in defaults'}", file=sys.stderr)
    return cfg


def _positive(flag: str, value: float | None) -> None:
    """Refuse a CLI number that must be finite and > 0 (nan, inf, 0, negative), naming the flag."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} = {value:g}: must be a finite number > 0")


def _probe_folder(path: Path, label: str) -> None:
    """Create folder ``path`` if needed and write a scratch file in it, so that a place where nothing can be
    written (a regular file, /proc, no permission, even as root) is refused before any work, naming ``label``."""
    if path.exists() and not path.is_dir():
        raise OutputError(path, f"{label} names an existing file; it must be a folder (new or existing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OutputError(path, f"{label}: cannot write there ({exc.strerror or exc})") from None


def _check_out(path: Path, flag: str, folder: bool) -> None:
    """Refuse an output ``path`` that cannot be written, before any work: an existing file where a folder is
    wanted (``folder``), a folder where a file is wanted, or no existing parent folder with write permission."""
    if path.exists():
        if folder and not path.is_dir():
            raise OutputError(path, f"{flag} names an existing file; it must be a folder (new or existing)")
        if not folder and path.is_dir():
            raise OutputError(path, f"{flag} names a folder; it must be a file")
        target = path if folder else path.parent
    else:
        target = next((p for p in path.absolute().parents if p.exists()), None)
        if target is None or not target.is_dir():
            raise OutputError(path, f"{flag}: {target} is not a folder")
    if not os.access(target, os.W_OK | os.X_OK):
        raise OutputError(path, f"{flag}: no permission to write in {target}")


# ---------------------------------------------------------------------------------------------


def cmd_inspect(args: argparse.Namespace) -> int:
    from pinn.data.observations import inspect_file

    cfg = _load_config(args)
    bad = 0
    for path in args.fits:
        r = inspect_file(path, cfg.observations)
        shape = "x".join(str(n) for n in reversed(r.shape)) if r.shape else "-"  # FITS order: NAXIS1 x NAXIS2
        frac = f"{r.finite_fraction:.4f}" if r.finite_fraction is not None else "-"
        print(f"{path}  CR={r.cr if r.cr is not None else '-'}  {r.instrument or '-'}  {shape}  "
              f"{r.units or '-'}  finite={frac}  {r.verdict}")
        bad += not r.ok
    return 2 if bad else 0  # a bad file is a user error (README: exit status 2)


def cmd_toroids(args: argparse.Namespace) -> int:
    from pinn.config.schema import ToroidsConfig, check_key, replace
    from pinn.data.bundled import bundled_maps
    from pinn.data.observations import check_consecutive, load_sequence, load_synoptic
    from pinn.io import save_figure, write_json
    from pinn.toroids import fit as tor

    cfg = _load_config(args)
    for flag, out in (("--json", args.json), ("--plot", args.plot)):
        if out is not None:
            _check_out(out, flag, folder=False)
    tcfg = cfg.toroids
    if args.threshold is not None:
        check_key(ToroidsConfig, "threshold_G", args.threshold, "--threshold")
        tcfg = replace(tcfg, threshold_G=args.threshold)
    if args.modes is not None:
        check_key(ToroidsConfig, "modes", args.modes, "--modes")
        tcfg = replace(tcfg, modes=args.modes)
    paths = list(args.fits) or bundled_maps()
    if len(paths) == 1:
        ds = load_synoptic(paths[0], cfg.observations)
        result = tor.fit_toroids(ds, tcfg)
        shown = ds
    else:
        seq = load_sequence(paths, cfg.observations)
        check_consecutive([int(c) for c in seq["cr"].values])
        result = tor.fit_toroids_window(seq, tcfg, causal=args.causal)
        shown = seq.sel(cr=result.cr)
    print(tor.format_table(result))
    if args.json:
        write_json(args.json, result.to_json_dict())
        print(f"wrote {args.json}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        fig = tor.plot_toroids(shown, result)
        save_figure(fig, args.plot, dpi=120, bbox_inches="tight")
        print(f"wrote {args.plot}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from pinn.config.physics import model_units, solver_settings, swt_params, zonal_flow
    from pinn.config.schema import SolverConfig, check_key
    from pinn.io import write_netcdf
    from pinn.physics.cases import run_case

    cfg = _load_config(args)
    _check_out(args.out, "--out", folder=False)
    if args.trunc is not None:
        check_key(SolverConfig, "truncation", args.trunc, "--trunc")
    _positive("--days", args.days)
    _positive("--strength-kG", args.strength_kG)
    ds = run_case(
        args.case,
        days=args.days,
        trunc=args.trunc if args.trunc is not None else cfg.solver.truncation,
        strength_kG=args.strength_kG,
        balance=args.balance,
        x64=args.x64 or cfg.solver.x64,
        dissipation=not args.no_dissipation,
        settings=solver_settings(cfg.solver),
        params=swt_params(cfg.physics),
        flow=zonal_flow(cfg.physics),
        units=model_units(cfg.physics),
        output_every_days=cfg.solver.output_every_days,
    )
    write_netcdf(ds, args.out)
    print(f"mass drift (relative): {ds.attrs['mass_drift']:.3e}")
    print(f"energy E' drift (relative): {ds.attrs['energy_drift']:.3e}")
    if "h_l2_error" in ds.attrs:
        print(f"l2 error of h vs the analytic steady solution: {ds.attrs['h_l2_error']:.3e}")
    print(f"wrote {args.out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pinn.training import train_from_config

    if args.config_arg is not None and args.config is not None and args.config_arg != args.config:
        raise ConfigError(f"two configs given: CONFIG {args.config_arg} and --config {args.config}; give one")
    args.config = args.config if args.config is not None else args.config_arg
    if args.config is None:
        raise ConfigError("pinn train needs a config: --config CONFIG (or CONFIG), e.g. configs/quick.yaml")
    cfg = _load_config(args)
    _check_out(args.out, "--out", folder=True)
    result = train_from_config(cfg, out_dir=args.out, resume=args.resume)
    print(f"final loss {result.final_loss:.3e}; wrote {args.out}/state.nc")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from pinn.chain.forecast import HOTSPOT_RADIUS_DEG, run_forecast, write_outputs
    from pinn.config.schema import ForecastConfig, PhysicsConfig, check_key, replace
    from pinn.data.bundled import bundled_maps
    from pinn.io import check_replaceable_dir

    cfg = _load_config(args, default_for="forecast")
    _check_out(args.out, "--out", folder=True)
    check_replaceable_dir(args.out)
    if cfg.forecast.cache_dir is not None:
        _probe_folder(Path(cfg.forecast.cache_dir), "config key 'forecast.cache_dir'")
    if args.weeks is not None:  # the flags set their keys, so resolved_config.yaml records what ran
        check_key(ForecastConfig, "weeks", args.weeks, "--weeks")
        cfg = replace(cfg, forecast=replace(cfg.forecast, weeks=args.weeks))
    if args.strength_kG is not None:
        check_key(PhysicsConfig, "band_strength_kG", args.strength_kG, "--strength-kG")
        cfg = replace(cfg, physics=replace(cfg.physics, band_strength_kG=args.strength_kG))
    paths = list(args.fits) or bundled_maps()
    result = run_forecast(paths, cfg, strength_kG=args.strength_kG, weeks=args.weeks)
    written = write_outputs(result, args.out, cfg)
    s = result.summary
    print(f"forecast for CR {s['forecast_rotation']} from CR {s['input_rotations'][0]}-{s['input_rotations'][-1]} "
          f"at {s['field_strength_kG']:g} kG (lead {s['lead_time_days'][0]:.0f}-{s['lead_time_days'][1]:.0f} days)")
    n = s["expected_count"]
    print(f"  {s['emergence_model']['model']} model; expected new ARs: north {n['north']:.1f}, south {n['south']:.1f}")
    for spot in s["hotspots"][:3]:
        print(f"  hotspot lat {spot['lat_deg']:+.1f} lon {spot['lon_deg']:.1f}: {spot['vs_uniform']:.1f}x uniform, "
              f"P(new AR within {HOTSPOT_RADIUS_DEG:g} deg) = {spot[f'prob_new_ar_within_{HOTSPOT_RADIUS_DEG:g}deg']:.2f}")
    for lead, entry in s.get("leads", {}).items():
        if lead != "1":
            print(f"  lead {lead}: CR {entry['forecast_rotation']} (lead {entry['lead_time_days'][0]:.0f}-"
                  f"{entry['lead_time_days'][1]:.0f} days), in forecast.nc (emergence_density_by_lead) and "
                  f"forecast_lead{lead}.png")
    for path in written.values():
        print(f"wrote {path}")
    return 0


def _parse_range(text: str | None) -> list[int] | None:
    from pinn.errors import ConfigError

    if text is None:
        return None
    try:
        lo, _, hi = text.partition("-")
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise ConfigError(f"--crs {text!r} must look like A-B (e.g. 2250-2282)") from None
    if last < first:
        raise ConfigError(f"--crs {text!r}: the range is empty")
    return list(range(first, last + 1))


def _parse_leads(text: str | None) -> tuple[int, ...] | None:
    """``--leads 1,2,3`` as a tuple of ints (None when not given); a malformed list is a ConfigError naming the flag."""
    from pinn.config.schema import ForecastConfig, check_key

    if text is None:
        return None
    try:
        leads = tuple(int(k) for k in text.split(","))
    except ValueError:
        raise ConfigError(f"--leads {text!r} must look like 1,2,3 (rotations ahead, starting with 1)") from None
    check_key(ForecastConfig, "leads", leads, "--leads")
    return leads


def cmd_hindcast(args: argparse.Namespace) -> int:
    from pinn.chain.hindcast import run_hindcast
    from pinn.config.schema import PhysicsConfig, check_key

    cfg = _load_config(args, default_for="hindcast")
    if (leads := _parse_leads(args.leads)) is not None:
        cfg = dataclasses.replace(cfg, forecast=dataclasses.replace(cfg.forecast, leads=leads))
    _check_out(args.out, "--out", folder=True)
    if args.strength_kG is not None:
        check_key(PhysicsConfig, "band_strength_kG", args.strength_kG, "--strength-kG")
    if args.batch is not None and args.batch < 1:
        raise PinnError(f"--batch must be >= 1, got {args.batch}")
    batch = 1 if args.per_case else args.batch
    if args.distributed:
        import jax

        jax.distributed.initialize()
    result = run_hindcast(args.data_dir, cfg, args.out, crs=_parse_range(args.crs), strength_kG=args.strength_kG,
                          batch_size=batch)
    if result is None:
        print(f"wrote this process's share of the cases to {args.out / 'cases'} (process 0 scores)")
        return 0
    s = result.summary
    print(f"{s['n_rotations']} rotations, {s['n_ars']} new ARs scored (mean log2-likelihood per AR, bits):")
    for name, bits in s["mean_bits"].items():
        mark = "  <- the forecast's model (emergence.model)" if name == s["default_model"] else ""
        print(f"  {name:14s} {bits:+.3f}   AUC {s['mean_auc'][name]:.3f}{mark}")
    for name, iv in s["differences_bits"].items():
        print(f"  {name:24s} {iv['mean']:+.3f} [{iv['low']:+.3f}, {iv['high']:+.3f}]")
    for lead, part in s["leads"].items():
        if lead != "1":
            print(f"lead {lead} (N+{lead} from maps and ARs up to N): {part['n_rotations']} rotations, {part['n_ars']} ARs; "
                  + ", ".join(f"{n} {b:+.3f}" for n, b in part["mean_bits"].items() if n in (s["default_model"], "band",
                                                                                              "data_only")))
    print(f"wrote {args.out} (fit.json: the fitted parameters for CR {result.fit.for_rotation} on)")
    return 0


def _config_source(args: argparse.Namespace) -> str:
    """The first line of `pinn config` (a YAML comment): which config it shows and how to see the main job's."""
    sets = " + --set overrides" if args.overrides else ""
    if args.config is not None:
        return f"config: {args.config}{sets} (over the built-in defaults)"
    if args.for_command is not None:
        return f"config: {_DEFAULT_CONFIGS[args.for_command]()}{sets}, what `pinn {args.for_command}` uses without --config"
    return (f"config: built-in defaults{sets}; `pinn forecast` and `pinn hindcast` use pinn/config/forecast.yaml "
            "without --config: see `pinn config --for forecast`")


def cmd_config(args: argparse.Namespace) -> int:
    from pinn.config.schema import dump_yaml, reference_markdown

    if args.reference:
        print(reference_markdown(), end="")
        return 0
    cfg = _load_config(args, default_for=args.for_command)
    print(f"# {_config_source(args)}")
    print(dump_yaml(cfg), end="")
    return 0


# ---------------------------------------------------------------------------------------------


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Data warnings (repaired headers, masked pixels) as one 'pinn: warning:' line; others as Python shows them."""
    if issubclass(category, InputWarning):
        print(f"pinn: warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("pinn").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except PinnError as exc:
        print(f"pinn: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write that failed after the up-front checks (pinn.io names the output path)
        where = f"{os.fspath(exc.filename)}: " if exc.filename is not None else ""
        print(f"pinn: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pinn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
