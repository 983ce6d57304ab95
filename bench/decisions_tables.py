"""The tables `bench/decisions.py` writes into docs/decisions.md, from its cells (one per scenario
and window size: the decisions of every simulated half-year)."""

from __future__ import annotations

from typing import Any

import numpy as np

from include.retraining.backtest import POLICIES

Cells = dict[tuple[str, int], Any]  # bench.decisions.Cell
# The backtest's policies, then the two the value table adds (bench/decisions_value.py).
VALUE_POLICIES = (*POLICIES, "weekly_gated", "oracle")
AVERAGE = "**average**"


def _delay(values: list[int | None]) -> str:
    found = [v for v in values if v is not None]
    missed = len(values) - len(found)
    text = ", ".join(str(v) for v in values if v is not None) or "-"
    return text + (f" ({missed} missed)" if missed else "")


def table(cells: Cells) -> str:
    lines = [
        "| scenario | rows/window | false triggers per half-year (mean, max) | runs with drift detected "
        "(mean) | detection delay, windows (per half-year) | triggers after the change (max) | "
        "no-change windows: max weighted drift, max PSI, max drop |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, n), c in cells.items():
        real = c.real
        quiet = (
            f"{max(w.weighted for w in c.quiet):.3f}, {max(w.psi for w in c.quiet):.3f}, "
            f"{max(w.drop for w in c.quiet):+.3f}"
            if c.quiet
            else ""
        )
        lines.append(
            f"| {name} | {n:,} | {np.mean(c.false):.2f}, {max(c.false)} | {np.mean(c.signals):.1f} | "
            f"{_delay(c.delays) if real else ''} | {max(c.after_first) if real else ''} | {quiet} |"
        )
    return "\n".join(lines)


def acceptance(cells: Cells) -> str:
    """The trigger policy's targets, read off the cells."""
    quiet = ("stationary", "weekly seasonality", "yearly seasonality")
    worst = max(max(c.false) for (name, _), c in cells.items() if name in quiet)
    abrupt = cells[("abrupt 0.5-SD shift, 2 important features", 5_000)].delays
    unimportant = max(max(c.triggers) for (name, _), c in cells.items() if name.startswith("unimportant"))
    repeated = max(max(c.after_first) for (name, _), c in cells.items() if name.startswith(("abrupt", "gradual")))

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    return "\n".join(
        [
            "The trigger policy's targets, from the table:",
            f"- at most 1 false trigger per half-year on stationary and seasonal data at every size: worst "
            f"{worst} ({verdict(worst <= 1)});",
            f"- abrupt 0.5-SD shift in 2 important features at 5,000 rows triggers within 1 window: delays "
            f"{_delay(abrupt)} ({verdict(all(d is not None and d <= 1 for d in abrupt))});",
            f"- a shift in unimportant features alone, performance holding: at most {unimportant} trigger(s) "
            f"({verdict(unimportant == 0)});",
            f"- a persistent drift the gate keeps blocking (every retrain blocked, champion never replaced): at "
            f"most {repeated} trigger(s) after it starts ({verdict(repeated <= 2)}).",
        ]
    )


def seasonal_table(results: dict[str, Cells], trigger: Any) -> str:
    """False triggers and detection delays of each `trigger.seasonal_reference` mode, same windows."""
    modes = list(results)
    head = " | ".join(f"`{m}`: false triggers (mean, max); delay" for m in modes)
    lines = [
        f"`trigger.seasonal_reference` (`season_days: {trigger.season_days}`), the same half-years replayed per option:",
        "",
        f"| scenario | rows/window | {head} |",
        "|---|---|" + "---|" * len(modes),
    ]
    for name, n in results[modes[-1]]:
        cells = [results[m][(name, n)] for m in modes]
        row = " | ".join(f"{np.mean(c.false):.2f}, {max(c.false)}; {_delay(c.delays) if c.real else ''}" for c in cells)
        lines.append(f"| {name} | {n:,} | {row} |")
    return "\n".join(lines)


def estimate_table(cells: Cells) -> str:
    """The performance estimate (labels not matured) against the true ROC AUC of the same windows."""
    lines = [
        "The performance estimate (labels not matured), ROC AUC, on the windows from the change on "
        "(all labels of each window known to the harness, none to the estimate):",
        "",
        "| scenario | rows/window | holdout AUC | true AUC (mean) | estimate (mean) | estimate - true (mean) | "
        "mean abs. error | estimate moved from holdout (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, n), c in cells.items():
        pairs = [(w.auc, w.estimate) for w in c.changed if w.auc is not None and w.estimate is not None]
        if not pairs:
            continue
        true, est = np.array(pairs).T
        holdout = np.mean(c.holdout)
        lines.append(
            f"| {name} | {n:,} | {holdout:.3f} | {true.mean():.3f} | {est.mean():.3f} | "
            f"{(est - true).mean():+.3f} | {np.abs(est - true).mean():.3f} | {est.mean() - holdout:+.3f} |"
        )
    return "\n".join(lines)


Figures = dict[str, dict[str, dict[str, float]]]  # scenario -> policy -> metric, retrains, promotions


def value_table(done: list[tuple[str, str, Any]], order: list[str]) -> tuple[str, Figures]:
    """Per scenario (in `order`) and policy the mean served ROC AUC, fits and promotions per
    half-year (means over the repetitions, each a bench.decisions_value.Served), then their
    average over the scenarios (under AVERAGE); and those figures."""
    cells: dict[tuple[str, str], list[Any]] = {}
    for name, policy, served in done:
        cells.setdefault((name, policy), []).append(served)
    names = [name for name in order if (name, "policy") in cells]

    def figures(runs: list[Any]) -> dict[str, float]:
        return {
            "metric": float(np.mean([np.mean(r.metrics) for r in runs])),
            "retrains": float(np.mean([r.retrains for r in runs])),
            "promotions": float(np.mean([r.promotions for r in runs])),
        }

    rows = {name: {p: figures(cells[(name, p)]) for p in VALUE_POLICIES} for name in names}
    average = {
        p: {key: float(np.mean([rows[n][p][key] for n in names])) for key in ("metric", "retrains", "promotions")}
        for p in VALUE_POLICIES
    }
    head = " | ".join(f"`{p}`" for p in VALUE_POLICIES)
    lines = [f"| scenario | {head} |", "|---|" + "---|" * len(VALUE_POLICIES)]
    rows[AVERAGE] = average
    for name, cell in rows.items():
        text = " | ".join(
            f"{cell[p]['metric']:.4f} ({cell[p]['retrains']:.1f} / {cell[p]['promotions']:.1f})" for p in VALUE_POLICIES
        )
        lines.append(f"| {name} | {text} |")
    return "\n".join(lines), rows


def value_acceptance(rows: Figures) -> str:
    """The acceptance of issue 22, read off the average row, and the scenarios that decide it."""
    average = rows[AVERAGE]
    policy, cron = average["policy"], average["every_cron"]
    gap = policy["metric"] - cron["metric"]
    share = policy["retrains"] / cron["retrains"] if cron["retrains"] else float("nan")
    met = gap >= -0.005
    short = {
        name: cell["policy"]["metric"] - cell["every_cron"]["metric"]
        for name, cell in rows.items()
        if name != AVERAGE and cell["policy"]["metric"] - cell["every_cron"]["metric"] < -0.005
    }
    rest = [
        cell["policy"]["metric"] - cell["every_cron"]["metric"]
        for n, cell in rows.items()
        if n not in (*short, AVERAGE)
    ]
    where = ""
    if short:
        listed = "; ".join(f"{name} {value:+.4f}" for name, value in short.items())
        others = (
            f" In the other {len(rest)} scenarios the policy is {min(rest):+.4f} to {max(rest):+.4f} from it."
            if rest
            else ""
        )
        where = f" More than 0.005 below every cron: {listed}.{others}"
    gated = average["weekly_gated"]
    return (
        f"The default policy's mean served ROC AUC is {gap:+.4f} from every cron's on average "
        f"({'within' if met else 'not within'} 0.005), at {policy['retrains']:.1f} retrains per half-year "
        f"against {cron['retrains']:.1f}: {share:.0%} of them ({'at most' if share <= 0.25 else 'more than'} "
        f"a quarter).{where} The weekly retrain through the gate (`weekly_gated`) is "
        f"{gated['metric'] - cron['metric']:+.4f} from every cron at {gated['retrains']:.1f} retrains and "
        f"{gated['promotions']:.1f} promotions. The oracle's average is {average['oracle']['metric']:.4f} with "
        f"{average['oracle']['retrains']:.1f} retrains; the policy's is "
        f"{average['oracle']['metric'] - policy['metric']:.4f} below it."
    )
