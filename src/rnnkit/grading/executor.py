"""Running ``grade_one`` over a class: any ``concurrent.futures`` executor, a progress bar.

``Grading`` submits every job at once to an executor made by an ``ExecutorFactory``
(``factory(n_workers)``; the default is ``process_pool``, a local process pool), yields
results as they complete with a progress bar and an ETA, and survives workers that die.
A cluster executor (dask, ray, an HPC queue) plugs in as another factory: a job carries
everything it needs, and ``grade_one`` runs one job per process at a time.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .model import GradeJob, GradeResult

ExecutorFactory = Callable[[int], cf.Executor]
#: Modules the worker processes import once (forkserver preload), not once per worker.
PRELOAD = ["rnnkit.grading.worker", "rnnkit.grading.feedback", "rnnkit.kernelclient",
           "rnnkit.grading.hardening", "rnnkit.grading.caps", "rnnkit.grading.integrity",
           "nbgrader.converters", "nbgrader.preprocessors", "nbconvert.exporters", "bleach",
           "rnnkit.judge.process", "rnnkit.judge.proxy", "IPython.core.interactiveshell",
           "rnnkit.grading.warmup"]
_extra: list[str] = []  # what the chapter's judges import (its imports cell): preload_also


def preload_also(modules: list[str]) -> None:
    """Have the fork server import ``modules`` too (call before ``warm_up_workers``).

    Judges are forked from the workers and run the chapter's imports cell: modules the
    workers already hold cost a judge nothing (torch: about 1.5 s of CPU each).
    """
    _extra.extend(m for m in modules if m not in PRELOAD and m not in _extra)


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # the chapter's imports first: warmup (last) does its one-off work with them loaded
        ctx.set_forkserver_preload([*PRELOAD[:-1], *_extra, PRELOAD[-1]])
        return ctx
    return multiprocessing.get_context("spawn")


def warm_up_workers() -> None:
    """Start the fork server now: it imports nbgrader & co. once, for every worker."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def process_pool(workers: int, log: Path | None = None) -> cf.Executor:
    """The default executor: a local process pool whose workers preload nbgrader.

    The workers' (and kernels') own stdout and stderr go to ``log`` when given, so they
    do not scramble the progress bar; what matters is in each result.
    """
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                                  initializer=_init_worker, initargs=(str(log or ""),))


def _init_worker(log: str = "") -> None:
    import warnings

    from sqlalchemy.exc import SAWarning

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt does
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # n kernels in parallel: no oversubscription
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's, not ours to fix
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for target in (1, 2):
            os.dup2(fd, target)
        os.close(fd)
    trace = os.environ.get("RNNKIT_GRADE_TRACE_SECONDS")
    if trace:  # debugging a stuck grading: dump the workers' stacks to the log periodically
        import faulthandler

        faulthandler.dump_traceback_later(float(trace), repeat=True)


class Grading:
    """Jobs submitted on creation; ``results()`` as they complete; ``close()`` stops all.

    A worker that dies (killed, out of memory) breaks the whole pool, and every job not
    finished fails with it. Those jobs are then graded again, each in a pool of its own
    (still ``workers`` at a time): one that breaks its own pool becomes an ``error``
    result, and the others are graded normally.
    """

    def __init__(self, jobs: list[GradeJob], grade: Callable[[GradeJob], GradeResult],
                 workers: int, factory: ExecutorFactory, progress: bool = True,
                 label: str = "grading") -> None:
        self.grade, self.workers, self.factory = grade, workers, factory
        self.live: list[cf.Executor] = []
        self.futures: dict[cf.Future[GradeResult], GradeJob] = {}
        self.total = len(jobs)
        self.progress, self.label = progress, label
        if jobs:
            executor = factory(min(workers, len(jobs)))
            self.live.append(executor)
            self.futures = {executor.submit(grade, job): job for job in jobs}
            # the class report needs matplotlib: import it while the workers work
            threading.Thread(target=_import_quietly, args=("matplotlib.backends.backend_agg",),
                             daemon=True).start()

    def results(self) -> Iterator[GradeResult]:
        """Each job's result, as it completes, with a progress bar and an ETA."""
        if not self.futures:
            return
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread
        with tqdm(total=self.total, desc=self.label, unit="nb", disable=not self.progress,
                  file=sys.stderr, dynamic_ncols=True, smoothing=0.1) as bar:

            def done(job: GradeJob, result: GradeResult) -> GradeResult:
                bar.set_postfix_str(f"{job.student}: {result.status}", refresh=False)
                bar.update(1)
                return result

            broken: list[GradeJob] = []
            for future in cf.as_completed(self.futures):
                job = self.futures[future]
                try:
                    result = future.result()
                except cf.BrokenExecutor:
                    broken.append(job)
                    continue
                except Exception as err:  # grade() is not supposed to raise
                    result = GradeResult(job.student, "error", f"grading failed: {err}")
                yield done(job, result)
            for executor in list(self.live):
                executor.shutdown(wait=True)
                self.live.remove(executor)
            if broken:
                with cf.ThreadPoolExecutor(min(self.workers, len(broken))) as threads:
                    alone = {threads.submit(self._alone, job): job for job in broken}
                    for future in cf.as_completed(alone):
                        yield done(alone[future], future.result())

    def _alone(self, job: GradeJob) -> GradeResult:
        """Grade ``job`` in a pool of its own; a pool it breaks makes it an ``error``."""
        executor = self.factory(1)
        self.live.append(executor)
        try:
            return executor.submit(self.grade, job).result()
        except cf.BrokenExecutor:
            return GradeResult(job.student, "error", "the grading process died on this "
                               "submission (twice): it was killed, or ran out of memory")
        except Exception as err:
            return GradeResult(job.student, "error", f"grading failed: {err}")
        finally:
            executor.shutdown(wait=True)
            if executor in self.live:
                self.live.remove(executor)

    def close(self) -> None:
        """Stop now: cancel what has not started, kill the workers and their kernels."""
        for executor in list(self.live):
            _stop(executor)
        self.live.clear()


def _import_quietly(module: str) -> None:
    with contextlib.suppress(Exception):  # the report will say what is wrong
        __import__(module)


def _stop(executor: cf.Executor) -> None:
    processes = dict(getattr(executor, "_processes", None) or {})
    executor.shutdown(wait=False, cancel_futures=True)
    import psutil

    for pid in processes:
        try:
            proc = psutil.Process(pid)
            for child in proc.children(recursive=True):
                child.kill()
            proc.kill()
        except psutil.Error:
            continue
