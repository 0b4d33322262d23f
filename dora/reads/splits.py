"""Splitting one window's row passes by groups of services: each group's rows of every figure.

`dora.reads.dashboards.split_headlines` gives some 600 scopes of a page (teams, services, kinds)
their figures from one row-wise pass per figure over the window's frames; what it splits here
are those passes' frames (a few hundred thousand rows in all on a large estate). A frame's
services are coded once per window, whatever the groupings it is then split by, and only the
columns the figures read are cut into the groups' frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# The columns of each row pass (`dora.reads.dashboards.Parts`) that its figure reads
# (dora.metrics frequency_of, lead_time_of, change_failure_of, recovery_of, restore_of,
# rework_of): a split headline's parts carry these alone, so that the groups' frames are cut from
# a few numeric columns instead of every string column too. Its figures' items therefore hold
# these columns only: a page that lists items takes them from `headline` on its scope's frames.
FIGURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "frequency": ("first_live_at", "counted", "gap_seconds", "kind"),
    "lead_time": ("lead_time_seconds", "merge_to_production_seconds", "invalid", "unattributed"),
    "change_failure": ("confirmed", "inferred"),
    "recovery": ("recovery_seconds", "invalid"),
    "unrestored": (),  # counted, not read
    "rework": ("rework",),
    "restore": ("restore_seconds", "invalid"),
    "still_open": (),  # counted, not read
}


class RowsSplitter:
    """One row pass's frame (a `service` column and `columns`), split by any grouping of its
    services: its rows' services are coded once, so that each grouping costs an integer sort,
    one take of `columns` and a slice per group."""

    def __init__(self, frame: pd.DataFrame, columns: Sequence[str]) -> None:
        codes, names = pd.factorize(frame["service"])  # -1: a row without a service
        self._codes = codes
        self._position = {name: i for i, name in enumerate(names)}
        self._columns = frame.loc[:, list(columns)]
        self.empty = self._columns.iloc[0:0].reset_index(drop=True)

    def split(self, groups: dict[str, Any]) -> dict[Any, pd.DataFrame]:
        """The rows per group of their service (`groups`: service name -> group key; services
        outside it dropped), in the frame's order and indexed from 0, as the frame of that
        group alone would be; a group without rows has no entry."""
        keys = list(dict.fromkeys(groups.values()))
        number = {key: i for i, key in enumerate(keys)}
        # 16-bit group numbers: numpy's stable sort of them is a radix sort, linear in the rows.
        dtype = np.int16 if len(keys) < np.iinfo(np.int16).max else np.int64
        # Each coded service's group number, -1 outside the groups; the last entry is that of
        # the rows without a service (code -1).
        group_of = np.full(len(self._position) + 1, -1, dtype=dtype)
        for name, key in groups.items():
            position = self._position.get(name)
            if position is not None:
                group_of[position] = number[key]
        codes = group_of[self._codes]
        # A stable sort by group keeps each group's rows in the frame's order; slices are cheap.
        order = np.argsort(codes, kind="stable")
        ends = np.cumsum(np.bincount(codes.astype(np.int64) + 1, minlength=len(keys) + 1))
        outside = int(ends[0])  # the rows of no group sort first
        ordered = self._columns.take(order[outside:])
        bounds = ends - outside
        result: dict[Any, pd.DataFrame] = {}
        for i, key in enumerate(keys):
            start, end = int(bounds[i]), int(bounds[i + 1])
            if end > start:
                # A slice given its own index in place: reset_index(drop=True) would build the
                # frame a second time.
                part = ordered.iloc[start:end]
                part.index = pd.RangeIndex(end - start)
                result[key] = part
        return result
