"""The backtest as one self-contained HTML page a CS lead can read and forward.

Charts are inline SVG from ``healthscore.charts.framed``: no JavaScript, no CDN, no image
files, so the page opens offline, prints, and survives being attached to an email. Every
number comes with a sentence saying what it means and what a good value looks like.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from healthscore import formats
from healthscore.backtest.evaluate import AucResult, roc_points
from healthscore.backtest.report_tuning import tuning_sections
from healthscore.backtest.service import BacktestResult
from healthscore.backtest.tune import TuningResult
from healthscore.charts.framed import (
    MUTED,
    PRIMARY,
    SECONDARY,
    TIER_COLOURS,
    Series,
    bar_chart,
    histogram,
    line_chart,
    reliability_chart,
)


def _auc(result: AucResult) -> str:
    return formats.estimate(
        result.auc,
        result.ci_low,
        result.ci_high,
        interval="(95% CI {})",
        unknown=f"n/a ({result.reason})" if result.reason else "n/a",
    )


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em;
        color: #222; line-height: 1.45; }
 h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
 .meta { color: #666; } .explain { color: #444; max-width: 70ch; }
 .cards { display: flex; flex-wrap: wrap; gap: 1em; margin: 1em 0; }
 .card { border: 1px solid #ddd; border-radius: 6px; padding: 0.8em 1em; min-width: 180px; }
 .card .value { font-size: 1.6em; font-weight: 600; } .card .label { color: #555; }
 table { border-collapse: collapse; margin: 0.8em 0; }
 th, td { border-bottom: 1px solid #eee; padding: 0.3em 0.8em; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
 .warn { background: #fff4e0; border-left: 4px solid #e67e22; padding: 0.5em 1em; }
 .better { color: #1e8449; font-weight: 600; } .worse { color: #c0392b; font-weight: 600; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">Generated {{ generated }} by healthscore. {{ subtitle }}</p>
{% for w in warnings %}<p class="warn">{{ w }}</p>{% endfor %}

{% if bt %}
<h2>Does a low score come before churn?</h2>
<div class="cards">
 <div class="card"><div class="value">{{ auc_value }}</div>
  <div class="label">ROC AUC{% if auc_range %} (95% CI {{ auc_range }}){% endif %}</div></div>
 <div class="card"><div class="value">{{ pr_value }}</div>
  <div class="label">PR AUC (churn rate {{ churn_rate }})</div></div>
 {% if lt %}
 <div class="card"><div class="value">{{ lt_median }}</div>
  <div class="label">median days of warning</div></div>
 <div class="card"><div class="value">{{ lt_early }}</div>
  <div class="label">churners alerted ≥ {{ lt.early_days }} days early</div></div>
 <div class="card"><div class="value">{{ lt_precision }}</div>
  <div class="label">alert precision</div></div>
 {% endif %}
</div>
{% if ev.roc_auc.reason %}<p class="warn">No ROC AUC: {{ ev.roc_auc.reason }}.</p>{% endif %}
<p class="explain">We went back to {{ bt.cutoffs|length }} past date(s), scored every active
account with <b>{{ bt.scorecard }}</b> using only data recorded before that date, and checked
who cancelled in the following {{ bt.horizon_days }} days ({{ ev.accounts }} account
snapshots, {{ ev.churned }} churned). <b>ROC AUC</b> is the chance that an account that
churned had a lower score than one that stayed: 0.5 is a coin flip, 0.7 is useful, 0.8 and
above is strong. The range is a 95% bootstrap interval: with this much data the true value
is very likely inside it. <b>PR AUC</b> summarises how concentrated churners are at the top
of a "lowest score first" list; compare it with the churn rate, which is what a random list
would score.</p>

<h2>ROC curve</h2>
{{ roc_chart }}
<p class="explain">Walk down the list of accounts from the lowest score up. The curve shows,
at each point, the share of churners already found (up) against the share of healthy
accounts flagged along the way (right). The further the curve bulges to the top left,
above the dashed coin-flip line, the better the score.</p>

<h2>Churn rate by tier</h2>
{{ tier_chart }}
<table><tr><th>tier</th><th>accounts</th><th>churned</th><th>churn rate</th><th>lift</th></tr>
{% for t in ev.by_tier %}<tr><td>{{ t.tier }}</td><td>{{ t.accounts }}</td><td>{{ t.churned }}</td>
<td>{{ pct(t.rate, 1) }}</td><td>{{ num(t.lift) }}x</td></tr>{% endfor %}</table>
<p class="{{ "explain" if bt.tier_order.monotone else "warn" }}">Tiers:
{{ bt.tier_order.text }}.</p>
<p class="explain">If tiers mean what they say, churn rates fall from critical to healthy.
<b>Lift</b> compares a tier's churn rate with the overall rate: 3x means accounts in that
tier churned three times as often as average.</p>

{% if bt.calibration %}
<h2>Churn probability on these cut-offs</h2>
{{ calibration_chart }}
<p class="explain">{{ calibration_text }}</p>
{% endif %}

<h2>Flagging a tier: how right, how complete</h2>
<table><tr><th>flag accounts that are…</th><th>flagged</th><th>precision</th><th>recall</th></tr>
{% for c in ev.tier_cutoffs %}<tr><td>{{ c.label }}</td><td>{{ c.flagged }}</td>
<td>{{ pct(c.precision, 1) }}</td><td>{{ pct(c.recall, 1) }}</td></tr>{% endfor %}</table>
<p class="explain"><b>Precision</b>: of the accounts flagged, the share that did churn (how
often a CSM's call is about a real risk). <b>Recall</b>: of the accounts that churned, the
share that were flagged (how many a CSM would have had a chance to save).</p>

<h2>Lift by score decile</h2>
{{ decile_chart }}
<p class="explain">Accounts sorted by score and cut into ten equal groups, lowest scores in
decile 1. Bars above the dashed line (1x) churned more often than average. A good score
puts tall bars on the left and short bars on the right.</p>

<h2>Which signals carry information?</h2>
<table><tr><th>signal</th><th>AUC on its own</th><th>accounts with data</th></tr>
{% for s in ev.signals %}<tr><td>{{ s.name }}</td><td>{{ num(s.auc, 3) }}</td>
<td>{{ pct(s.coverage) }}</td></tr>{% endfor %}</table>
<p class="explain">Each signal used alone to rank accounts (low value ⇒ churn). Near 0.5
means the signal did not tell churners apart on this data; below 0.5 means it pointed the
wrong way. "Accounts with data" is how often the signal was measured rather than replaced by
its default for "no data" (counts such as tickets or failed payments are always measured:
zero is a measurement).</p>

<h2>Each cut-off</h2>
<table><tr><th>as of</th><th>accounts</th><th>churned</th><th>churn rate</th><th>ROC AUC</th>
<th>horizon fully observed</th></tr>
{% for c in bt.cutoffs %}<tr><td>{{ c.as_of.strftime("%Y-%m-%d") }}</td><td>{{ c.accounts }}</td>
<td>{{ c.churned }}</td><td>{{ pct(c.churn_rate, 1) }}</td><td>{{ num(c.auc, 3) }}</td>
<td>{{ "yes" if c.labels_complete else "no" }}</td></tr>{% endfor %}</table>
{% endif %}

{% if lt %}
<h2>Lead time: how early would we have known?</h2>
{{ lead_chart }}
<p class="explain">We replayed the score for every day from {{ lt.first_day }} to
{{ lt.last_day }} ({{ "read from the saved daily history" if lt.source == "history" else
"recomputed from the raw data, as of midnight each day" }}) and applied the alert rule
<b>{{ lt.rule }}</b>: {{ lt.rule_description }} ({{ lt.alerts_raised }} alerts raised). For
each of the {{ lt.churners|length }} accounts that churned in that period we took the first
alert in the {{ lt.lookback_days }} days before it churned (an alert still standing when that
window opens counts from its first day).
{{ lt_alerted }} of churners were alerted at all; the median alerted churner was flagged
{{ lt_median }} days ahead, and {{ lt_early }} of churners watched for at least
{{ lt.early_days }} days ({{ lt.churners_observed_early }}) were flagged at least
{{ lt.early_days }} days ahead (green bars). <b>Alert precision</b> {{ lt_precision }}:
of the {{ lt.alerted_accounts }} accounts alerted, {{ lt.alerted_then_churned }} churned within
{{ lt.horizon_days }} days of an alert — against {{ lt_base }} of all active accounts, which
is what alerting at random would achieve.</p>
{% for n in lt.notes %}<p class="warn">{{ n }}</p>{% endfor %}
{% endif %}

{% if comparisons %}
<h2>Default vs tuned</h2>
{% if tuning_chart %}{{ tuning_chart }}{% endif %}
<table><tr><th></th>{% for h in comparison_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in comparisons %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p class="explain">{{ comparison_text }}</p>
{% endif %}

{% if tuning %}
<h2>Tuned weights</h2>
<table><tr><th>signal</th><th>group</th><th>default weight</th><th>tuned weight</th></tr>
{% for w in tuning.weights %}<tr><td>{{ w.name }}</td><td>{{ w.group }}</td>
<td>{{ pct(w.default, 1) }}</td><td>{{ pct(w.tuned, 1) }}</td></tr>{% endfor %}</table>
<p class="explain">How: {{ tuning.method }} Signals and thresholds are unchanged, so
the tuned score stays 0-100 and every point is still explained by a signal. A weight of 0
means the signal did not help predict churn on the training period.</p>
{{ tuning_sections }}
{% endif %}
</body></html>
"""


