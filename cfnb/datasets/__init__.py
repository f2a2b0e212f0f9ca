"""Datasets for learning and testing cfnb: a generator with known truth, and real data.

* :func:`generate` makes a deterministic SaaS event log with every Customer Factory step
  and the true conversion rate of each link (``.truth``), so metrics can be checked
  against the truth and a link can be weakened on purpose (``rates=``).
* :func:`load_sample` loads the bundled generated sample (6,000 users, 26 weeks);
  :func:`sample_truth` gives its true rates and ``sample_path("spec")`` its spec.
* :func:`load_cdnow` loads the CDNOW purchase log (23,570 real customers, 1997-1998);
  ``cdnow_path("spec")`` is a spec fit for purchase-only data.

Examples
--------
>>> from cfnb import datasets
>>> log = datasets.generate(users=300, weeks=4)
>>> sorted(log.truth)
['activation', 'referral', 'retention', 'revenue']
"""

from cfnb.datasets.generator import (
    CHANNELS,
    DEFAULT_CHANNEL_MIX,
    DEFAULT_RATES,
    EVENTS,
    HORIZON,
    LINKS,
    GeneratedLog,
    LinkTruth,
    default_spec,
    generate,
    spec_toml,
)
from cfnb.datasets.samples import (
    SAMPLE_ARGS,
    cdnow_path,
    data_dir,
    load_cdnow,
    load_sample,
    sample_path,
    sample_truth,
    write_sample,
)

__all__ = [
    "CHANNELS",
    "DEFAULT_CHANNEL_MIX",
    "DEFAULT_RATES",
    "EVENTS",
    "HORIZON",
    "LINKS",
    "SAMPLE_ARGS",
    "GeneratedLog",
    "LinkTruth",
    "cdnow_path",
    "data_dir",
    "default_spec",
    "generate",
    "load_cdnow",
    "load_sample",
    "sample_path",
    "sample_truth",
    "spec_toml",
    "write_sample",
]
