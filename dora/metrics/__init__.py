"""Pure metric computations over pandas DataFrames: no database, no Django (METRICS.md).

One module per family; every function takes the window `[since, until)` as aware UTC datetimes
and returns frozen dataclasses whose `as_dict()` gives the CONTRACT §4 JSON for that figure.
"""

DEFINITIONS_VERSION = "1"