def render_report(
    backtest: BacktestResult | None = None,
    tuning: TuningResult | None = None,
    *,
    title: str = "Does the health score predict churn?",
    generated: datetime | None = None,
) -> str:
    """The HTML page for a backtest, a tuning run, or both."""
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = environment.from_string(TEMPLATE)
    context: dict[str, object] = {
        "title": title,
        "generated": f"{generated or datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "subtitle": "",
        "pct": formats.percent,
        "num": formats.decimal,
        "bt": backtest,
        "tuning": tuning,
        "warnings": [
            *(backtest.warnings if backtest else []),
            *(tuning.warnings if tuning else []),
        ],
        "lt": backtest.lead_time if backtest else None,
        "comparisons": [],
    }
    if backtest:
        context.update(_backtest_context(backtest))
    if tuning:
        context.update(_tuning_context(tuning))
    elif backtest and backtest.comparisons:
        context.update(
            comparison_header=["ROC AUC", "PR AUC"],
            comparisons=[
                [c.scorecard, _auc(c.roc_auc), formats.decimal(c.pr_auc, 3)]
                for c in backtest.comparisons
            ],
            comparison_text=(
                "The same cut-offs and accounts scored with each scorecard: the higher ROC AUC "
                "ranks churners lower more reliably. Overlapping intervals mean the data cannot "
                "tell the two apart with confidence."
            ),
            tuning_chart=None,
        )
    return template.render(**context)


