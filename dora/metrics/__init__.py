"""Pure metric computations over pandas DataFrames: no database, no Django (METRICS.md).

One module per family; every function takes the window `[since, until)` as aware UTC datetimes
and returns frozen dataclasses whose `as_dict()` gives the CONTRACT §4 JSON for that figure.
"""

# The definitions every figure follows, and where they are explained (docs/DEFINITIONS.md, served
# at /definitions/): pages name them in their footer, exports beside their figures.
DEFINITIONS_VERSION = "2"
DEFINITIONS_PATH = "/definitions/"
DEFINITIONS_URL = f"{DEFINITIONS_PATH}#version-{DEFINITIONS_VERSION}"  # the path on the server
