"""The drill's command line (`python -m loadtests.faults`, `bash loadtests/faults.sh`)."""

from __future__ import annotations

import argparse
import shutil

from loadtests import faults
from loadtests.faults.drill import run_drill
from loadtests.faults.model import FAULTS, VENV_BIN, Options
from loadtests.stack import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.faults", description=(faults.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated, in order (default: {','.join(FAULTS)})",
    )
    parser.add_argument("-u", "--users", type=int, default=40)
    parser.add_argument(
        "--load",
        choices=("locust", "builtin"),
        default=None,
        help="locust (default when installed) or loadtests/players.py",
    )
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--recovery-timeout", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep the servers' folder and logs")
    args = parser.parse_args(argv)
    load = args.load or ("locust" if shutil.which("locust", path=str(VENV_BIN)) else "builtin")
    opts = Options(
        faults=[f for f in args.faults.split(",") if f],
        users=args.users,
        load=load,
        warmup_s=args.warmup,
        settle_s=args.settle,
        recovery_timeout_s=args.recovery_timeout,
        keep=args.keep,
    )
    report = run_drill(opts)
    print()
    print(report["table"])
    print(f"\nresults: {report['json'].relative_to(ROOT)}")
    if report["problems"]:
        print("PROBLEMS:\n  " + "\n  ".join(report["problems"]))
        return 1
    print("no problem found")
    return 0
