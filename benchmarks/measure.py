"""One measurement in a fresh process: ``python -m benchmarks.measure TASK STORE``.

Prints one JSON line: ``seconds`` (wall time of the measured part only) and
``peak_rss_mb`` (the process's peak resident memory, everything included).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _numpy_floor(store: str) -> float:
    """Linear credit plus first-order transition counts on loaded arrays."""
    import numpy as np

    from attribution import build_problem, open_store

    problem = build_problem(open_store(store).columnar(), "pipeline")
    t0 = time.perf_counter()
    seg = problem.conv
    credit = problem.conv_value[seg.row] / seg.length_of_touch
    np.bincount(problem.conv_channel, weights=credit, minlength=problem.n_channels)
    ch = problem.columnar.channel[problem.paths.touch].astype(np.int64)
    same = np.ones(len(ch), bool)
    same[problem.paths.offsets[1:-1]] = False
    pairs = ch[:-1][same[1:]] * (problem.n_channels + 1) + ch[1:][same[1:]]
    np.bincount(pairs, minlength=(problem.n_channels + 1) ** 2)
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    task, store = argv[0], argv[1]
    if task == "synth":
        from attribution.synth import write_synthetic_store

        t0 = time.perf_counter()
        write_synthetic_store(store, int(argv[2]), seed=0)
        seconds = time.perf_counter() - t0
    elif task == "load":
        from attribution import open_store

        t0 = time.perf_counter()
        open_store(store).columnar()
        seconds = time.perf_counter() - t0
    elif task == "floor":
        seconds = _numpy_floor(store)
    elif task == "model":
        from attribution import build_problem, get_model, open_store

        name, target = argv[2], argv[3]
        problem = build_problem(open_store(store).columnar(), target)
        t0 = time.perf_counter()
        model = get_model(name)().fit(problem)
        model.credit(problem)
        seconds = time.perf_counter() - t0
    elif task == "attribute":
        from touchline.cli import main as cli

        out = Path(argv[2])
        t0 = time.perf_counter()
        code = cli(
            [
                "attribute",
                store,
                "--models",
                "all",
                "--target",
                "pipeline,revenue",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        seconds = time.perf_counter() - t0
        if code:
            return code
    else:
        print(f"unknown task {task!r}", file=sys.stderr)
        return 2
    print(json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
