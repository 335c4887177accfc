"""WebSocket fuzzing of the hub: frame strategies (hypothesis), an oracle that says which reply
each frame must get (PROTOCOL 4 and docs/protocol-notes.md), checks of what the hub pushes and
credits, and a runner that plays scripts of frames against a real hub over loopback.

Used by tests/realtime/test_fuzz.py (a CI-sized run) and loadtests/fuzz.py (100k+ frames with
the hub's RSS sampled); docs/fuzzing.md describes both.

The oracle is written from the contract, not from realtime/protocol.py: a generated frame is
a JSON tree (or raw bytes) and `classify` decides, from the tree, what the hub must answer.
A script is played lock-step (send one frame, read its reply) so each reply is known, except
for floods (`Script.flood`), which send a burst first and then read the replies in order.

Modules: `trees` (JSON trees and their rendering), `contract` (what a frame is: `classify`),
`model` (the connection's states and allowed replies), `pushes` (pushes' shapes, tick
credits), `strategies` (hypothesis), `player` (the runner).
"""

from devkit.wsfuzz.contract import (
    DEPTH_REFUSED,
    DEPTH_SAFE,
    KNOWN_TYPES,
    MALFORMED_LIMIT,
    MAX_FRAME_BYTES,
    Expect,
    Frame,
    Message,
    Script,
    classify,
    message_of,
)
from devkit.wsfuzz.model import Close, Outcome, Reply, State, outcomes, step
from devkit.wsfuzz.player import (
    Failure,
    Tally,
    Target,
    log_line_is_a_fault,
    play,
    token_maker,
)
from devkit.wsfuzz.pushes import PUSHES, Ledger, push_problem
from devkit.wsfuzz.strategies import flood_scripts, frames, message_trees, scripts, watch_scripts
from devkit.wsfuzz.trees import Deep, Lit, Style, TokenSlot, render

__all__ = [
    "DEPTH_REFUSED",
    "DEPTH_SAFE",
    "KNOWN_TYPES",
    "MALFORMED_LIMIT",
    "MAX_FRAME_BYTES",
    "PUSHES",
    "Close",
    "Deep",
    "Expect",
    "Failure",
    "Frame",
    "Ledger",
    "Lit",
    "Message",
    "Outcome",
    "Reply",
    "Script",
    "State",
    "Style",
    "Tally",
    "Target",
    "TokenSlot",
    "classify",
    "flood_scripts",
    "frames",
    "log_line_is_a_fault",
    "message_of",
    "message_trees",
    "outcomes",
    "play",
    "push_problem",
    "render",
    "scripts",
    "step",
    "token_maker",
    "watch_scripts",
]
