"""The judge (rnnkit.judge): its wire format, its proxies, its plan, and mutants graded by it.

The wire and proxy tests run the student side (``serve``) in this process, in a namespace
of its own, so they need no kernel. ``test_mutants_fail_in_the_judge`` grades every
chapter's mutant corpus with ``HardenedExecute`` and the judge, the way ``rnnkit grade``
does: a mutant that passes there, or loses its message, fails.
"""

from __future__ import annotations

import ast
import builtins
import collections
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import numpy as np
import pytest

from mutants import corpus
from rnnkit.judge import proxy, serve, wire
from rnnkit.judge.plan import judge_plan, plan_for_chapter
from rnnkit.paths import chapters

REPO = Path(__file__).resolve().parents[1]


# -- the wire format -------------------------------------------------------------------------
def roundtrip(value: Any) -> Any:
    return wire.loads(wire.dumps(value), max_bytes=2**24)


def test_data_round_trips_with_its_types() -> None:
    value = {"a": [1, 2.5, float("nan"), None, True], "t": (np.arange(6.0).reshape(2, 3),),
             "c": collections.Counter("hello"), "s": {1, 2}, "u": np.array(list("abc")),
             3: np.float32(2.5), (1, "x"): np.int64(7), "g": np.dtype("float32")}
    back = roundtrip(value)
    assert back.keys() == value.keys()
    assert type(back["c"]) is collections.Counter and back["c"] == value["c"]
    assert type(back[3]) is np.float32 and type(back[(1, "x")]) is np.int64
    np.testing.assert_array_equal(back["t"][0], value["t"][0])
    assert back["t"][0].dtype == np.float64 and back["u"].dtype == np.dtype("<U1")
    assert np.isnan(back["a"][2]) and back["a"][3:] == [None, True] and back["s"] == {1, 2}


def test_tensors_generators_and_torch_modules_round_trip() -> None:
    torch = pytest.importorskip("torch")
    x = torch.randn(2, 3, dtype=torch.float64)
    back = roundtrip([x, torch.float32, torch.Size([2, 3]), x.to(torch.bfloat16)])
    assert torch.equal(back[0], x) and back[1] is torch.float32 and back[2] == (2, 3)
    assert back[3].dtype == torch.bfloat16
    rng = np.random.default_rng(5)
    rng.normal()
    assert roundtrip(rng).normal() == np.random.default_rng(5).normal(size=2)[1]
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(torch.rand(2, generator=roundtrip(gen)), torch.rand(2, generator=gen))
    lstm = torch.nn.LSTM(3, 4, batch_first=True).double()
    lstm.bias_hh_l0.requires_grad_(False)
    copy = roundtrip(lstm)
    assert type(copy) is torch.nn.LSTM and copy.batch_first and copy.hidden_size == 4
    assert not copy.bias_hh_l0.requires_grad and copy.weight_ih_l0.requires_grad
    xs = torch.randn(1, 2, 3, dtype=torch.float64)
    assert torch.equal(copy(xs)[0], lstm(xs)[0])


@pytest.mark.parametrize(("raw", "why"), [
    ({"$": "ndarray", "dtype": "O", "shape": [1], "data": ""}, "not data"),
    ({"$": "ndarray", "dtype": "<f8", "shape": [2], "data": "AAAA"}, "bytes"),
    ({"$": "ndarray", "dtype": "<f8", "shape": [1], "data": "not base64!"}, "base64"),
    ({"$": "ref", "module": "os", "name": "system"}, "reference"),
    ({"$": "handle", "id": 1}, "handle"),
    ({"$": "float", "v": "1e400"}, "nan, inf"),
    ({"$": "module", "cls": "Sequential", "init": {}, "tensors": {}}, "not data"),
    ({"$": "rng", "lib": "numpy", "bitgen": "Evil", "state": None}, "bit generator"),
    ([1, 2], "untagged"),
])
def test_what_is_not_data_is_refused(raw: Any, why: str) -> None:
    with pytest.raises(wire.WireError, match=why):
        wire.loads(json.dumps(raw), max_bytes=2**20)


