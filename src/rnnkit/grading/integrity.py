"""Integrity report: a static scan of submissions for tampering, flagged for a human.

A flag is not a verdict: it points a reviewer at a line that touches the grading
machinery (patching numpy, rnnkit or builtins, ``sys.modules``, ``ctypes``, files
outside the working copy, the grading environment, IPython's traceback or execution
hooks...). Scores do not depend on flags; the sandbox and ``HardenedExecute`` keep the
score honest, the report tells the instructor who tried.

``scan_notebook(nb, reference=None)`` parses every code cell with ``ast`` (IPython
``%magic`` and ``!shell`` lines are blanked first, shell lines flagged); a cell that
still does not parse is scanned line by line with regular expressions. With a
``reference`` notebook (the release the students got), cells whose source is unchanged
from it are skipped, so instructor code (which may read ``NBGRADER_EXECUTION``) is
never flagged. ``scan_submission(folder, reference=None)`` scans every notebook in a
student's folder and flags ``.py`` files or packages that shadow a module the course
imports (a ``numpy.py`` beside the notebook).

``PATTERNS`` maps each pattern name to the sentence a reviewer reads.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["PATTERNS", "Flag", "scan_files", "scan_notebook", "scan_source", "scan_submission"]

PATTERNS: dict[str, str] = {
    "module_patch": "changes an attribute of numpy, torch, builtins or rnnkit",
    "rebinds_course_name": "rebinds a name the tests rely on (np, torch, check_close...)",
    "sys_modules": "touches sys.modules or the import machinery",
    "ctypes": "uses ctypes/cffi (raw memory access)",
    "file_outside": "reads or writes files outside its own folder (absolute path, '..', "
                    "links, the gradebook or the solutions)",
    "grading_sniffing": "inspects the grading environment (environment variables, cwd, "
                        "host or user names)",
    "traceback_suppression": "replaces IPython's or Python's error reporting",
    "displayhook": "calls or replaces sys.displayhook (fakes a cell result)",
    "kernel_internals": "uses get_ipython(), cell history or IPython's execution hooks",
    "introspection": "inspects call frames, the garbage collector or tracing hooks",
    "process_exit": "exits or kills the process (sys.exit, os._exit, os.kill...)",
    "process_spawn": "starts processes (fork, subprocess, shell commands)",
    "always_true_eq": "defines an equality that does not compare (__eq__ always True)",
    "fake_type": "fakes its type (__class__, __instancecheck__, __subclasscheck__)",
    "interrupt_suppression": "swallows KeyboardInterrupt or installs signal handlers",
    "network": "imports a network module",
    "dynamic_code": "runs code built at run time (exec, eval, compile): read what it runs",
    "suspicious_tags": "tags a cell to be skipped or to be allowed to fail",
    "shadowing_module": "ships a file that shadows a module the course imports",
    "unreadable_notebook": "the notebook cannot be read as JSON",
    "scan_failed": "the integrity scan itself failed on this submission (nothing is known "
                   "about it; its score is unaffected)",
}

GUARDED_MODULES = ("numpy", "torch", "builtins", "rnnkit", "math", "matplotlib")
DEFAULT_ALIASES = {"np": "numpy", "numpy": "numpy", "torch": "torch", "nn": "torch",
                   "F": "torch", "builtins": "builtins", "__builtins__": "builtins",
                   "rnnkit": "rnnkit", "math": "math"}
COURSE_NAMES = {"np", "torch", "nn", "F", "check_close", "check_dtype", "check_equal",
                "check_raises", "check_shape", "check_type", "default_rtol", "inputs_unchanged"}
SHADOWED = {"numpy", "torch", "rnnkit", "matplotlib", "IPython", "ipykernel", "sitecustomize",
            "usercustomize", "builtins", "sys", "os", "io", "math", "random", "json", "re",
            "ast", "inspect", "typing", "collections", "functools", "nbformat", "nbgrader",
            "jupyter_client", "zmq", "traitlets", "ipywidgets", "scipy", "pandas"}
FILE_FUNCS = {"open", "Path", "PurePath", "listdir", "scandir", "walk", "remove", "unlink",
              "rename", "replace", "rmdir", "removedirs", "mkdir", "makedirs", "copy", "copy2",
              "copyfile", "copytree", "rmtree", "move", "glob", "iglob", "load", "save",
              "loadtxt", "savetxt", "genfromtxt", "fromfile", "tofile", "read_text",
              "write_text", "read_bytes", "write_bytes", "stat", "chmod", "chown", "truncate",
              "utime", "access"}
SENSITIVE_WORDS = re.compile(r"gradebook|autograde|nbgrader_config|solutions[/\\]|/etc/|/root|"
                             r"\.ssh|/home/|/proc/", re.I)
# "autograde(d)" but not PyTorch's "autograd", which the chapters teach
SNIFF_WORDS = re.compile(r"nbgrader|autograd(?:e|ed|er|ing)\b|grading|rnnkit-never|sandbox", re.I)
HISTORY_NAMES = re.compile(r"^(In|Out|_ih|_oh|_dh|_i{1,3}|_i\d+|_\d+)$")
EXIT_CALLS = {("sys", "exit"), ("os", "_exit"), ("os", "abort"), ("os", "kill"),
              ("os", "killpg"), ("signal", "raise_signal"), ("signal", "pthread_kill")}
SPAWN_ATTRS = {"fork", "forkpty", "system", "popen", "execv", "execve", "execl", "execlp",
               "execvp", "execvpe", "spawnl", "spawnv", "spawnve", "posix_spawn", "posix_spawnp"}
SPAWN_MODULES = {"subprocess", "multiprocessing", "pty", "pexpect", "sh", "concurrent"}
NETWORK_MODULES = {"socket", "urllib", "requests", "http", "httpx", "ftplib", "smtplib",
                   "telnetlib", "asyncssh", "paramiko", "websocket", "aiohttp"}
INTROSPECTION_ATTRS = {"_getframe", "f_back", "f_globals", "f_locals", "f_code", "tb_frame",
                       "get_objects", "get_referrers", "get_referents", "settrace",
                       "setprofile", "extract_stack", "co_consts", "__code__", "__globals__"}
KERNEL_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                "run_cell", "run_cell_async", "user_ns", "history_manager", "displayhook_class",
                "set_next_input", "register_magic_function", "kernel", "shell_handlers",
                "pre_run_cell", "post_run_cell", "pre_execute", "post_execute"}
TRACEBACK_ATTRS = {"showtraceback", "_showtraceback", "showsyntaxerror", "excepthook",
                   "set_custom_exc", "custom_exceptions", "CustomTB", "InteractiveTB",
                   "SyntaxTB", "__excepthook__"}
SUSPICIOUS_TAGS = {"skip-execution", "raises-exception", "skip", "nbval-skip",
                   "nbval-raises-exception", "remove-cell"}


@dataclass(frozen=True)
class Flag:
    """One suspicious line: where it is, which pattern it matches, and the line itself."""

    cell: int | None  # index of the cell in the notebook (None: a file-level flag)
    grade_id: str | None  # nbgrader grade_id of that cell, if any
    line: int | None  # 1-based line within the cell
    pattern: str  # a key of PATTERNS
    code: str  # the offending line (trimmed), or the file name
    file: str = ""  # notebook or file name, relative to the submission folder

    @property
    def description(self) -> str:
        return PATTERNS.get(self.pattern, self.pattern)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.description}


# -- notebooks --------------------------------------------------------------------------
def scan_notebook(nb: Any, reference: Any = None, file: str = "") -> list[Flag]:
    """Flags for every code cell of ``nb`` (a NotebookNode or dict) a student may have written."""
    cells = list(nb.get("cells", []) if isinstance(nb, dict) else nb.cells)
    known = _reference_sources(reference)
    aliases = dict(DEFAULT_ALIASES)
    for cell in cells:
        if cell.get("cell_type") == "code":
            aliases.update(_import_aliases(_source(cell)))
    flags: list[Flag] = []
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}) or {}
        grade_id = (meta.get("nbgrader") or {}).get("grade_id")
        tags = set(meta.get("tags", []) or [])
        for tag in sorted(tags & SUSPICIOUS_TAGS):
            flags.append(Flag(index, grade_id, None, "suspicious_tags", f"tag {tag!r}", file))
        if cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        if source in known:
            continue
        for line, pattern, code in scan_source(source, aliases):
            flags.append(Flag(index, grade_id, line, pattern, code, file))
    return flags


def scan_source(source: str, aliases: dict[str, str] | None = None
                ) -> list[tuple[int, str, str]]:
    """``(line, pattern, code)`` for one cell's source; AST first, regex when it won't parse."""
    aliases = {**DEFAULT_ALIASES, **_import_aliases(source), **(aliases or {})}
    lines = source.splitlines()
    python, shell_lines = _blank_magics(lines)
    found: set[tuple[int, str]] = {(n, "process_spawn") for n in shell_lines}
    try:
        tree = ast.parse("\n".join(python))
        found |= set(_AstScanner(aliases).run(tree))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # does not parse (or nests deeper than the parser goes): line by line
        found |= set(_regex_scan(lines))
    return [(n, p, _line(lines, n)) for n, p in sorted(found)]


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _line(lines: list[str], n: int) -> str:
    text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
    return text if len(text) <= 200 else text[:197] + "..."


def _reference_sources(reference: Any) -> set[str]:
    if reference is None:
        return set()
    if isinstance(reference, (str, Path)):
        reference = json.loads(Path(reference).read_text(encoding="utf-8"))
    cells = reference.get("cells", []) if isinstance(reference, dict) else reference.cells
    return {_source(c) for c in cells if c.get("cell_type") == "code"}


_MAGIC = re.compile(r"^\s*(%%?|!)(\w*)")


def _blank_magics(lines: list[str]) -> tuple[list[str], set[int]]:
    """Replace IPython magic and shell lines by ``pass``; returns the shell lines' numbers."""
    out, shell = [], set()
    cell_magic = lines and lines[0].lstrip().startswith("%%")
    if cell_magic:
        name = lines[0].lstrip()[2:].split(" ")[0]
        if name in {"bash", "sh", "script", "system", "sx", "writefile", "file", "perl", "ruby"}:
            shell |= set(range(1, len(lines) + 1))
        return ["pass"] * len(lines), shell
    for n, text in enumerate(lines, 1):
        m = _MAGIC.match(text)
        if m:
            indent = text[: len(text) - len(text.lstrip())]
            out.append(indent + "pass")
            if m.group(1) == "!" or m.group(2) in {"system", "sx", "sc", "run", "load", "env",
                                                   "cd", "bookmark", "pip", "conda"}:
                shell.add(n)
        else:
            out.append(text)
    return out, shell


