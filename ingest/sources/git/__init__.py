"""Local git repositories: history read with the `git` command, mapped to CONTRACT §1 events."""
