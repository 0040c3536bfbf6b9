"""The tuning report's sections beyond weights: tier cut-offs and churn probabilities.

Rendered into ``report.render_report``'s page (same styles): old vs proposed cut-offs
with each tier's share and churn rate on the validation cut-offs, and per calibration a
reliability curve with its Brier score next to the base rate's.
"""

from __future__ import annotations

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from healthscore import formats
from healthscore.backtest.calibration import MIN_VALIDATION_CHURNERS
from healthscore.backtest.evaluate import RISK_ORDER, TierRate
from healthscore.backtest.tiers import RULE
from healthscore.backtest.tune import TuningResult
from healthscore.charts.framed import PRIMARY, SECONDARY, Series, reliability_chart

SECTIONS = """
<h2>Tier cut-offs</h2>
<table><tr><th>tier</th><th>current: lower bound</th><th>share</th><th>churn rate</th>
<th>proposed: lower bound</th><th>share</th><th>churn rate</th></tr>
{% for row in tier_rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p class="explain">Shares and churn rates on the validation cut-offs: the current cut-offs
on the current score ({{ current_order }}), the proposed ones on the tuned score
({{ proposed_order }}). {{ tier_verdict }}</p>
<p class="explain">How cut-offs are proposed, on the training cut-offs only: {{ rule }}.</p>

<h2>Churn probability</h2>
{% for c in calibrations %}
<h3>{{ c.title }}</h3>
{% if c.chart %}{{ c.chart }}{% endif %}
<p class="explain">{{ c.text }}</p>
{% endfor %}
<p class="explain">A score becomes a probability through a mapping fitted on the training
cut-offs ({{ method_text }}) and judged on the validation cut-offs. Each dot is a tenth of
the validation snapshots by predicted probability: on the dashed line, accounts given 20%
churned 20% of the time. The <b>Brier score</b> is the mean squared gap between predicted
probability and outcome (lower is better); always predicting the validation churn rate
scores the <b>base-rate Brier</b>. A calibration is <b>validated</b>, and shown beside scores
of its scorecard, only if at least {{ min_churners }} accounts churned in validation, the
probability falls as the score rises, and it beats the base rate by more than chance (a
bootstrap of whole accounts).</p>
"""


def _bound(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _tier_rows(tuning: TuningResult) -> list[list[str]]:
    t = tuning.tiers
    proposed = t.proposal.tiers
    current_rates = {r.tier: r for r in t.current_validation}
    proposed_rates = {r.tier: r for r in t.proposed_validation}
    bounds = {
        "healthy": (t.current.healthy, proposed.healthy if proposed else None),
        "monitor": (t.current.monitor, proposed.monitor if proposed else None),
        "at_risk": (t.current.at_risk, proposed.at_risk if proposed else None),
        "critical": (0.0, 0.0 if proposed else None),
    }

    def cells(rate: TierRate | None, total: int) -> list[str]:
        if rate is None:
            return ["-", "-"]
        return [
            formats.percent(rate.accounts / total if total else None, 1),
            formats.percent(rate.rate, 1),
        ]

    current_total = sum(r.accounts for r in t.current_validation)
    proposed_total = sum(r.accounts for r in t.proposed_validation)
    rows = []
    for tier in (str(x) for x in RISK_ORDER):
        now, then = bounds[tier]
        rows.append(
            [
                tier,
                _bound(now),
                *cells(current_rates.get(tier), current_total),
                _bound(then),
                *cells(proposed_rates.get(tier), proposed_total),
            ]
        )
    return rows


def _calibration_sections(tuning: TuningResult) -> list[dict[str, object]]:
    sections: list[dict[str, object]] = []
    for attempt in tuning.calibrations:
        title = f"{attempt.scorecard}: churn within {attempt.horizon_days} days"
        c = attempt.calibration
        if c is None:
            sections.append(
                {"title": title, "chart": None, "text": f"Not fitted: {attempt.reason}."}
            )
            continue
        j = c.judgement
        colour = SECONDARY if c.scorecard == tuning.tuned.identity else PRIMARY
        chart = reliability_chart(
            [Series(c.scorecard, [(b.predicted, b.observed) for b in j.reliability], colour)],
            title=f"Reliability, {c.horizon_days} days",
        )
        verdict = "Validated." if j.validated else f"Not validated: {j.reason}."
        text = (
            f"Fitted ({c.mapping.method}) on cut-offs {formats.day(c.train_from)} to "
            f"{formats.day(c.train_until)} ({c.train_rows} snapshots, {c.train_churned} "
            f"churned); judged on {formats.day(c.validate_from)} to "
            f"{formats.day(c.validate_until)} ({j.rows} snapshots, {j.churned_accounts} "
            f"churned accounts, base rate {formats.percent(j.base_rate, 1)}). Brier "
            f"{formats.decimal(j.brier, 4)} vs {formats.decimal(j.brier_base_rate, 4)} for "
            f"always predicting the base rate (skill {formats.decimal(j.skill, 3)}, 5th "
            f"percentile {formats.decimal(j.skill_low, 3)}). {verdict} Score 20 → "
            f"{formats.percent(c.mapping.probability(20), 0)}, 50 → "
            f"{formats.percent(c.mapping.probability(50), 0)}, 80 → "
            f"{formats.percent(c.mapping.probability(80), 0)}."
        )
        sections.append({"title": title, "chart": chart, "text": text})
    return sections


def tuning_sections(tuning: TuningResult) -> Markup:
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    t = tuning.tiers
    if t.proposal.tiers is None:
        verdict = f"No cut-offs proposed: {t.proposal.reason}."
    elif t.adopted:
        verdict = f"The tuned scorecard {tuning.tuned.identity} carries the proposed cut-offs."
    else:
        verdict = (
            "The proposed cut-offs are not adopted: churn does not fall monotonically on "
            "validation."
        )
    methods = {a.calibration.mapping.method for a in tuning.calibrations if a.calibration}
    return Markup(
        environment.from_string(SECTIONS).render(
            tier_rows=_tier_rows(tuning),
            current_order=t.current_order.text,
            proposed_order=t.proposed_order.text if t.proposed_order else "none proposed",
            tier_verdict=verdict,
            rule=RULE,
            calibrations=_calibration_sections(tuning),
            method_text=", ".join(sorted(methods)) or "none fitted",
            min_churners=MIN_VALIDATION_CHURNERS,
        )
    )
