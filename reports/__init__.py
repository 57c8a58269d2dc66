"""Report tables and the HTML report, built on attribution results (DESIGN §5).

Each table is a function returning a pandas DataFrame for one quarter (with
``compare``, the previous quarter's values and the change are added);
:func:`build` gathers them all into a :class:`Report` that writes Parquet, CSV and a
self-contained ``report.html``. ``plot_*`` functions draw the charts on a matplotlib
Axes. Reports import :mod:`attribution` only, never :mod:`connectors`.
"""

from ._facts import open_credit
from ._io import neutralise_formulas
from .channel_influence import channel_influence
from .content import content_utilisation
from .funnel import funnel_kpis
from .middle_touch import middle_touch, position_bands
from .periods import latest_full_quarter, previous_quarter
from .plots import (
    plot_influence_vs_attribution,
    plot_middle_touch,
    plot_model_comparison,
    plot_roas_roac,
    plot_top_content,
)
from .report import TABLE_NAMES, Report, build
from .roas import campaign_key, roas_roac

__all__ = [
    "TABLE_NAMES",
    "Report",
    "build",
    "campaign_key",
    "channel_influence",
    "content_utilisation",
    "funnel_kpis",
    "latest_full_quarter",
    "middle_touch",
    "neutralise_formulas",
    "open_credit",
    "plot_influence_vs_attribution",
    "plot_middle_touch",
    "plot_model_comparison",
    "plot_roas_roac",
    "plot_top_content",
    "position_bands",
    "previous_quarter",
    "roas_roac",
]