def _import_aliases(source: str) -> dict[str, str]:
    """Names bound by imports from guarded modules: ``{'np': 'numpy', 'ndarray': 'numpy'}``."""
    try:
        tree = ast.parse("\n".join(_blank_magics(source.splitlines())[0]))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                root = a.name.split(".")[0]
                if root in GUARDED_MODULES:
                    found[a.asname or root] = root
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if root in GUARDED_MODULES:
                for a in node.names:
                    found[a.asname or a.name] = root
    return found


class _AstScanner(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.found: list[tuple[int, str]] = []
        self.sys_names = {"sys"}
        self.os_names = {"os"}
        self.loops = 0

    def run(self, tree: ast.AST) -> Iterator[tuple[int, str]]:
        for node in ast.walk(tree):  # module aliases first: `import sys as s` anywhere
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "sys":
                        self.sys_names.add(a.asname or "sys")
                    if a.name == "os":
                        self.os_names.add(a.asname or "os")
        # Iterative, not ast.NodeVisitor's recursion: one expression of a few hundred terms
        # (``1 + 1 + ...``) nests that deep and would exhaust Python's stack.
        self._todo: list[ast.AST | Callable[[], None]] = [tree]
        while self._todo:
            item = self._todo.pop()
            if isinstance(item, ast.AST):
                getattr(self, f"visit_{type(item).__name__}", self.generic_visit)(item)
            else:
                item()  # what a visit_ method asked to run once the node's subtree is done
        return iter(self.found)

    def generic_visit(self, node: ast.AST) -> None:
        """Schedule the children (first child visited first); never recurses."""
        self._todo.extend(reversed(list(ast.iter_child_nodes(node))))

    def _visit_then(self, node: ast.AST, after: Callable[[], None]) -> None:
        """Visit ``node``'s children, then call ``after``."""
        self._todo.append(after)
        self.generic_visit(node)

    def flag(self, node: ast.AST, pattern: str) -> None:
        self.found.append((getattr(node, "lineno", 1), pattern))

    # names and attributes
    def _root(self, node: ast.AST) -> str | None:
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
            node = node.value if not isinstance(node, ast.Call) else node.func
        return node.id if isinstance(node, ast.Name) else None

    def _guarded(self, node: ast.AST) -> bool:
        root = self._root(node)
        if root is None:
            return False
        if root in self.aliases:
            return True
        return isinstance(node, ast.Subscript) and root in {"vars", "globals"}

    def _target(self, target: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t)
        elif isinstance(target, ast.Starred):
            self._target(target.value)
        elif isinstance(target, ast.Attribute):
            if self._guarded(target.value):
                self.flag(target, "module_patch")
            if self._is_sys(target.value) and target.attr in {"modules", "meta_path",
                                                               "path_hooks", "path"}:
                self.flag(target, "sys_modules")
        elif isinstance(target, ast.Subscript):
            base = target.value
            via_dict = isinstance(base, ast.Attribute) and base.attr == "__dict__" \
                and self._guarded(base)
            via_vars = isinstance(base, ast.Call) and isinstance(base.func, ast.Name) \
                and base.func.id == "vars" and bool(base.args) and self._guarded(base.args[0])
            if via_dict or via_vars:
                self.flag(target, "module_patch")
        elif isinstance(target, ast.Name) and (target.id in COURSE_NAMES
                                               or target.id in self.aliases):
            self.flag(target, "rebinds_course_name")

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t)
        self._eq_lambda(node.targets, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._target(t)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:  # a bare except in it: uninterruptible
        self.loops += 1
        self._visit_then(node, self._leave_loop)

    def _leave_loop(self) -> None:
        self.loops -= 1

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._target(node.optional_vars)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def _is_sys(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in self.sys_names

    # definitions
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name in COURSE_NAMES:
            self.flag(node, "rebinds_course_name")
        if node.name in {"__eq__", "__ne__"} and _constant_return(node.body) is not None:
            self.flag(node, "always_true_eq")
        if node.name in {"__instancecheck__", "__subclasscheck__", "__class__"}:
            self.flag(node, "fake_type")
        loops, self.loops = self.loops, 0  # a loop around a def does not run its body

        def restore() -> None:
            self.loops = loops

        self._visit_then(node, restore)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.name in COURSE_NAMES:
            self.flag(node, "rebinds_course_name")
        self.generic_visit(node)

    def _eq_lambda(self, targets: list[ast.expr], value: ast.expr) -> None:
        names = {t.id if isinstance(t, ast.Name) else getattr(t, "attr", None) for t in targets}
        if names & {"__eq__", "__ne__"} and isinstance(value, ast.Lambda) and \
                isinstance(value.body, ast.Constant):
            self.flag(value, "always_true_eq")
        if names & {"__class__", "__instancecheck__", "__subclasscheck__"}:
            self.flag(value, "fake_type")

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._imported(node, a.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._imported(node, module)
        names = {a.name for a in node.names}
        if module == "sys" and names & {"modules", "meta_path", "path_hooks"}:
            self.flag(node, "sys_modules")
        if module == "sys" and names & {"exit"}:
            self.flag(node, "process_exit")
        if module == "os" and names & ({"_exit", "kill", "abort"} | SPAWN_ATTRS):
            self.flag(node, "process_spawn" if names & SPAWN_ATTRS else "process_exit")
        if module == "os" and names & {"environ", "getenv", "getcwd"}:
            self.flag(node, "grading_sniffing")
        if module == "sys" and names & {"_getframe", "settrace", "setprofile"}:
            self.flag(node, "introspection")
        if module == "sys" and names & {"excepthook"}:
            self.flag(node, "traceback_suppression")
        if module == "sys" and names & {"displayhook"}:
            self.flag(node, "displayhook")
        if module.split(".")[0] == "IPython" and names & {"get_ipython"}:
            self.flag(node, "kernel_internals")
        self.generic_visit(node)

    def _imported(self, node: ast.AST, module: str) -> None:
        root = module.split(".")[0]
        if root in {"ctypes", "_ctypes", "cffi"}:
            self.flag(node, "ctypes")
        elif root in {"inspect", "gc"}:
            self.flag(node, "introspection")
        elif root in SPAWN_MODULES:
            self.flag(node, "process_spawn")
        elif root in NETWORK_MODULES:
            self.flag(node, "network")
        elif root in {"importlib", "imp", "zipimport"}:
            self.flag(node, "sys_modules")
        elif root in {"signal"}:
            self.flag(node, "interrupt_suppression")
        elif root in {"getpass", "platform", "psutil", "pwd"}:
            self.flag(node, "grading_sniffing")

    # calls and attributes
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        owner = func.value if isinstance(func, ast.Attribute) else None
        owner_name = owner.id if isinstance(owner, ast.Name) else None
        if name in {"setattr", "delattr"} and isinstance(func, ast.Name) and node.args \
                and self._guarded(node.args[0]):
            self.flag(node, "module_patch")
        if name == "get_ipython":
            self.flag(node, "kernel_internals")
        if name in {"exec", "eval", "compile"} and isinstance(func, ast.Name) and node.args \
                and not isinstance(node.args[0], ast.Constant):
            self.flag(node, "dynamic_code")
        if name in {"exit", "quit"} and isinstance(func, ast.Name):
            self.flag(node, "process_exit")
        if owner_name is not None:
            if (("sys" if owner_name in self.sys_names else
                 "os" if owner_name in self.os_names else owner_name), name) in EXIT_CALLS:
                self.flag(node, "process_exit")
            if owner_name in self.os_names and name in SPAWN_ATTRS:
                self.flag(node, "process_spawn")
            if owner_name in self.os_names and name in {"getenv", "getcwd", "getppid",
                                                         "uname", "getlogin"}:
                self.flag(node, "grading_sniffing")
            if owner_name in self.os_names and name in {"symlink", "link", "chdir", "chroot",
                                                         "mkfifo", "mknod"}:
                self.flag(node, "file_outside")
            if owner_name == "signal" and name in {"signal", "setitimer", "alarm"}:
                self.flag(node, "interrupt_suppression")
        if name in {"__import__", "import_module"}:
            literal = _first_str(node)
            if literal is not None:
                self._imported(node, literal)
        if name in FILE_FUNCS and _outside_path(node):
            self.flag(node, "file_outside")
        if name in {"expanduser", "home"}:
            self.flag(node, "file_outside")
        if name == "reload":
            self.flag(node, "sys_modules")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr in {"modules", "meta_path", "path_hooks", "path_importer_cache"} \
                and self._is_sys(node.value):
            self.flag(node, "sys_modules")
        elif attr in {"environ", "environb", "argv", "orig_argv"}:
            self.flag(node, "grading_sniffing")
        elif attr in TRACEBACK_ATTRS:
            self.flag(node, "traceback_suppression")
        elif attr in {"displayhook", "__displayhook__", "display_pub", "displayhook_class"}:
            self.flag(node, "displayhook")
        elif attr in INTROSPECTION_ATTRS:
            self.flag(node, "introspection")
        elif attr in KERNEL_ATTRS:
            self.flag(node, "kernel_internals")
        elif attr in {"__class__"} and isinstance(node.ctx, ast.Store):
            self.flag(node, "fake_type")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if HISTORY_NAMES.match(node.id) and isinstance(node.ctx, ast.Load):
            self.flag(node, "kernel_internals")
        elif node.id in {"displayhook"} and isinstance(node.ctx, ast.Load):
            self.flag(node, "displayhook")
        elif node.id == "environ":
            self.flag(node, "grading_sniffing")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            if SENSITIVE_WORDS.search(node.value):
                self.flag(node, "file_outside")
            if SNIFF_WORDS.search(node.value):
                self.flag(node, "grading_sniffing")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        names = _exception_names(node.type)
        if names & {"KeyboardInterrupt", "BaseException", "SystemExit"} or (
                node.type is None and self.loops):
            self.flag(node, "interrupt_suppression")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc
        target = exc.func if isinstance(exc, ast.Call) else exc
        if isinstance(target, ast.Name) and target.id in {"SystemExit", "KeyboardInterrupt"}:
            self.flag(node, "process_exit")
        self.generic_visit(node)


def _constant_return(body: list[ast.stmt]) -> Any:
    """The constant a function always returns (``return True``), or None."""
    stmts = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(stmts) == 1 and isinstance(stmts[0], ast.Return) and \
            isinstance(stmts[0].value, ast.Constant) and isinstance(stmts[0].value.value, bool):
        return stmts[0].value.value
    return None


def _exception_names(node: ast.AST | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Tuple):
        return set().union(*(_exception_names(e) for e in node.elts))
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _first_str(node: ast.Call) -> str | None:
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _outside_path(node: ast.Call) -> bool:
    """A string argument that is absolute, starts at home, or climbs with '..'."""
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                text = sub.value
                if text.startswith(("/", "~", "\\")) or ".." in re.split(r"[/\\]", text):
                    return True
    return False


# -- regex fallback ---------------------------------------------------------------------
_ROOTS = r"(?:np|numpy|torch|nn|F|builtins|__builtins__|rnnkit|math)"
REGEXES: list[tuple[str, re.Pattern[str]]] = [
    ("module_patch", re.compile(rf"\b{_ROOTS}(?:\.\w+)+\s*(?:[-+*/|&]?=)(?!=)")),
    ("module_patch", re.compile(rf"\b(?:setattr|delattr)\s*\(\s*{_ROOTS}\b")),
    ("sys_modules", re.compile(r"\bsys\.(?:modules|meta_path|path_hooks)\b|\bimportlib\b")),
    ("ctypes", re.compile(r"\b(?:ctypes|cffi)\b")),
    ("file_outside", re.compile(r"""\b(?:open|Path|listdir|remove|unlink)\s*\(\s*[rbf]*['"]"""
                                r"""(?:/|~|\.\.)|\bos\.(?:symlink|link|chdir)\b""")),
    ("file_outside", SENSITIVE_WORDS),
    ("grading_sniffing", re.compile(r"\bos\.(?:environ|getenv|getcwd)\b|\benviron\b")),
    ("grading_sniffing", SNIFF_WORDS),
    ("traceback_suppression", re.compile(r"showtraceback|excepthook|set_custom_exc|CustomTB")),
    ("displayhook", re.compile(r"displayhook")),
    ("kernel_internals", re.compile(r"\bget_ipython\b|\b_ih\b|\bIn\s*\[|input_transformers|"
                                    r"ast_transformers|\brun_cell\b")),
    ("introspection", re.compile(r"\b(?:inspect|gc)\b|_getframe|f_back|f_globals|settrace")),
    ("process_exit", re.compile(r"\bsys\.exit\b|\bos\._exit\b|\bos\.kill\b|\bquit\s*\(|"
                                r"\bexit\s*\(|SystemExit")),
    ("process_spawn", re.compile(r"\bos\.(?:fork|system|popen|exec\w*|spawn\w*)\b|"
                                 r"\bsubprocess\b|\bmultiprocessing\b|^\s*!")),
    ("always_true_eq", re.compile(r"__eq__\s*=\s*lambda[^:]*:\s*True|"
                                  r"def\s+__eq__\s*\([^)]*\)\s*:\s*return\s+True")),
    ("fake_type", re.compile(r"__instancecheck__|__subclasscheck__|\b__class__\s*=")),
    ("interrupt_suppression", re.compile(r"except\s*\(?[^:]*(?:KeyboardInterrupt|BaseException)"
                                         r"|\bsignal\.signal\b")),
    ("network", re.compile(r"\bimport\s+(?:socket|urllib|requests|http)\b")),
]


def _regex_scan(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for n, text in enumerate(lines, 1):
        for pattern, regex in REGEXES:
            if regex.search(text):
                yield n, pattern


# -- a student's folder -----------------------------------------------------------------
def scan_submission(folder: Path | str, reference: Any = None) -> list[Flag]:
    """Flags for every notebook in ``folder`` (recursively) and for module-shadowing files."""
    folder = Path(folder)
    files: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        try:
            files[rel] = path.read_bytes() if path.suffix == ".ipynb" else None
        except OSError as err:
            files[rel] = str(err).encode()  # reported as an unreadable notebook
    return scan_files(files, reference)


def scan_files(files: dict[str, bytes | None], reference: Any = None) -> list[Flag]:
    """Flags for a submission given as ``{relative path: content}``, in path order.

    Notebooks (``*.ipynb``) are scanned from their content; other files are judged by
    their path alone (their content may be None): a ``numpy.py``, a ``torch/__init__.py``
    or any ``.pth`` file shadows a module the course imports.
    """
    flags: list[Flag] = []
    shadowing: set[str] = set()
    for rel, data in sorted(files.items()):
        parts = PurePosixPath(rel).parts
        if not parts or ".ipynb_checkpoints" in parts:
            continue
        if rel.endswith(".ipynb"):
            try:
                nb = json.loads((data or b"").decode("utf-8"))
                if not isinstance(nb, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, UnicodeDecodeError, RecursionError) as err:
                text = "nested too deeply" if isinstance(err, RecursionError) else str(err)
                flags.append(Flag(None, None, None, "unreadable_notebook", text[:200], rel))
                continue
            flags.extend(scan_notebook(nb, reference, rel))
            continue
        name = parts[-1]
        if name.endswith((".py", ".pyc", ".so", ".pth")) and (
                name.split(".")[0] in SHADOWED or name.endswith(".pth")):
            shadowing.add(rel)
        if name in ("__init__.py", "__init__.pyc") and len(parts) > 1 and parts[-2] in SHADOWED:
            shadowing.discard(rel)
            shadowing.add("/".join(parts[:-1]))
    flags.extend(Flag(None, None, None, "shadowing_module", rel, rel) for rel in sorted(shadowing))
    return sorted(flags, key=lambda f: (f.file, -1 if f.cell is None else f.cell, f.line or 0))