def test_deep_nesting_and_big_messages_are_refused() -> None:
    deep: Any = 1
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"$": "list", "items": [deep]}
    with pytest.raises(wire.WireError, match="nested"):
        wire.decode(deep)
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.loads(json.dumps("x" * 100), max_bytes=50)
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.loads("[" * 100_000 + "]" * 100_000, max_bytes=10**6)


# -- proxies against the student side, in this process -----------------------------------------
@pytest.fixture
def student(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A student namespace that ``serve`` reads, and a judge Link to it (no kernel)."""
    namespace: dict[str, Any] = {}
    monkeypatch.setattr(serve, "_shell", lambda: SimpleNamespace(user_ns=namespace, kernel=None))
    link = proxy.Link(lambda text: repr(serve.handle(text)))
    proxy.set_link(link)
    monkeypatch.setattr(serve, "_ask", lambda prompt: link.answer_callback(
        prompt[len(serve.CALLBACK_PROMPT):]))
    yield namespace
    proxy.set_link(None)


def test_a_call_returns_data_and_raises_the_students_exception(student: dict[str, Any]) -> None:
    def make(n: int) -> Any:
        if n < 0:
            raise ValueError(f"n must be >= 0; got {n}")
        return np.arange(n), {"n": n}

    student["make"] = make
    remote = proxy.RemoteName("make")
    arr, info = remote(3)
    assert type(arr) is np.ndarray and arr.tolist() == [0, 1, 2] and info == {"n": 3}
    with pytest.raises(ValueError, match="n must be >= 0; got -1"):
        remote(-1)
    student["stub"] = lambda: (_ for _ in ()).throw(NotImplementedError())
    with pytest.raises(NotImplementedError):
        proxy.RemoteName("stub")()
    with pytest.raises(NameError, match="missing"):
        proxy.RemoteName("missing")()


def test_student_side_effects_stay_there_except_on_array_arguments(
        student: dict[str, Any]) -> None:
    def sloppy(x: Any, rng: Any) -> float:
        builtins_patch = getattr(np, "allclose")  # noqa: B009 - what a cheat would reach
        x[0] = 99.0  # modifies its input: the judge must see it
        rng.normal()  # advances the generator: so must the judge's
        return float(builtins_patch is np.allclose)

    student["sloppy"] = sloppy
    x, rng, twin = np.zeros(3), np.random.default_rng(1), np.random.default_rng(1)
    proxy.RemoteName("sloppy")(x, rng)
    twin.normal()
    assert x.tolist() == [99.0, 0.0, 0.0]
    assert rng.normal() == twin.normal()


def test_objects_stay_remote_as_handles_that_claim_their_class(student: dict[str, Any]) -> None:
    class Counter2(collections.Counter):
        def top(self) -> str:
            return self.most_common(1)[0][0]

    student["make"] = lambda text: Counter2(text)
    handle = proxy.RemoteName("make")("abca")
    assert isinstance(handle, collections.Counter) and type(handle) is proxy.RemoteObject
    assert handle.top() == "a" and len(handle) == 3 and sorted(handle) == ["a", "b", "c"]
    with pytest.raises(AttributeError, match="does not change"):
        handle.x = 1


def test_a_function_of_the_test_is_called_back_with_the_students_arrays(
        student: dict[str, Any]) -> None:
    def numerical_gradient(f: Any, x: Any, eps: float = 1e-6) -> Any:
        grad = np.zeros_like(x)
        for i in range(x.size):
            old = x[i]
            x[i] = old + eps
            up = f()
            x[i] = old - eps
            grad[i] = (up - f()) / (2 * eps)
            x[i] = old
        return grad

    student["numerical_gradient"] = numerical_gradient
    x = np.array([1.0, -2.0])
    grad = proxy.RemoteName("numerical_gradient")(lambda: float(np.sum(x ** 2)), x, 1e-3)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-6)
    assert x.tolist() == [1.0, -2.0]  # restored, as the student left it


def test_a_forged_reply_is_an_error_never_a_value(student: dict[str, Any]) -> None:
    for forged in ("cos\nsystem\n(S'echo pwned'\ntR.", json.dumps({"ok": True, "value": {
            "$": "ref", "module": "os", "name": "system"}}), repr("not json"), "42"):
        link = proxy.Link(lambda text, forged=forged: forged)
        proxy.set_link(link)
        with pytest.raises(proxy.RemoteError):
            proxy.RemoteName("anything")(1)


# -- the plan: what the judge takes from the instructor's notebook ----------------------------
def _free_names(source: str) -> set[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
              and isinstance(n.ctx, (ast.Store, ast.Del))}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            stored.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            stored |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            stored.add(node.name)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Load)}
    return loaded - stored - set(dir(builtins))


@pytest.mark.parametrize("chapter", chapters(REPO))
def test_every_test_cell_needs_only_the_setup_and_the_exercises(chapter: str) -> None:
    """In the judge a test cell sees the imports cell and the exercise names, nothing else."""
    plan = plan_for_chapter(REPO / "solutions" / chapter)
    setup = _free_names("") | {n for n in _bound_names(plan.setup)}
    nb = nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            missing = _free_names(cell.source) - setup - set(plan.names)
            assert not missing, f"{meta['grade_id']} uses {sorted(missing)}, which the judge " \
                "does not have: define them in the imports cell or in the test cell"


def _bound_names(source: str) -> set[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def test_the_plan_comes_from_the_instructors_cells() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell("def f(x):\n    return x\nclass Model:\n    pass\nK = 3",
                                  metadata={"nbgrader": {"solution": True, "grade_id": "a"}}),
        nbformat.v4.new_code_cell("assert f(1) == 1", metadata={
            "nbgrader": {"grade": True, "grade_id": "a_tests"}, "rnnkit": {"judge": False}}),
        nbformat.v4.new_code_cell("def helper():\n    pass"),
    ])
    plan = judge_plan(nb)
    assert plan.setup == "import numpy as np"
    assert plan.names == ["f", "Model", "K"] and plan.in_kernel == ["a_tests"]


# -- mutants, graded by the judge ---------------------------------------------------------------
def _judged_notebook(chapter: str, folder: Path) -> tuple[Any, dict[str, Any], list[str]]:
    """The solution notebook with, after each graded solution, its mutants and test copies."""
    nb = nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    by_id: dict[str, list[Any]] = collections.defaultdict(list)
    for m in corpus().get(chapter, []):
        by_id[m.grade_id].append(m)
    plan = plan_for_chapter(REPO / "solutions" / chapter)
    cells, probes, in_kernel = [], {}, list(plan.in_kernel)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
        cells.append(cell)
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if not (cell.metadata.get("nbgrader", {}).get("solution") and gid in by_id):
            continue
        test = tests[f"{gid}_tests"]
        for i, mutant in enumerate(by_id[gid]):
            probe_id = f"{gid}_tests__mutant{i}"
            cells.append(nbformat.v4.new_code_cell(mutant.apply(cell.source),
                                                   metadata={"mutant_of": probe_id}))
            meta = json.loads(json.dumps(dict(test.metadata)))
            meta["nbgrader"]["grade_id"] = probe_id
            cells.append(nbformat.v4.new_code_cell(test.source, metadata=meta))
            probes[probe_id] = mutant
            if f"{gid}_tests" in plan.in_kernel:
                in_kernel.append(probe_id)
        cells.append(nbformat.v4.new_code_cell(cell.source))
    nb.cells = cells
    folder.mkdir(parents=True)
    for path in (REPO / "solutions" / chapter).iterdir():
        if path.suffix != ".ipynb" and path.is_file():
            shutil.copy2(path, folder)
    return nb, probes, in_kernel


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(corpus()))
def test_mutants_fail_in_the_judge(chapter: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mutant fails its test cell run by the judge, with the message that names it."""
    from rnnkit.grading.hardening import HardenedExecute

    nb, probes, in_kernel = _judged_notebook(chapter, tmp_path / chapter)
    plan = plan_for_chapter(REPO / "solutions" / chapter)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    HardenedExecute(timeout=120, judge_setup=plan.setup, judge_names=plan.names,
                    judge_in_kernel=in_kernel).preprocess(
        nb, {"metadata": {"path": str(tmp_path / chapter)}, "unique_key": chapter})
    problems = []
    trial_errors: dict[str, list[str]] = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        errors = [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", [])
                  if o.output_type == "error"]
        if "mutant_of" in cell.metadata:  # the mutant's own cell failed: that counts
            trial_errors[cell.metadata["mutant_of"]] = errors
            continue
        if gid in probes:
            errors = trial_errors.get(gid) or errors
            mutant = probes[gid]
            if not errors:
                problems.append(f"PASSES in the judge: {mutant.grade_id}: {mutant.mistake}")
            elif mutant.named and mutant.message.lower() not in " ".join(errors).lower():
                problems.append(f"message does not name it: {mutant.grade_id}: {mutant.mistake}:"
                                f" expected {mutant.message!r} in {errors[0][:300]!r}")
        elif cell.metadata.get("nbgrader", {}).get("grade") and errors:
            problems.append(f"the solution fails {gid} in the judge: {errors[0][:300]}")
    failed = sum(1 for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in probes
                 and (trial_errors.get(c.metadata["nbgrader"]["grade_id"]) or any(
                     o.output_type == "error" for o in c.outputs)))
    assert not problems, f"{chapter}: " + "\n".join(problems)
    assert probes and failed == len(probes), f"{chapter}: {failed} of {len(probes)} mutants failed"
    assert os.environ["NBGRADER_EXECUTION"] == "autograde"


@pytest.mark.slow
def test_a_judge_that_cannot_start_fails_the_grading_not_the_student(tmp_path: Path) -> None:
    """A broken imports cell is the grader's failure: nbgrader reports an error, no score."""
    from rnnkit.grading.hardening import HardenedExecute

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("assert x == 1", metadata={"nbgrader": {
            "grade": True, "grade_id": "t_tests", "points": 1, "solution": False,
            "locked": True, "schema_version": 3}}),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    with pytest.raises(RuntimeError, match=r"judge did not start.*no_such_module"):
        HardenedExecute(timeout=30, judge_setup="import no_such_module", judge_names=[]
                        ).preprocess(nb, {"metadata": {"path": str(tmp_path)}, "unique_key": "x"})


@pytest.mark.slow
def test_the_kernels_copy_of_the_notebook_has_no_test_source(tmp_path: Path) -> None:
    """While the notebook runs, its file in the kernel's folder has every test cell blanked."""
    from rnnkit.grading.hardening import HardenedExecute
    from rnnkit.grading.relay import BLANKED

    test = "secret = 'the hidden test'\nassert read()"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import json\ndef read():\n    cells = json.load(open("
                                  "'x.ipynb'))['cells']\n    return [''.join(c['source']) "
                                  "for c in cells]"),
        nbformat.v4.new_code_cell(test, metadata={"nbgrader": {
            "grade": True, "grade_id": "t_tests", "points": 1, "solution": False,
            "locked": True, "schema_version": 3}}),
        nbformat.v4.new_code_cell("print(read())"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "x.ipynb")
    (tmp_path / "other.ipynb").write_text(nbformat.writes(nb))  # another notebook, with tests
    HardenedExecute(timeout=30, judge_setup="import json", judge_names=["read"]).preprocess(
        nb, {"metadata": {"path": str(tmp_path)}, "unique_key": "x"})
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "hidden test" not in printed and BLANKED.strip() in printed
    assert (tmp_path / "other.ipynb").is_file()  # put back afterwards