def _backtest_context(backtest: BacktestResult) -> dict[str, object]:
    ev = backtest.evaluation
    tiers = [t for t in ev.by_tier if t.accounts]
    context: dict[str, object] = {
        "ev": ev,
        "subtitle": f"Scorecard {backtest.scorecard}, horizon {backtest.horizon_days} days.",
        "auc_value": formats.decimal(ev.roc_auc.auc, 2),
        "auc_range": (
            f"{ev.roc_auc.ci_low:.2f}-{ev.roc_auc.ci_high:.2f}"
            if ev.roc_auc.ci_low is not None and ev.roc_auc.ci_high is not None
            else ""
        ),
        "pr_value": formats.decimal(ev.pr_auc, 2),
        "churn_rate": formats.percent(ev.churn_rate, 1),
        "roc_chart": line_chart(
            [Series(backtest.scorecard, ev.roc_points, PRIMARY)],
            x_label="share of retained accounts flagged",
            y_label="share of churners found",
            title="ROC curve",
            diagonal=True,
        ),
        "tier_chart": bar_chart(
            [t.tier for t in tiers],
            [t.rate for t in tiers],
            x_label="tier at the cut-off",
            y_label="churned within the horizon",
            title="Churn rate by tier",
            value_format="{:.1%}",
            colours=[TIER_COLOURS.get(t.tier, PRIMARY) for t in tiers],
            reference=ev.churn_rate,
            reference_label="all accounts",
        ),
        "decile_chart": bar_chart(
            [str(d.decile) for d in ev.by_decile],
            [d.lift for d in ev.by_decile],
            x_label="score decile (1 = lowest scores)",
            y_label="lift (x average churn rate)",
            title="Lift by decile",
            value_format="{:.1f}x",
            reference=1.0,
            reference_label="average",
        ),
    }
    check = backtest.calibration
    if check:
        j = check.judgement
        context.update(
            calibration_chart=reliability_chart(
                [
                    Series(
                        f"calibration {check.calibration_id}",
                        [(b.predicted, b.observed) for b in j.reliability],
                        PRIMARY,
                    )
                ],
                title=f"Reliability, {check.horizon_days} days",
            ),
            calibration_text=(
                f"The probability shown beside scores of {backtest.scorecard} comes from "
                f"calibration {check.calibration_id} (trained on cut-offs up to "
                f"{formats.day(check.train_until)}). On these cut-offs its Brier score is "
                f"{formats.decimal(j.brier, 4)} against {formats.decimal(j.brier_base_rate, 4)} "
                f"for always predicting the churn rate ({formats.percent(j.base_rate, 1)}): "
                + ("it still holds." if j.validated else f"it no longer holds ({j.reason}).")
                + (
                    " Some of these cut-offs fall in its training period, so this is not an "
                    "out-of-time check."
                    if check.overlaps_training
                    else ""
                )
            ),
        )
    lead = backtest.lead_time
    if lead:
        context.update(
            lt_median=formats.decimal(lead.median_lead_days, 0),
            lt_early=formats.percent(lead.share_early),
            lt_alerted=formats.percent(lead.share_alerted),
            lt_precision=formats.percent(lead.precision),
            lt_base=formats.percent(lead.base_rate),
            lead_chart=histogram(
                lead.lead_days,
                bin_days=7,
                x_label="days between first alert and churn",
                title="Lead time",
                marker=lead.early_days,
            ),
        )
    return context


