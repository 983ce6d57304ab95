"""The demo's script of real-world events, week by week.

Week k covers (START + k weeks - 7 days, START + k weeks]; the runs of week k happen at its end,
Monday 03:00 UTC, as the weekly schedule would. Everything is seeded: a rerun plays the same
data and reaches the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from demo.churn_data import PRICING_CHANGE, STABLE, World

START = datetime(2026, 1, 5, 3, tzinfo=UTC)  # a Monday
SEED = 7
ROWS_PER_WEEK = 1500
HISTORY_WEEKS = 4  # loaded before the first run, so the first model has a window to learn from
FIRST_RUN_WEEK = 4
PRICING_CHANGE_WEEK = 6  # data from this week on follows the new pricing
BROKEN_LOAD_WEEK = 9  # this week's load renames a category upstream...
REPAIRED_AT_WEEK = 12  # ...and is reloaded correctly before this week's runs
# The broken load arrives the day the weekly retrain promotes a new champion; the on-call, seeing
# the drift report, puts the previous champion back by hand until the data is checked.
ROLLBACK_WEEK = BROKEN_LOAD_WEEK + 1
ROLLBACK_REASON = (
    "payment_method arrives as 'e-check' in this week's load, the day this champion was promoted; "
    "back to the previous champion until the upstream team confirms the data"
)
LAST_WEEK = 12

BROKEN_LOAD = World(
    charges_shift=PRICING_CHANGE.charges_shift,
    contract_effect=PRICING_CHANGE.contract_effect,
    charges_effect=PRICING_CHANGE.charges_effect,
    renamed_categories={"payment_method": {"electronic_check": "e-check"}},
)


@dataclass(frozen=True)
class Week:
    index: int
    world: World
    event: str

    @property
    def start(self) -> datetime:
        return START + timedelta(weeks=self.index)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(weeks=1)


def week(index: int) -> Week:
    """The data that arrives during week `index` (covering (start, end])."""
    if index == BROKEN_LOAD_WEEK:
        return Week(index, BROKEN_LOAD, "broken upstream load: payment_method 'electronic_check' arrives as 'e-check'")
    if index >= PRICING_CHANGE_WEEK:
        event = "pricing change: charges up, long contracts start to churn" if index == PRICING_CHANGE_WEEK else ""
        return Week(index, PRICING_CHANGE, event)
    return Week(index, STABLE, "")


def repaired(index: int) -> Week:
    """The corrected reload of a broken week."""
    return Week(index, PRICING_CHANGE, "upstream team reloads the broken week correctly")
