#!/usr/bin/env python
"""Django's command-line entry point."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dora.settings")
    # Commands (migrate, import_events, derive ...) get DORA_DB_COMMAND_STATEMENT_TIMEOUT, not
    # the web and worker processes' DORA_DB_STATEMENT_TIMEOUT (dora/settings.py).
    os.environ.setdefault("DORA_PROCESS", "command")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
