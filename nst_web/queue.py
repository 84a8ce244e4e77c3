"""A fair queue: one visitor holds at most a few of the runs waiting or running.

Gradio's queue takes any number of events from one client, up to the queue's size: one
client could fill it, and every other visitor would get "Queue is full". Here a new run is
refused when its visitor (the same session, or the same address: see `visitor_address`) already holds
``per_visitor`` runs of the same concurrency group, queued or running; the queue stays
open to everyone else. And the waiting runs take turns: a visitor's second run waits
behind every other visitor's first. Gradio here, no torch.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

import gradio as gr

from . import gradio_patches

PER_VISITOR = 2  # runs one visitor may have waiting or running at once
# How often the queue looks for work. Gradio's own loops poll every 1 ms (new events) and
# every 10 ms (progress) on Linux, all the time, also while a run holds every core: on
# two cores each wake-up preempts one of torch's threads, and the other waits for it at the
# next barrier. That made a run through the app ~15% slower than the same run from the CLI.
# 50 ms (Gradio's own value on Windows) delays the start of a queued run by that much at most.
POLL_SECONDS = 0.05


def visitor_address(request: Any) -> str | None:
    """The address a request came from, or None when it cannot tell visitors apart.

    Trust model (docs/reliability.md): X-Forwarded-For is read only from a proxy this
    server sits behind: one on this machine (the share link's tunnel, a local reverse
    proxy) or, on Spaces, the Space's own (its peers are private addresses). Such proxies
    append the address they saw, so the client is the rightmost entry that is not one of
    theirs (private or loopback); what a client wrote into the header stands to the left
    of that and is never reached. Any other peer is the visitor itself, and its header is
    ignored. From a trusted proxy without the header, None: the limit then holds per
    session only (a local run of the app, one person).
    """
    peer = request.client.host if request is not None and request.client else None
    if peer is None:
        return None
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return None  # not an address (a test client, a socket file): trust no header
    if not (address.is_loopback or (address.is_private and _on_spaces())):
        return peer
    entries = [e.strip() for e in request.headers.get("x-forwarded-for", "").split(",") if e.strip()]
    for entry in reversed(entries):
        try:
            hop = ipaddress.ip_address(entry)
        except ValueError:
            return entry  # the proxy's own entry is an address; anything else ends the trusted chain
        if not (hop.is_private or hop.is_loopback):
            return entry
    return entries[-1] if entries else None  # private all the way: what the nearest proxy saw


def _on_spaces() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def full_message(limit: int, group: str = "gpu") -> str:
    what = "runs" if group == "gpu" else "requests of this kind"
    return (
        f"You already have {limit} {what} waiting or running; wait for one to finish (or stop it) "
        "before starting another"
    )


def poll_less(demo: gr.Blocks, seconds: float = POLL_SECONDS) -> None:
    """Make ``demo``'s queue look for new events and progress every ``seconds`` (see POLL_SECONDS)."""
    gradio_patches.poll_every(demo, seconds)


def make_fair(demo: gr.Blocks, concurrency_id: str, per_visitor: int = PER_VISITOR) -> None:
    """Limit each visitor to ``per_visitor`` events of ``concurrency_id`` in ``demo``'s queue.

    Before the queue's ``push`` (the one door of /queue/join and /call/*: see
    gradio_patches.before_push): a refusal is Gradio's own "queue full" answer (HTTP 503)
    with `full_message` as its text; once queued, the waiting events take turns.
    """

    def refuse(new: gradio_patches.Pushed) -> str | None:
        if new.concurrency_id != concurrency_id:
            return None
        address = visitor_address(new.request)
        mine = [
            e
            for e in gradio_patches.events(demo, concurrency_id)
            if (new.session_hash and e.session_hash == new.session_hash)
            or (address and visitor_address(e.request) == address)
        ]
        return full_message(per_visitor, concurrency_id) if len(mine) >= per_visitor else None

    def after(fn: Any) -> None:
        if fn.concurrency_id == concurrency_id:
            _take_turns(demo, concurrency_id)

    gradio_patches.before_push(demo, refuse, after)


def _visitor(event: Any) -> str:
    return visitor_address(event.request) or event.session_hash


def _take_turns(demo: gr.Blocks, concurrency_id: str) -> None:
    """Order the waiting events by turns: each visitor's first waiting run before anyone's
    second (counting the runs they have running), first come first within a turn. So a new
    visitor waits for at most the run in progress, not behind another visitor's second."""
    held: dict[str, int] = {}
    for e in gradio_patches.running(demo):
        held[_visitor(e)] = held.get(_visitor(e), 0) + 1

    def in_turns(waiting: list[Any]) -> list[Any]:
        turns = []
        for i, e in enumerate(waiting):
            who = _visitor(e)
            turns.append((held.get(who, 0), i, e))
            held[who] = held.get(who, 0) + 1
        return [e for _, _, e in sorted(turns, key=lambda t: t[:2])]

    gradio_patches.reorder_waiting(demo, concurrency_id, in_turns)
