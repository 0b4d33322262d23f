"""Where DORA's published Quick Check 2025 file is, and the benchmark year the service defaults to.

The file (dora/metrics/data/README.md: origin and licence) is not in the repository. It is
looked for, in order: the path in the setting DORA_QUICK_CHECK_2025_FILE (from the environment
variable of that name); dora/metrics/data/quick_check_2025.json (an operator may drop it there);
<repository root>/../shared/benchmarks/quick_check_2025.json. With it, the default benchmark is
2025 (percentiles); without it, 2025 is unavailable and the default is 2024 (tiers). Looked
for at each request or command, so placing the file takes effect at once; a path's content is
read once per process.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from dora.metrics import levels
from dora.metrics.levels import BENCHMARK_YEARS, DEFAULT_INDUSTRY, Industry

PACKAGE_FILE = Path(levels.__file__).resolve().parent / "data" / "quick_check_2025.json"
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SHARED_FILE = REPOSITORY_ROOT.parent / "shared" / "benchmarks" / "quick_check_2025.json"
QUICK_CHECK_YEAR = 2025
FALLBACK_BENCHMARK = 2024  # the latest year with tiers: the default without the published file


class BenchmarkUnavailable(ValueError):
    """The 2025 benchmark was asked for and the published Quick Check file is missing."""


def quick_check_candidates() -> list[Path]:
    """The places looked at, in order."""
    configured = getattr(settings, "DORA_QUICK_CHECK_2025_FILE", "") or ""
    return [*([Path(configured)] if configured else []), PACKAGE_FILE, SHARED_FILE]


def quick_check_path() -> Path | None:
    """The first candidate that is a file, None when there is none."""
    return next((path for path in quick_check_candidates() if path.is_file()), None)


def missing_text() -> str:
    places = "; ".join(str(path) for path in quick_check_candidates())
    return (
        "the 2025 benchmark needs DORA's published Quick Check 2025 industry file "
        "(industry_metrics.json from dora-team/dora.dev, see dora/metrics/data/README.md), which "
        f"is not here: set DORA_QUICK_CHECK_2025_FILE to its path or place it at one of: {places}"
    )


def quick_check_available() -> bool:
    return quick_check_path() is not None


def default_benchmark() -> int:
    """2025 when the published file is found, else 2024."""
    return QUICK_CHECK_YEAR if quick_check_available() else FALLBACK_BENCHMARK


def available_years() -> tuple[int, ...]:
    """The benchmark years a request may name now (2025 only with the file)."""
    if quick_check_available():
        return BENCHMARK_YEARS
    return tuple(year for year in BENCHMARK_YEARS if year != QUICK_CHECK_YEAR)


def benchmark_check(year: int) -> int:
    """The year, or BenchmarkUnavailable for 2025 without the file (the caller has checked that
    it is a benchmark year)."""
    if year == QUICK_CHECK_YEAR and not quick_check_available():
        raise BenchmarkUnavailable(missing_text())
    return year


def industries() -> dict[str, Industry]:
    """The published industries by key; empty without the file."""
    path = quick_check_path()
    return {} if path is None else levels.load_quick_check(path)


def industry_keys() -> tuple[str, ...]:
    return tuple(industries())


def industry(key: str) -> Industry:
    """One industry; a key the file does not have (stored against another copy of the file)
    falls back to all industries. BenchmarkUnavailable without the file."""
    known = industries()
    if not known:
        raise BenchmarkUnavailable(missing_text())
    return known.get(key) or known[DEFAULT_INDUSTRY]
