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


def test_devices_leaf_gradients_and_course_spies_round_trip() -> None:
    torch = pytest.importorskip("torch")
    from rnnkit.spies import Feeder, MoveSpy

    assert roundtrip([torch.device("cpu"), torch.device("cpu", 0)]) == [
        torch.device("cpu"), torch.device("cpu:0")]
    p = torch.nn.Parameter(torch.ones(2, 3))
    p.grad = torch.full((2, 3), 0.5)
    back = roundtrip(p)
    assert back.requires_grad and back.is_leaf and torch.equal(back.grad, p.grad)
    assert not roundtrip(torch.ones(2)).requires_grad
    spy = MoveSpy(2).double()
    spy.to("cpu")
    spy.lin.weight.grad = torch.ones(1, 2, dtype=torch.float64)
    twin = roundtrip(spy)
    assert type(twin) is MoveSpy and twin.moved_to == ["cpu"]
    assert torch.equal(twin.lin.weight, spy.lin.weight) and twin.lin.weight.dtype == torch.float64
    assert torch.equal(twin.lin.weight.grad, spy.lin.weight.grad)
    feeder = Feeder([(torch.zeros(2, 1), torch.ones(2, 1))], spy=True)
    x, _ = feeder()
    x.to("cpu")
    back = roundtrip(feeder)
    assert (back.calls, back.moves, back.spy) == (1, ["cpu"], True)


