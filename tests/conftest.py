"""The JAX policy of the test suite, set once before JAX starts.

* Several virtual CPU devices (``--xla_force_host_platform_device_count``), so sharding tests run in
  process: computations that are not sharded still run on the first device.
* float32 by default, as production runs. A test that needs float64 (conservation to round-off, analytic
  solutions) says so with ``@pytest.mark.x64`` (or ``pytestmark = pytest.mark.x64`` for a module); its
  fixtures, body and teardown then run inside ``jax.enable_x64(True)``, and nothing leaks into later tests.
  No test module may switch ``jax_enable_x64`` globally.
* One JAX persistent compilation cache for the whole run (``JAX_COMPILATION_CACHE_DIR``, default
  ``.pytest_cache/jax-compilation-cache`` in the repository), exported in ``os.environ`` before JAX starts so
  xdist workers and every subprocess a test starts (CLI, notebooks, README, SIGKILL) share it: a program
  compiled once is loaded, not recompiled, by the next process. Entries are keyed by JAX on the program,
  compile options, XLA flags, devices and versions, so a stale entry is never used for another program.
  Concurrent processes: JAX's file cache writes an entry with a plain (non-atomic) write, but with a size
  limit set (``JAX_COMPILATION_CACHE_MAX_SIZE``) every read and write holds its file lock
  (``<dir>/.lockfile``), so no process reads a half-written entry; a failed read is only a cache miss.
  Set ``JAX_COMPILATION_CACHE_DIR`` yourself to use another folder.
"""

from __future__ import annotations

import os
from pathlib import Path

N_VIRTUAL_DEVICES = 4
JAX_CACHE = Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax-compilation-cache"

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={N_VIRTUAL_DEVICES}"
    ).strip()

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(JAX_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")  # skip only trivial programs
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 << 30))  # a limit turns on the cache's file lock

import jax
import pytest

jax.config.update("jax_enable_x64", False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "x64: run the test (fixtures included) with JAX float64 enabled")


def _precision(item: pytest.Item):
    return jax.enable_x64(item.get_closest_marker("x64") is not None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with _precision(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _precision(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    with _precision(item):
        return (yield)


@pytest.fixture(scope="session")
def virtual_devices() -> list:
    """The CPU devices of the session (at least two, for sharding tests)."""
    devices = jax.devices()
    if len(devices) < 2:
        pytest.skip("needs several JAX devices (XLA_FLAGS was set before this process started JAX)")
    return devices
