"""Lead time in the hindcast: which cases score which rotation at each lead, and the per-lead tables combined.

At lead L (rotations, ``forecast.leads``) the case built from the maps and ARs up to rotation N scores rotation
N+L (:meth:`pinn.chain.case.Case.at_lead`): its predicted ridge is read at the observation times of N+L, the data-only
record is made L rotations ahead, and every causal fit for lead L uses rotations whose lead-L target is <= N. The
hindcast (:func:`pinn.chain.hindcast.rescore`) scores each lead on its own; this module chooses the cases of a lead
and joins the per-lead results: per_ar.csv and per_rotation.csv gain a ``lead`` column (``cr`` stays the scored
rotation), summary.json keeps the lead-1 summary at its top level (as before leads) and adds one per lead under
``leads``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import pandas as pd

from pinn.chain.case import Case

PER_LEAD_KEYS = ("n_ars", "n_rotations", "mean_bits", "mean_auc", "differences_bits", "n_cases")


def eligible_rotations(maps: Collection[int], has_ars: Callable[[int], bool], leads: Sequence[int],
                       crs: Collection[int] | None = None) -> list[int]:
    """The rotations N with a map whose target N+L has ARs (and is in ``crs`` when given) at one of ``leads`` at
    least: the cases the hindcast builds."""
    return [n for n in sorted(maps) if any(has_ars(n + k) and (crs is None or n + k in crs) for k in leads)]


def lead_cases(cases: Sequence[Case], lead: int, has_ars: Callable[[int], bool],
               crs: Collection[int] | None = None) -> list[Case]:
    """The lead-``lead`` views of ``cases`` (lead-1 cases) whose target N+lead has ARs and is in ``crs``, by N."""
    views = [c.at_lead(lead) for c in sorted(cases, key=lambda c: c.cr)
             if has_ars(c.cr + lead) and (crs is None or c.cr + lead in crs)]
    return views


def with_lead(frame: pd.DataFrame, lead: int) -> pd.DataFrame:
    """``frame`` with a ``lead`` column (rotations) right after ``cr``."""
    out = frame.copy()
    out.insert(list(out.columns).index("cr") + 1, "lead", int(lead))
    return out


def join_tables(tables: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Per-lead tables (``cr`` first) stacked, lead after lead, each with its ``lead`` column."""
    return pd.concat([with_lead(tables[k], k) for k in sorted(tables)], ignore_index=True)


def lead_summary(summaries: Mapping[int, dict]) -> dict:
    """The per-lead part of summary.json: for each lead the number of ARs and rotations scored, the mean bits and
    AUCs, and the paired bootstrap differences (each model minus the references) of that lead."""
    return {str(k): {key: summaries[k][key] for key in PER_LEAD_KEYS if key in summaries[k]} for k in sorted(summaries)}
