"""The weekly graph digest of a community: built from the database, compared with the last one, drawn.

``prepare_digest`` builds everything a post needs (the digest, the snapshot the next digest compares
with, the PNG); ``bot.digest.posting`` claims the week, posts it and stores the snapshot with
``finish_digest_job``; ``mge digest preview`` writes it to files.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.digest.picture import graph_png
from bot.graph.build import load_community_graph_input
from bot.runtime.jobs import finish_job
from core.digest import Digest, Participation, build_digest_from_graph, digest_period
from core.graph import GraphParams, MoralGraph, build_moral_graph
from storage import digest_repo, jobs_repo
from storage.database import Database
from storage.models import JobRun

DIGEST_JOB = "digest"
#: "This period" of a digest: the days before it is built.
PERIOD = timedelta(days=7)
#: How many recent digest runs are searched for the last snapshot.
SNAPSHOT_LOOKBACK = 10


async def build_digest(
    database: Database,
    *,
    community_id: int,
    now: datetime,
    params: GraphParams = GraphParams(),
    previous: dict | None = None,
) -> tuple[Digest, dict]:
    """The community's digest as of ``now`` and the snapshot to store for the next one.

    ``previous`` defaults to :func:`previous_snapshot` (the last digest that was done)."""
    digest, snapshot, _ = await _build(database, community_id=community_id, now=now, params=params, previous=previous)
    return digest, snapshot


async def prepare_digest(
    database: Database,
    *,
    community_id: int,
    now: datetime,
    params: GraphParams = GraphParams(),
    period: str | None = None,
) -> tuple[Digest, dict, bytes]:
    """What a digest post needs: the digest, its snapshot (store it with :func:`finish_digest_job`)
    and the PNG picture of the graph (``bot.digest.picture``). ``period`` names the digest (default: the ISO
    week of ``now``)."""
    digest, snapshot, graph = await _build(
        database, community_id=community_id, now=now, params=params, previous=None, period=period
    )
    # The picture's panels follow the digest's contexts, so the text and the picture read in one order.
    png = graph_png(
        graph, title=f"{digest.community} — {digest.period}", contexts=[c.context for _, c in digest.contexts()]
    )
    return digest, snapshot, png


async def _build(
    database: Database,
    *,
    community_id: int,
    now: datetime,
    params: GraphParams,
    previous: dict | None,
    period: str | None = None,
) -> tuple[Digest, dict, MoralGraph]:
    data = await load_community_graph_input(database, community_id=community_id)
    graph = build_moral_graph(data.values, data.votes, params)
    if previous is None:
        previous = await previous_snapshot(database, community_id=community_id)
    since = now - PERIOD
    scenarios = await _scenario_contexts(database, community_id=community_id)
    participation = await participation_counts(database, community_id=community_id, since=since, until=now)
    digest, snapshot = build_digest_from_graph(
        graph,
        community=data.community.name or str(data.community.id),
        period=period or digest_period(now),
        since=since,
        until=now,
        scenarios=scenarios,
        previous=previous,
        participation=participation,
    )
    return digest, snapshot, graph


async def _scenario_contexts(database: Database, *, community_id: int) -> list[tuple[str, list[str]]]:
    """(scenario text, its context texts as the graph names them) for each scenario, oldest first."""
    async with database.session() as session:
        rows = await digest_repo.scenario_context_texts(session, community_id=community_id)
    grouped: dict[int, tuple[str, list[str]]] = {}
    for scenario_id, scenario_text, context_text in rows:
        grouped.setdefault(scenario_id, (scenario_text, []))[1].append(context_text.strip())
    return list(grouped.values())


async def participation_counts(
    database: Database, *, community_id: int, since: datetime, until: datetime
) -> Participation:
    """Interviews completed (confirmed) and votes cast in [since, until), and in total."""
    async with database.session() as session:
        return await digest_repo.participation_counts(session, community_id=community_id, since=since, until=until)


# --- the snapshot in job_run -------------------------------------------------------------------------


async def previous_snapshot(database: Database, *, community_id: int) -> dict | None:
    """The snapshot of the community's last digest that was done, or None (none yet, or unreadable)."""
    async with database.session() as session:
        runs = await jobs_repo.latest_done_runs(
            session, job=DIGEST_JOB, community_id=community_id, limit=SNAPSHOT_LOOKBACK
        )
    # A done run without a snapshot (one interrupted while posting, see digest_posting) is skipped.
    for run in runs:
        try:
            snapshot = json.loads(run.detail or "null")
        except ValueError:
            continue
        if isinstance(snapshot, dict) and "version" in snapshot:
            return snapshot
    return None


def finish_digest_job(run: JobRun, snapshot: dict, *, now: datetime) -> None:
    """Mark the digest run done with its snapshot as detail. ``finish_job`` cuts details at 4000
    characters (meant for messages); a snapshot must stay whole JSON, and the column is text."""
    finish_job(run, now=now, ok=True)
    run.detail = json.dumps(snapshot, separators=(",", ":"), sort_keys=True)
