"""The worker's database maintenance pass: partitions ahead and raw-event retention, then
VACUUM (ANALYZE) of the tables that need it (``storage/vacuum.py``), under the
maintenance lock so that one worker at a time runs it (``healthscore maintain`` is the
same pass by hand, with a retention of its own and a roll-up rebuild first if asked)."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from healthscore.scoring.requirements import raw_event_lookback_days
from healthscore.scoring.scorecard import Scorecard
from healthscore.settings import Settings
from healthscore.storage.partitions import MaintenanceReport, maintain
from healthscore.storage.rollups import rebuild_rollups as rebuild_from_raw
from healthscore.storage.vacuum import VacuumReport, maintenance_lock, vacuum_due

log = logging.getLogger(__name__)


def run_maintenance(
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    scorecard: Scorecard,
    *,
    partitions: bool = True,
    vacuum: bool = True,
    rebuild_rollups: bool = False,
) -> tuple[MaintenanceReport, VacuumReport] | None:
    """The pass, or the parts asked for; None, doing nothing, when another process holds
    the lock. Retention (``settings.raw_event_retention_days``) keeps what
    ``scorecard``'s windows read: a shorter one raises ``RetentionTooShort``, changing
    nothing. ``rebuild_rollups`` first recomputes the roll-ups from the raw events, in the
    partitions step's transaction (``RawEventsDropped`` once retention dropped some)."""
    started = time.perf_counter()
    with maintenance_lock(engine) as taken:
        if not taken:
            log.info("maintenance: skipped, another worker is running it")
            return None
        report = MaintenanceReport()
        if partitions:
            with sessions() as session, session.begin():
                rebuilt = rebuild_from_raw(session.connection()) if rebuild_rollups else {}
                report = maintain(
                    session.connection(),
                    retention_days=settings.raw_event_retention_days,
                    lookback_days=raw_event_lookback_days(scorecard),
                )
                report.rebuilt = rebuilt
            log.info(
                "maintenance: %d partitions created, %d dropped, %d expired raw rows deleted",
                len(report.created),
                len(report.dropped),
                report.deleted_rows,
            )
        vacuumed = VacuumReport()
        if vacuum:
            vacuumed = vacuum_due(
                engine,
                min_rows=settings.vacuum_threshold_rows,
                scale_factor=settings.vacuum_scale_factor,
            )
            if vacuumed.note:
                log.info("maintenance: %s", vacuumed.note)
            else:
                log.info(
                    "maintenance: VACUUM (ANALYZE) of %d tables (%d dead rows): %s; "
                    "ANALYZE of %d: %s",
                    len(vacuumed.vacuumed),
                    vacuumed.dead_rows,
                    ", ".join(vacuumed.vacuumed) or "none due",
                    len(vacuumed.analyzed),
                    ", ".join(vacuumed.analyzed) or "none due",
                )
    log.info("maintenance: done in %.1f s", time.perf_counter() - started)
    return report, vacuumed