def _tuning_context(tuning: TuningResult) -> dict[str, object]:
    def verdict(default: AucResult, tuned: AucResult) -> Markup:
        if default.auc is None or tuned.auc is None:
            return Markup("n/a")
        css = "better" if tuned.auc > default.auc else "worse"
        return Markup(f'<span class="{css}">{tuned.auc - default.auc:+.3f}</span>')

    rows = [
        [
            "training cut-offs (fitted here)",
            _auc(tuning.train_default),
            _auc(tuning.train_tuned),
            verdict(tuning.train_default, tuning.train_tuned),
        ],
        [
            "validation cut-offs (the honest test)",
            _auc(tuning.validate_default),
            _auc(tuning.validate_tuned),
            verdict(tuning.validate_default, tuning.validate_tuned),
        ],
        [
            "validation PR AUC",
            formats.decimal(tuning.validate_pr_default, 3),
            formats.decimal(tuning.validate_pr_tuned, 3),
            "",
        ],
    ]
    validation = tuning.validation
    chart = line_chart(
        [
            Series(tuning.base.identity, roc_points(validation.churned, validation.default), MUTED),
            Series(
                tuning.tuned.identity, roc_points(validation.churned, validation.tuned), SECONDARY
            ),
        ],
        x_label="share of retained accounts flagged",
        y_label="share of churners found",
        title="ROC on validation cut-offs",
        diagonal=True,
    )
    return {
        "tuning_sections": tuning_sections(tuning),
        "subtitle": (
            f"Scorecard {tuning.base.identity} tuned into {tuning.tuned.identity}, "
            f"horizon {tuning.horizon_days} days."
        ),
        "comparison_header": [
            "ROC AUC " + tuning.base.identity,
            "ROC AUC " + tuning.tuned.identity,
            "change",
        ],
        "comparisons": rows,
        "tuning_chart": chart,
        "comparison_text": (
            f"Weights were fitted on {len(tuning.train_cutoffs)} training cut-off(s) "
            f"({tuning.train_accounts} snapshots, {tuning.train_churned} churned) and checked on "
            f"{len(tuning.validate_cutoffs)} later validation cut-off(s) "
            f"({tuning.validate_accounts} snapshots, {tuning.validate_churned} churned) that the "
            "fit never saw. Only the validation row says whether the tuned weights generalise."
        ),
    }


def write_report(
    path: Path,
    backtest: BacktestResult | None = None,
    tuning: TuningResult | None = None,
    *,
    title: str = "Does the health score predict churn?",
) -> None:
    path.write_text(render_report(backtest, tuning, title=title), encoding="utf-8")
