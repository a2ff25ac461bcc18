"""Chapter 01 (sequences): realistic mistakes in each exercise, and the words that must name them."""

from __future__ import annotations

from . import Mutant

MW, BV, EN, DE, OH = "01_make_windows", "01_build_vocab", "01_encode", "01_decode", "01_one_hot"
FIT, PRED = "01_fit_autoregressive", "01_predict_autoregressive"

MUTANTS = [
    # make_windows
    Mutant(MW, "one window too few (n = len - window - horizon)", "one window too few",
           replace=(("n = len(series) - window - horizon + 1", "n = len(series) - window - horizon"),)),
    Mutant(MW, "horizon ignored: n = len - window, y[i] = series[i + window]", "horizon is ignored",
           replace=(("n = len(series) - window - horizon + 1", "n = len(series) - window"),
                    ("y = series[window + horizon - 1 : window + horizon - 1 + n].copy()",
                     "y = series[window : window + n].copy()"))),
    Mutant(MW, "the target is the last value of the window", "last value of the window",
           replace=(("y = series[window + horizon - 1 : window + horizon - 1 + n].copy()",
                     "y = series[window + horizon - 2 : window + horizon - 2 + n].copy()"),)),
    Mutant(MW, "the target is one step too late (no - 1)", "one step too late",
           replace=(("y = series[window + horizon - 1 : window + horizon - 1 + n].copy()",
                     "y = series[window + horizon : window + horizon + n].copy()"),)),
    Mutant(MW, "window = 0 accepted (no check that window >= 1)", "window=0) did not raise ValueError",
           replace=(("not isinstance(value, (int, np.integer)) or value < 1:",
                     "not isinstance(value, (int, np.integer)) or value < 0:"),)),
    Mutant(MW, "a float window is not rejected (TypeError from range)", "window=2.5) raised TypeError",
           replace=(("if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:",
                     "if value < 1:"),)),
    Mutant(MW, "a 2-D series is not rejected", "a 2-D series) did not raise ValueError",
           replace=(("    if series.ndim != 1:\n        raise ValueError(f\"series must be 1-D; got an array of "
                     "shape {series.shape}\")\n", ""),)),
    Mutant(MW, "float64 windows for a float32 series", "keep the series' dtype",
           replace=(("series = np.asarray(series)", "series = np.asarray(series, dtype=float)"),)),
    # build_vocab
    Mutant(BV, "itos unsorted: list(set(text))", "not sorted",
           replace=(("itos = sorted(set(text))", "itos = list(set(text))"),)),
    Mutant(BV, "itos in order of first appearance", "not sorted",
           replace=(("itos = sorted(set(text))", "itos = list(dict.fromkeys(text))"),)),
    Mutant(BV, "itos as a dict {i: ch}", "itos is a dict; expected a list",
           replace=(("itos = sorted(set(text))", "itos = dict(enumerate(sorted(set(text))))"),
                    ("stoi = {ch: i for i, ch in enumerate(itos)}", "stoi = {ch: i for i, ch in itos.items()}"))),
    Mutant(BV, "stoi and itos returned in the wrong order", "returned (itos, stoi)",
           replace=(("return stoi, itos", "return itos, stoi"),)),
    Mutant(BV, "stoi counts from 1", "counts from 1",
           replace=(("enumerate(itos)", "enumerate(itos, 1)"),)),
    Mutant(BV, "itos keeps repeated characters: sorted(text)", "repeats characters",
           replace=(("itos = sorted(set(text))", "itos = sorted(text)"),)),
    # encode
    Mutant(EN, "returns a list", "is a list; expected a ndarray",
           replace=(("return np.array([stoi[ch] for ch in text], dtype=np.int64)",
                     "return [stoi[ch] for ch in text]"),)),
    Mutant(EN, "float indices", "has dtype float64; expected int64",
           replace=(("dtype=np.int64)", "dtype=float)"),)),
    Mutant(EN, "no dtype: the empty text gives float64", "np.array([]) is float64",
           replace=(("np.array([stoi[ch] for ch in text], dtype=np.int64)", "np.array([stoi[ch] for ch in text])"),)),
    Mutant(EN, "missing ValueError: KeyError for an unknown character", "raised KeyError: 'z'; expected ValueError",
           replace=(("    if missing:\n        raise ValueError(f\"characters not in the vocabulary: "
                     "{', '.join(map(repr, missing))}\")\n", ""),)),
    Mutant(EN, "unknown characters silently encoded as -1", "did not raise ValueError",
           replace=(("    if missing:\n        raise ValueError(f\"characters not in the vocabulary: "
                     "{', '.join(map(repr, missing))}\")\n", ""),
                    ("stoi[ch] for ch in text", "stoi.get(ch, -1) for ch in text"))),
    Mutant(EN, "the ValueError does not name the character", "should name the missing character",
           replace=(("raise ValueError(f\"characters not in the vocabulary: {', '.join(map(repr, missing))}\")",
                     "raise ValueError(\"a character is not in the vocabulary\")"),)),
    # decode
    Mutant(DE, "returns a list of characters", "is a list; expected a str",
           replace=(("return \"\".join(itos[int(i)] for i in indices)", "return [itos[int(i)] for i in indices]"),)),
    Mutant(DE, "joined with spaces", "joined the characters with spaces",
           replace=(("return \"\".join(", "return \" \".join("),)),
    Mutant(DE, "no range check: IndexError for a too large index", "raised IndexError",
           replace=(("    if indices.size and (indices.min() < 0 or indices.max() >= len(itos)):\n"
                     "        raise ValueError(f\"indices must lie in [0, {len(itos)}); got "
                     "{indices.min()}..{indices.max()}\")\n", ""),)),
    Mutant(DE, "negative indices accepted (itos[-1] is the last character)", "decode([-1]) with 3 characters in itos",
           replace=(("indices.min() < 0 or indices.max() >= len(itos)", "indices.max() >= len(itos)"),)),
    Mutant(DE, "only arrays work: a Python list has no .ndim", "np.asarray(indices)",
           replace=(("    indices = np.asarray(indices)\n", ""),)),
    Mutant(DE, "no indices: min() of an empty array raises", "no indices give the empty string",
           replace=(("if indices.size and (indices.min() < 0", "if (indices.min() < 0"),)),
    # one_hot
    Mutant(OH, "works for 1-D indices only", "indices of any shape",
           replace=(("    out = np.zeros(indices.shape + (vocab_size,), dtype=np.float64)\n"
                     "    np.put_along_axis(out, indices[..., None], 1.0, axis=-1)\n",
                     "    out = np.zeros((len(indices), vocab_size))\n"
                     "    out[np.arange(len(indices)), indices] = 1.0\n"),)),
    Mutant(OH, "transposed: (vocab_size, n)", "transposed",
           replace=(("    out = np.zeros(indices.shape + (vocab_size,), dtype=np.float64)\n"
                     "    np.put_along_axis(out, indices[..., None], 1.0, axis=-1)\n",
                     "    out = np.zeros((vocab_size, len(indices)))\n"
                     "    out[indices, np.arange(len(indices))] = 1.0\n"),)),
    Mutant(OH, "integer one-hot vectors", "has dtype int64; expected float64",
           replace=(("dtype=np.float64)", "dtype=int)"),)),
    Mutant(OH, "np.eye(vocab_size)[indices] with no range check", "raised IndexError",
           replace=(("    if indices.size and (indices.min() < 0 or indices.max() >= vocab_size):\n"
                     "        raise ValueError(f\"indices must lie in [0, {vocab_size}); got "
                     "{indices.min()}..{indices.max()}\")\n"
                     "    out = np.zeros(indices.shape + (vocab_size,), dtype=np.float64)\n"
                     "    np.put_along_axis(out, indices[..., None], 1.0, axis=-1)\n    return out\n",
                     "    return np.eye(vocab_size)[indices]\n"),)),
    Mutant(OH, "negative indices accepted", "one_hot([-1], vocab_size=3)",
           replace=(("indices.min() < 0 or indices.max() >= vocab_size", "indices.max() >= vocab_size"),)),
    # fit_autoregressive
    Mutant(FIT, "the bias is penalised too", "the bias is penalised",
           replace=(("penalty = np.sqrt(l2) * np.eye(k + 1)[:k]", "penalty = np.sqrt(l2) * np.eye(k + 1)"),
                    ("np.zeros(k)", "np.zeros(k + 1)"))),
    Mutant(FIT, "a mean squared error: data rows scaled by 1/sqrt(n)", "averaged over the samples",
           replace=(("A = np.hstack([X.astype(np.float64), np.ones((n, 1))])",
                     "A = np.hstack([X.astype(np.float64), np.ones((n, 1))]) / np.sqrt(n)"),
                    ("target = y.astype(np.float64)", "target = y.astype(np.float64) / np.sqrt(n)"))),
    Mutant(FIT, "penalty rows l2 * I instead of sqrt(l2) * I", "use sqrt(l2)",
           replace=(("penalty = np.sqrt(l2) * np.eye", "penalty = l2 * np.eye"),)),
    Mutant(FIT, "normal equations without a bias column", "the bias is missing",
           source='''def fit_autoregressive(X, y, l2=0.0):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y) or l2 < 0:
        raise ValueError("bad arguments")
    k = X.shape[1]
    return np.linalg.solve(X.T @ X + l2 * np.eye(k), X.T @ y).astype(X.dtype)
'''),
    Mutant(FIT, "the bias first", "the bias comes first",
           replace=(("A = np.hstack([X.astype(np.float64), np.ones((n, 1))])",
                     "A = np.hstack([np.ones((n, 1)), X.astype(np.float64)])"),
                    ("np.eye(k + 1)[:k]", "np.eye(k + 1)[1:]"))),
    Mutant(FIT, "negative l2 accepted (normal equations, no check)", "fit_autoregressive(l2=-1) did not raise ValueError",
           source='''def fit_autoregressive(X, y, l2=0.0):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError("expected X (n, window) and y (n,)")
    n, k = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    P = l2 * np.diag([1.0] * k + [0.0])
    w = np.linalg.lstsq(A.T @ A + P, A.T @ y, rcond=None)[0]
    return w.astype(X.dtype)
'''),
    Mutant(FIT, "float64 weights for float32 inputs", "return the input's float dtype",
           replace=(("return w.astype(np.result_type(X.dtype, y.dtype, np.float32))", "return w"),)),
    # predict_autoregressive
    Mutant(PRED, "the bias is ignored", "the bias is missing",
           replace=(("return X @ w[:-1] + w[-1]", "return X @ w[:-1]"),)),
    Mutant(PRED, "the bias taken from w[0]", "the bias is taken from w[0]",
           replace=(("return X @ w[:-1] + w[-1]", "return X @ w[1:] + w[0]"),)),
    Mutant(PRED, "predictions of shape (n, 1)", "shape (n, 1)",
           replace=(("return X @ w[:-1] + w[-1]", "return X @ w[:-1, None] + w[-1]"),)),
    Mutant(PRED, "float64 predictions for float32 inputs", "keep the inputs' float dtype",
           replace=(("X = np.asarray(X)\n", "X = np.asarray(X, dtype=float)\n"),
                    ("w = np.asarray(w)\n", "w = np.asarray(w, dtype=float)\n"))),
    Mutant(PRED, "a list of predictions", "is a list; expected a ndarray",
           replace=(("return X @ w[:-1] + w[-1]", "return [row @ w[:-1] + w[-1] for row in X]"),)),
]
