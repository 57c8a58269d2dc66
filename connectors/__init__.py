"""Connectors: read marketing exports and write them as a journey store (DESIGN §2).

Each source is a reader function registered in :data:`SOURCES`; :func:`ingest`
merges any number of inputs into one store.
"""

from .channels import ChannelMapping, assign_channels, load_channel_mapping
from .ga4 import GA4Result, read_ga4
from .ingest import SOURCES, ingest
from .paths import PathsResult, read_paths
from .salesforce import SalesforceResult, read_salesforce
from .spend import SpendResult, campaign_costs, load_fx_rates, read_spend
from .synth_exports import write_exports
from .touches import TouchesResult, read_touches

__all__ = ["SOURCES", "GA4Result", "PathsResult", "SalesforceResult", "ingest",
           "read_ga4", "read_paths", "read_salesforce", "write_exports"]
__all__ += ["ChannelMapping", "SpendResult", "TouchesResult", "assign_channels",
            "campaign_costs", "load_channel_mapping", "load_fx_rates", "read_spend",
            "read_touches"]