@pytest.mark.parametrize(("raw", "why"), [
    ({"$": "ndarray", "dtype": "O", "shape": [1], "data": ""}, "not data"),
    ({"$": "ndarray", "dtype": "<f8", "shape": [2], "data": "AAAA"}, "bytes"),
    ({"$": "ndarray", "dtype": "<f8", "shape": [1], "data": "not base64!"}, "base64"),
    ({"$": "ref", "module": "os", "name": "system"}, "reference"),
    ({"$": "handle", "id": 1}, "handle"),
    ({"$": "float", "v": "1e400"}, "nan, inf"),
    ({"$": "module", "cls": "Sequential", "init": {}, "tensors": {}}, "not data"),
    ({"$": "rng", "lib": "numpy", "bitgen": "Evil", "state": None}, "bit generator"),
    ({"$": "course", "cls": "Popen", "state": {"$": "dict", "items": []}}, "test classes"),
    ({"$": "device", "type": {"$": "list", "items": []}, "index": None}, "a device"),
    ({"$": "tensor", "torch_dtype": "int64", "dtype": "<i8", "shape": [1], "data": "AAAAAAAAAAA=",
      "requires_grad": True}, "cannot require grad"),
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


def test_a_method_seen_once_is_then_called_in_one_request(student: dict[str, Any]) -> None:
    class Box:
        def __init__(self) -> None:
            self.n = 0

        def bump(self, k: int = 1) -> int:
            self.n += k
            return self.n

    student["Box"] = Box
    box = proxy.RemoteName("Box")()
    link, sent = proxy._current(), []
    send = link._send
    link._send = lambda text: (sent.append(json.loads(text)["op"]), send(text))[1]
    assert box.bump() == 1 and box.bump(k=2) == 3 and box.n == 3
    assert sent == ["getattr", "call", "method", "getattr"]  # n is data: fetched each time


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


def _char_rnn() -> type:
    """A student's character RNN, defined where ``serve`` runs it."""
    import torch
    import torch.nn.functional as F

    class CharRNN(torch.nn.Module):
        def __init__(self, vocab: int, hidden: int, detach: bool = False) -> None:
            super().__init__()
            self.vocab, self.detach = vocab, detach
            self.rnn = torch.nn.RNN(vocab, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, vocab)

        def forward(self, idx: Any, h: Any = None) -> Any:
            hs, h = self.rnn(F.one_hot(idx, self.vocab).to(self.head.weight.dtype), h)
            out = self.head(hs)
            return (out.detach() if self.detach else out), h

    return CharRNN


def test_autograd_reaches_through_the_students_model(student: dict[str, Any]) -> None:
    """The judge's backward() runs the student's graph backward in the student's kernel."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from rnnkit.checks_torch import check_gradients_flow, train_for_check

    student["CharRNN"] = _char_rnn()
    idx, targets = torch.tensor([[0, 1, 2, 3]]), torch.tensor([1, 2, 3, 0])
    torch.manual_seed(0)
    net = proxy.RemoteName("CharRNN")(5, 8)
    torch.manual_seed(0)
    local = student["CharRNN"](5, 8)
    loss = F.cross_entropy(net(idx)[0].reshape(-1, 5), targets)
    assert loss.requires_grad and type(loss) is torch.Tensor
    check_gradients_flow(net, loss, "CharRNN(5, 8)")
    F.cross_entropy(local(idx)[0].reshape(-1, 5), targets).backward()
    remote = dict(net.named_parameters())
    for name, p in local.named_parameters():
        torch.testing.assert_close(remote[name].grad, p.grad)
    detached = proxy.RemoteName("CharRNN")(5, 8, detach=True)
    with pytest.raises(AssertionError, match="has no gradient"):
        check_gradients_flow(detached, F.cross_entropy(detached(idx)[0].reshape(-1, 5), targets),
                             "CharRNN")

    def loss_of(m: Any) -> Any:
        return F.cross_entropy(m(idx)[0].reshape(-1, 5), targets)

    # training through the wire gives what training in one process gives
    assert train_for_check(net, loss_of, 5, lr=0.1, optimizer="adam") == train_for_check(
        local, loss_of, 5, lr=0.1, optimizer="adam")
    copy_ = __import__("copy").deepcopy(net)
    assert type(copy_) is proxy.RemoteObject and copy_ is not net
    torch.testing.assert_close(copy_(idx)[0], net(idx)[0])
    old = net(idx)[0]
    for _ in range(serve.MAX_GRAPHS):
        net(idx)
    with pytest.raises(LookupError, match="no longer kept"):
        old.sum().backward()


def test_course_spies_come_back_with_what_the_students_loop_did(
        student: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    import rnnkit
    from rnnkit.spies import Feeder, MoveSpy

    def train_steps(model: Any, make_batch: Any, loss_fn: Any, steps: int, lr: float,
                    device: Any = None) -> list[float]:
        device = rnnkit.device() if device is None else torch.device(device)
        model.to(device)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        out = []
        for _ in range(steps):
            x, y = make_batch()
            loss = loss_fn(model(x.to(device)), y.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    student["train_steps"] = train_steps
    torch.manual_seed(0)
    model = MoveSpy(2)
    start = model.lin.weight.detach().clone()
    feeder = Feeder([(torch.ones(4, 2), torch.zeros(4, 1))], spy=True)
    monkeypatch.setenv("RNNKIT_DEVICE", "cpu:0")  # the judge's setting holds in the kernel
    losses = proxy.RemoteName("train_steps")(model, feeder, F.mse_loss, 3, 0.1)
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert model.moved_to == [torch.device("cpu:0")] and feeder.calls == 3
    assert feeder.moves == [torch.device("cpu:0")] * 6  # x and y of each batch
    assert not torch.equal(model.lin.weight, start) and model.lin.weight.grad is not None
    with serve._context({"env": {"RNNKIT_DEVICE": "cuda:3"}}):  # the kernel takes the judge's
        assert os.environ["RNNKIT_DEVICE"] == "cuda:3"
    assert os.environ["RNNKIT_DEVICE"] == "cpu:0"


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


# a CharRNN whose gradients do not flow (it detaches its logits) and that, while a test
# calls it, rebinds the gradient and training checks in the notebook's namespace
FORGING_CHAR_RNN = """

def _forge():
    import glob, inspect, linecache
    def _passes(*args, **kwargs):
        return 0.0
    globals().update(check_gradients_flow=_passes, train_for_check=_passes)
    hidden = "aab" + "aab"  # in the memory test's message, which is hidden
    for frame in inspect.stack():  # the test's source, from its frame or the file
        for line in linecache.getlines(frame.filename):
            if hidden in line:
                print("LEAKED:", line.strip())
    for path in glob.glob("*.ipynb"):
        with open(path) as file:
            for line in file:
                if hidden in line:
                    print("LEAKED:", line.strip()[:200])

_forward = CharRNN.forward

def _detached(self, *args, **kwargs):
    _forge()
    logits, h = _forward(self, *args, **kwargs)
    return logits.detach(), h.detach()

CharRNN.forward = _detached
"""


@pytest.mark.slow
@pytest.mark.parametrize("judged", [True, False], ids=["judge", "in-kernel"])
def test_a_torch_model_cannot_forge_its_gradient_tests(judged: bool, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Chapter 03's CharRNN test, which trains and differentiates the student's model, fails
    a model whose gradients do not flow even when it rebinds the checks during the call, and
    the model finds no hidden test to print; with the tests in the kernel the same attack
    passes and prints them (why every test cell runs in the judge)."""
    from rnnkit.grading.hardening import HardenedExecute

    chapter, gid = "03_rnn", "03_CharRNN_tests"
    nb = nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") ==
                    "03_CharRNN")
    solution.source = solution.source.rstrip() + FORGING_CHAR_RNN
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    folder = tmp_path / chapter
    folder.mkdir()
    plan = plan_for_chapter(REPO / "solutions" / chapter)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    HardenedExecute(timeout=120, judge_setup=plan.setup if judged else "",
                    judge_names=plan.names if judged else [],
                    judge_in_kernel=[] if judged else [gid]).preprocess(
        nb, {"metadata": {"path": str(folder)}, "unique_key": chapter})
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    errors = [f"{o.ename}: {o.evalue}" for o in test.outputs if o.output_type == "error"]
    leaked = "LEAKED:" in json.dumps([c.get("outputs", []) for c in nb.cells])
    if judged:
        assert errors and "output has no gradient" in errors[0], errors
        assert not leaked
    else:
        assert not errors, errors
        assert leaked


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
