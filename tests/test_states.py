"""Initial-state builders: bands through A, balances, perturbation hook, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pinn.errors import PinnError
from pinn.physics import equations as eq
from pinn.physics import states as S
from pinn.physics.balance import discrete_balance
from pinn.physics.bands import antisymmetric_pair, flux_density, flux_function
from pinn.physics.equations import SWTParams
from pinn.physics.solver import SolverSettings, make_solver

pytestmark = pytest.mark.x64


@pytest.fixture(scope="module")
def solver():
    return make_solver(SolverSettings(truncation=42, x64=True, dissipation_efold_rotations=None), SWTParams())


def test_strength_conversion():
    # field unit sqrt(4 pi rho) r0 Omega ~ 2e5 G (docs/science.md section 2): 20 kG ~ 0.1
    assert S.strength_from_kG(20.0) == pytest.approx(0.0959, rel=2e-3)


def test_flux_function_gives_the_band(solver):
    """h a = the Gaussian flux density exactly (analytic), A is constant near the poles, parity is right."""
    north, south = antisymmetric_pair(20.0, 8.0, amplitudes_deg=(6.0,), phases_deg=(30.0,))
    fine_lat = np.linspace(-1.5, 1.5, 30001)[:, None]
    fine_lon = np.linspace(0, 2 * np.pi, 7)[None, :]
    A_fine = flux_function(fine_lat, fine_lon, (north, south), 0.1)
    dA_dlat = np.gradient(A_fine, fine_lat[:, 0], axis=0)
    flux = flux_density(fine_lat, fine_lon, (north, south), 0.1)
    assert np.max(np.abs(-dA_dlat - flux)[1:-1]) < 1e-6 * 0.1  # second-order differences, step 1e-4
    lat, lon = solver.lat_lon_rad
    A = flux_function(lat, lon, (north, south), 0.1)
    polar = np.abs(lat[:, 0]) > math.radians(75)
    assert np.ptp(A[polar]) < 1e-12
    np.testing.assert_allclose(A, A[::-1], atol=1e-15)  # A symmetric -> a antisymmetric


def test_warped_band_follows_centre_line_and_is_solenoidal(solver):
    north, south = antisymmetric_pair(20.0, 8.0, amplitudes_deg=(6.0, 2.0), phases_deg=(30.0, -60.0))
    state = S.band_state(solver, (north, south), strength=0.1, balance="pressure")
    f = {k: np.asarray(v) for k, v in solver.to_nodal(state).items()}
    # a peaks on the centre line (within one grid spacing) in the north, with the northern sign
    j = np.argmax(np.where(solver.lat[:, None] > 0, north.sign * f["a"], -np.inf), axis=0)
    centre = north.centre_lat_deg(solver.lon)
    assert np.max(np.abs(solver.lat[j] - centre)) < 2.9
    assert np.all(np.sign(f["a"][j, np.arange(len(solver.lon))]) == north.sign)
    # h a and h b are the curl of the analytic A: h a = band flux density, h b cos = sum_k flux_k dlam_k/dphi
    # (so div(h B) = 0); spectrally converged at T42 to truncation accuracy
    lat, lon = solver.lat_lon_rad
    flux = flux_density(lat, lon, (north, south), 0.1)
    hb_cos = 0.0
    for t in (north, south):
        slope = sum(-m * math.radians(amp) * np.sin(m * lon + math.radians(ph))
                    for m, (amp, ph) in enumerate(zip(t.amplitudes_deg, t.phases_deg), start=1))
        hb_cos = hb_cos + flux_density(lat, lon, (t,), 0.1) * slope
    assert np.max(np.abs(f["h"] * f["a"] - flux)) < 2e-3 * 0.1
    assert np.max(np.abs(f["h"] * f["b"] * np.cos(lat) - hb_cos)) < 2e-3 * np.max(np.abs(hb_cos))
    assert np.max(np.abs(f["b"])) > 1e-3


def test_balances(solver):
    """Pressure balance changes h, not u; jet balance adds a prograde jet and leaves h = h0."""
    toroids = antisymmetric_pair(20.0, 10.0)
    background = {k: np.asarray(v) for k, v in solver.to_nodal(S.background_state(solver)).items()}
    pressure = {k: np.asarray(v) for k, v in solver.to_nodal(S.band_state(solver, toroids, 0.2, "pressure")).items()}
    jet = {k: np.asarray(v) for k, v in solver.to_nodal(S.band_state(solver, toroids, 0.2, "jet")).items()}
    band = np.abs(np.abs(solver.lat) - 20.0) < 3.0
    np.testing.assert_allclose(pressure["u"], background["u"], atol=1e-12)
    assert np.max(np.abs(pressure["h"] - background["h"])) > 1e-4
    assert np.all((jet["u"] - background["u"])[band] > 1e-3)  # prograde in both hemispheres
    assert np.max(np.abs(jet["h"] - background["h"])) < 1e-7  # h unchanged up to the discrete polish
    for f in (pressure, jet):
        np.testing.assert_allclose(f["v"], 0.0, atol=1e-13)
        np.testing.assert_allclose(f["b"], 0.0, atol=1e-13)
    # the analytic balance (equations.steady_axisymmetric_dh_dlat) and the solver's discrete balance agree
    for balance in ("pressure", "jet"):
        state = S.band_state(solver, toroids, 0.2, balance, discrete=False)
        _, change = discrete_balance(solver, state)
        assert change < 1e-7


def test_background_matches_differential_rotation(solver):
    f = solver.to_nodal(S.background_state(solver))
    lat = solver.lat_lon_rad[0]
    np.testing.assert_allclose(f["u"], eq.ZonalFlow()(lat), atol=1e-12)
    assert abs(float(solver.mass(S.background_state(solver))) - 4 * math.pi) < 1e-12  # mean h = 1


def test_nonpositive_thickness_is_refused():
    weak = make_solver(SolverSettings(truncation=21, x64=True), eq.SWTParams(gravity=0.02))
    with pytest.raises(PinnError, match="h must be positive"):
        S.band_state(weak, strength=0.5)


def test_perturbation_hook_with_field_or_flux_function(solver):
    """(a', b') given to the hook reproduce the A' that made them; m-perturbations keep parity."""
    base = S.band_state(solver, antisymmetric_pair(20.0, 10.0), 0.1)
    lat, lon = solver.lat_lon_rad
    dA = 1e-3 * np.cos(lat) ** 3 * np.sin(lat) ** 2 * np.cos(3 * lon)  # smooth, symmetric
    with_A = S.add_nodal_perturbation(solver, base, A=dA)
    # linearised field perturbation of the same A' (h unchanged): a' = -dA'/dlat / h, b' = dA'/dlon / (h cos)
    h0 = np.asarray(solver.to_nodal(base)["h"])
    dA_lat = 1e-3 * np.cos(3 * lon) * (-3 * np.cos(lat) ** 2 * np.sin(lat) ** 3 + 2 * np.cos(lat) ** 4 * np.sin(lat))
    dA_lon = -3e-3 * np.cos(lat) ** 3 * np.sin(lat) ** 2 * np.sin(3 * lon)
    with_ab = S.add_nodal_perturbation(solver, base, a=-dA_lat / h0, b=dA_lon / (h0 * np.cos(lat)))
    diff = np.max(np.abs(np.asarray(with_ab.A) - np.asarray(with_A.A)))
    assert diff < 1e-9 * np.max(np.abs(np.asarray(with_A.A) - np.asarray(base.A)))
    # an m = 2 perturbation of h keeps the antisymmetric class
    pert = solver.to_nodal(S.add_mode_perturbation(solver, base, 2, 1e-4))
    h = np.asarray(pert["h"])
    np.testing.assert_allclose(h, h[::-1], atol=1e-14)
    assert np.ptp(h - np.asarray(solver.to_nodal(base)["h"])) > 1e-4
    with pytest.raises(PinnError, match="either"):
        S.add_nodal_perturbation(solver, base, A=dA, a=dA)


def test_williamson2_fields_are_the_published_ones():
    earth = S.WILLIAMSON
    assert earth.G == pytest.approx(2.94e4 / (6.37122e6 * 7.292e-5) ** 2)
    lat = np.array([0.0, math.pi / 2])
    u, _v, h = S.williamson2_fields(lat, np.zeros(2), 0.0)
    assert u[0] == pytest.approx(2 * math.pi * 6.37122e6 / (12 * 86400) / (6.37122e6 * 7.292e-5))
    assert h[0] == 1.0 and h[1] == pytest.approx(1 - (earth.u0 + earth.u0**2 / 2) / earth.G)
