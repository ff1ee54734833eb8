"""The fuzz harness the hostile-file tests share: seeded mutants of one valid file written to a
folder, then each probed in-process under a time bound. A format brings its mutations (each
called as ``mutate(rng, *seed)`` and returning a file's bytes) and the seed file's parts."""

from __future__ import annotations

import random
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from loradex.adapters import probe
from loradex.adapters.errors import LoradexError

Mutation = Callable[..., bytes]


def write_mutants(
    folder: Path,
    mutations: Sequence[Mutation],
    *seed: object,
    rng: random.Random,
    cases: int,
    suffix: str,
) -> list[tuple[str, Path]]:
    """``cases`` files in ``folder``, the mutations taken in turn: (mutation name, path) each."""
    made = []
    for i in range(cases):
        mutate = mutations[i % len(mutations)]
        path = folder / f"{i:05}-{mutate.__name__}{suffix}"
        path.write_bytes(mutate(rng, *seed))
        made.append((mutate.__name__, path))
    return made


class _TooSlow(Exception):
    pass


def _alarm(*_: object) -> None:
    raise _TooSlow


def probe_failures(mutants: Sequence[tuple[str, Path]], *, seconds: float) -> list[str]:
    """What went wrong probing each mutant: anything but success or a one-line ``LoradexError``
    naming the file, or a probe longer than ``seconds``."""
    failures: list[str] = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for name, path in mutants:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                probe(path)
            except LoradexError as exc:
                message = str(exc)
                if "\n" in message or str(path) not in message:
                    failures.append(f"{name} {path.name}: not one line naming the file: {message[:200]!r}")
            except _TooSlow:
                failures.append(f"{name} {path.name}: probe took more than {seconds} s")
            except Exception as exc:  # noqa: BLE001 - what the fuzz hunts
                failures.append(f"{name} {path.name}: {type(exc).__name__}: {str(exc)[:200]}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return failures
