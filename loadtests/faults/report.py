"""The drill's report: the per-fault table and the list of problems that fail the run."""

from __future__ import annotations

from typing import Any

from loadtests.faults.model import Options, verdict


def table(report: dict[str, Any], opts: Options) -> str:
    totals = report["totals"]
    dups = len(totals["duplicate_reward_ids"]) + len(totals["duplicate_boundaries"])
    head = (
        "fault",
        "recovery",
        "grants made",
        "seen",
        "lost (bound)",
        "duplicates",
        "kick after",
        "client failures",
        "supervisor restarts",
        "manual restart",
    )
    rows = []
    for r in report["results"]:
        rows.append(
            (
                r.fault,
                f"{r.recovery_s:.1f} s" if r.recovered and r.recovery_s is not None else "NO",
                str(r.grants_made),
                str(r.rewards_seen),
                f"{len(r.lost_seen)} ({r.bound})",
                str(dups),
                " / ".join("NO" if k is None else f"{k * 1000:.0f} ms" for k in r.kick_s) or "-",
                "-" if r.client_failures is None else str(r.client_failures),
                ", ".join(f"{k} x{v}" for k, v in r.supervisor_restarts.items()) or "-",
                ", ".join(r.manual_restart) or "no",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    out = [
        " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)),
        "-+-".join("-" * w for w in widths),
    ]
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows]
    out.append("")
    out.append(
        f"totals: {totals['grants_in_ledger']} grants in the ledger, "
        f"{totals['rewards_seen_by_players']} rewards seen by players, "
        f"{totals['granted_in_redis']} granted per Redis, "
        f"{totals['grants_held_for_review']} held for review; lost (seen, not in ledger) "
        f"{len(totals['lost_seen'])}, lost (Redis-granted, not in ledger) "
        f"{len(totals['lost_redis'])}; duplicate ids {len(totals['duplicate_reward_ids'])}, "
        f"duplicate boundaries {len(totals['duplicate_boundaries'])}, overpaid users "
        f"{len(totals['overpaid_users'])}, dead letters {totals['dead_letters']}, balance "
        f"!= ledger {len(totals['balance_mismatch_users'])}, balance cache off "
        f"{len(totals['balance_cache_mismatch_users'])}; baseline "
        f"{totals['baseline_grants_per_s']} grants/s; recovery = from the kill (redis_stop: "
        f"from the SIGCONT) until every process is ready and a newer grant is in the ledger "
        f"(timeout {opts.recovery_timeout_s:g} s)"
    )
    return "\n".join(out)


def problems_of(report: dict[str, Any], opts: Options) -> list[str]:
    totals = report["totals"]
    problems = [
        f"{r.fault}: {p}" for r in report["results"] for p in verdict(r, opts.recovery_timeout_s)
    ]
    allowed = sum(r.allowed_loss for r in report["results"])
    for name in (
        "duplicate_reward_ids",
        "duplicate_boundaries",
        "overpaid_users",
        "balance_mismatch_users",
    ):
        if totals[name]:
            problems.append(f"{name}: {totals[name]}")
    if len(totals["lost_redis"]) > allowed:
        problems.append(
            f"{len(totals['lost_redis'])} grants Redis recorded are not in the "
            f"ledger: {totals['lost_redis'][:10]}"
        )
    if totals["dead_letters"]:
        problems.append(f"{totals['dead_letters']} dead letters")
    if totals["grants_held_for_review"]:
        # Every player has its own device ids: a hold here is a false positive of the review.
        problems.append(f"{totals['grants_held_for_review']} grants held for review")
    if not totals["drained"]:
        problems.append("the outbox did not drain")
    return problems
