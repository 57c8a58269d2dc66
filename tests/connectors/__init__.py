"""Connector tests; the real-format export samples they read live outside the repo."""

from pathlib import Path

import pytest

#: ``../shared/fixtures/real-exports`` beside the repository (samples written by others,
#: see its PROVENANCE.md); tests that read it are skipped when it is not there.
REAL = Path(__file__).parents[3] / "shared" / "fixtures" / "real-exports"
needs_real = pytest.mark.skipif(not REAL.is_dir(),
                                reason=f"real-format fixtures not found at {REAL}")
