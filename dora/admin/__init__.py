"""Admin pages: the estate and gate policy (editable), records and derived facts (read-only),
gate decisions (read-only) and API tokens.

Django's admin autodiscovery imports this package; each module registers its pages on import:
`estate`, `records`, `derived`, `policy` (access, settings, the gate), and dora.alerts.admin.
"""

import dora.admin.derived  # noqa: F401
import dora.admin.estate  # noqa: F401
import dora.admin.policy  # noqa: F401
import dora.admin.records  # noqa: F401

# Alerts: channels, states and deliveries (registered on import).
import dora.alerts.admin  # noqa: F401
