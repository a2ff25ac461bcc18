"""Chapter 04 (BPTT): mistakes students make in the five backward-pass exercises."""

from mutants import Mutant

NG = "04_numerical_gradient"
STEP = "04_rnn_step_backward"
BPTT = "04_rnn_backward"
JAC = "04_hidden_jacobian_norms"
CLIP = "04_clip_by_global_norm"

NG_QUOTIENT = "        grad[idx] = (f_plus - f_minus) / (2 * eps)"
STEP_DA = "    da = dh_next * (1 - h_next ** 2)        # back through tanh: its slope, read off h_next"
BPTT_DA = "        da = (dhs[:, t] + dh_from_next) * (1 - hs[:, t] ** 2)"
BPTT_PREV = "        h_prev = hs[:, t - 1] if t > 0 else h0"
JAC_H = "        h = hs[T - k]                     # the state produced by the step from h_{T-1-k}"
JAC_SLOPE = '        slope = 1 - h ** 2 if activation == "tanh" else (h > 0).astype(dtype)'
JAC_PRODUCT = "        product = product @ (slope[:, None] * Wh.T)"
JAC_NORM = "        norms[k] = np.linalg.norm(product, 2)"
CLIP_SCALE = "    scale = max_norm / total_norm if total_norm > max_norm else 1.0"
CLIP_OUT = "    clipped = [np.array(g * scale, dtype=g.dtype) for g in grads]   # new arrays, even for scale 1"

MUTANTS = [
    # numerical_gradient
    Mutant(NG, "one-sided forward difference", "one-sided difference",
           replace=(("        f_minus = float(f())\n", "        f_minus = float(f())\n        x[idx] = old\n"
                     "        f_zero = float(f())\n"),
                    (NG_QUOTIENT, "        grad[idx] = (f_plus - f_zero) / eps"))),
    Mutant(NG, "divides by eps instead of 2 eps", "divided by eps instead of 2 * eps",
           replace=((NG_QUOTIENT, "        grad[idx] = (f_plus - f_minus) / eps"),)),
    Mutant(NG, "x not restored after each entry", "x must be restored",
           replace=(("        x[idx] = old                                  # restore exactly\n", ""),)),
    Mutant(NG, "perturbs a copy of x, so f() never sees it", "perturb x in place",
           replace=(("    for idx in np.ndindex(x.shape):", "    x = x.copy()\n    for idx in np.ndindex(x.shape):"),)),
    Mutant(NG, "ignores the eps argument", "the eps argument is ignored",
           replace=(("        x[idx] = old + eps\n", "        eps = 1e-6\n        x[idx] = old + eps\n"),)),
    Mutant(NG, "loops over rows x[i] of a 2-D array", "perturbs a whole row",
           replace=(("    for idx in np.ndindex(x.shape):", "    for idx in range(len(x)):"),)),
    Mutant(NG, "accepts integer arrays (silently rounds the perturbation away)", "did not raise ValueError",
           replace=(("    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):",
                     "    if not isinstance(x, np.ndarray):"),)),
    # rnn_step_backward
    Mutant(STEP, "tanh derivative 1 - h", "1 - h instead of 1 - h**2",
           replace=((STEP_DA, "    da = dh_next * (1 - h_next)"),)),
    Mutant(STEP, "tanh derivative at h_prev", "taken at h_prev instead of h_next",
           replace=((STEP_DA, "    da = dh_next * (1 - h_prev ** 2)"),)),
    Mutant(STEP, "tanh derivative left out", "the tanh derivative is missing",
           replace=((STEP_DA, "    da = dh_next"),)),
    Mutant(STEP, "Wx not transposed in dx", "transpose",
           replace=(("    dx = da @ Wx.T", "    dx = da @ Wx"),)),
    Mutant(STEP, "Wh not transposed in dh_prev", "Wh is not transposed",
           replace=(("    dh_prev = da @ Wh.T", "    dh_prev = da @ Wh"),)),
    Mutant(STEP, "dWx transposed", "dWx is transposed",
           replace=(("    dWx = x.T @ da", "    dWx = da.T @ x"),)),
    Mutant(STEP, "dWh from h_next", "dWh uses h_next",
           replace=(("    dWh = h_prev.T @ da", "    dWh = h_next.T @ da"),)),
    Mutant(STEP, "db not summed over the batch", "not summed over the batch",
           replace=(("    db = da.sum(axis=0) ", "    db = da "),)),
    Mutant(STEP, "db averaged over the batch", "averaged over the batch",
           replace=(("    db = da.sum(axis=0) ", "    db = da.mean(axis=0) "),)),
    Mutant(STEP, "no shape checks (a one-row dh_next broadcasts over the batch)", "did not raise ValueError",
           replace=(("            or h_next.shape != (N, H) or dh_next.shape != (N, H)):",
                     "            or h_next.shape != (N, H)):"),)),
    # rnn_backward
    Mutant(BPTT, "tanh derivative 1 - h", "1 - h instead of 1 - h**2",
           replace=((BPTT_DA, "        da = (dhs[:, t] + dh_from_next) * (1 - hs[:, t])"),)),
    Mutant(BPTT, "tanh derivative at the previous state", "taken at h_prev instead of h_next",
           replace=((BPTT_DA, "        da = (dhs[:, t] + dh_from_next) * (1 - h_prev ** 2)"),)),
    Mutant(BPTT, "upstream dhs[:, t] not added (only the last step's)", "upstream gradient dhs[:, t] is not added",
           replace=((BPTT_DA, "        da = ((dhs[:, t] if t == T - 1 else 0) + dh_from_next) * (1 - hs[:, t] ** 2)"),)),
    Mutant(BPTT, "gradient from step t + 1 not added", "flowing back from step t + 1 is not added",
           replace=((BPTT_DA, "        da = dhs[:, t] * (1 - hs[:, t] ** 2)"),)),
    Mutant(BPTT, "weight gradients overwritten, not accumulated", "not accumulated over time",
           replace=(("        dWx += xs[:, t].T @ da", "        dWx = xs[:, t].T @ da"),
                    ("        dWh += h_prev.T @ da", "        dWh = h_prev.T @ da"),
                    ("        db += da.sum(axis=0)", "        db = da.sum(axis=0)"))),
    Mutant(BPTT, "only the last step's weight gradients", "not accumulated over time",
           replace=(("        dWx += xs[:, t].T @ da", "        dWx += xs[:, t].T @ da if t == T - 1 else 0"),
                    ("        dWh += h_prev.T @ da", "        dWh += h_prev.T @ da if t == T - 1 else 0"),
                    ("        db += da.sum(axis=0)", "        db += da.sum(axis=0) if t == T - 1 else 0"))),
    Mutant(BPTT, "hs[:, t - 1] at t = 0 wraps around to the last state", "wraps around",
           replace=((BPTT_PREV, "        h_prev = hs[:, t - 1]"),)),
    Mutant(BPTT, "Wh not transposed", "Wh is not transposed",
           replace=(("        dh_from_next = da @ Wh.T", "        dh_from_next = da @ Wh"),)),
    Mutant(BPTT, "Wx not transposed", "transpose",
           replace=(("        dxs[:, t] = da @ Wx.T", "        dxs[:, t] = da @ Wx"),)),
    Mutant(BPTT, "db not summed over the batch", "not summed over the batch",
           source='''def rnn_backward(dhs, xs, h0, hs, Wx, Wh):
    N, T, D = xs.shape
    H = h0.shape[1]
    if hs.shape != (N, T, H) or dhs.shape != (N, T, H) or h0.shape != (N, H):
        raise ValueError("expected dhs and hs (N, T, H), xs (N, T, D), h0 (N, H)")
    if Wx.shape != (D, H) or Wh.shape != (H, H):
        raise ValueError("expected Wx (D, H), Wh (H, H)")
    dxs, dWx, dWh = np.zeros_like(xs), np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros((N, H), dtype=xs.dtype)
    dh = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        da = (dhs[:, t] + dh) * (1 - hs[:, t] ** 2)
        dxs[:, t] = da @ Wx.T
        dWx += xs[:, t].T @ da
        dWh += h_prev.T @ da
        db += da          # forgot to sum over the batch
        dh = da @ Wh.T
    return dxs, dh, dWx, dWh, db
'''),
    Mutant(BPTT, "loop runs forward in time", "forward in time",
           replace=(("    for t in reversed(range(T)):", "    for t in range(T):"),)),
    Mutant(BPTT, "dh0 is the gradient on hs[:, 0]", "dh0 is the gradient on hs[:, 0]",
           replace=(("        dh_from_next = da @ Wh.T\n    return dxs, dh_from_next, dWx, dWh, db",
                     "        total = dhs[:, t] + dh_from_next\n        dh_from_next = da @ Wh.T\n"
                     "    return dxs, total, dWx, dWh, db"),)),
    Mutant(BPTT, "float32 promoted to float64", "dtype",
           replace=(("    dtype = np.result_type(*arrays)", "    dtype = np.float64"),)),
    # hidden_jacobian_norms
    Mutant(JAC, "tanh derivative 1 - h", "1 - h instead of 1 - h**2",
           replace=((JAC_SLOPE, '        slope = 1 - h if activation == "tanh" else (h > 0).astype(dtype)'),)),
    Mutant(JAC, "Jacobian at the wrong state (hs[T - k - 1])", "taken at the wrong state",
           replace=((JAC_H, "        h = hs[T - k - 1]"),)),
    Mutant(JAC, "Wh not transposed", "Wh is not transposed",
           replace=((JAC_PRODUCT, "        product = product @ (slope[:, None] * Wh)"),)),
    Mutant(JAC, "Jacobians multiplied in the wrong order", "wrong order",
           replace=((JAC_PRODUCT, "        product = (slope[:, None] * Wh.T) @ product"),)),
    Mutant(JAC, "Frobenius norm", "Frobenius norm",
           replace=((JAC_NORM, "        norms[k] = np.linalg.norm(product)"),)),
    Mutant(JAC, "largest eigenvalue instead of singular value", "eigenvalue",
           replace=((JAC_NORM, "        norms[k] = np.max(np.abs(np.linalg.eigvals(product)))"),)),
    Mutant(JAC, "activation ignored (tanh slope for ReLU)", "the activation is ignored",
           replace=((JAC_SLOPE, "        slope = 1 - h ** 2"),)),
    Mutant(JAC, "ReLU slope (h >= 0)", "(h >= 0)",
           replace=((JAC_SLOPE, '        slope = 1 - h ** 2 if activation == "tanh" else (h >= 0).astype(dtype)'),)),
    Mutant(JAC, "entry 0 is one Jacobian, not the identity", "entry 0 is not the identity",
           source='''def hidden_jacobian_norms(Wh, hs, activation="tanh"):
    Wh, hs = np.asarray(Wh), np.asarray(hs)
    if activation not in ("tanh", "relu") or hs.ndim != 2 or Wh.shape != (hs.shape[1],) * 2:
        raise ValueError("expected Wh (H, H), hs (T, H) and activation 'tanh' or 'relu'")
    T, H = hs.shape
    norms, product = [], np.eye(H)
    for k in range(T):
        h = hs[T - 1 - k]
        slope = 1 - h ** 2 if activation == "tanh" else (h > 0).astype(float)
        product = product @ (slope[:, None] * Wh.T)
        norms.append(np.linalg.norm(product, 2))
    return np.array(norms, dtype=hs.dtype)
'''),
    # clip_by_global_norm
    Mutant(CLIP, "element-wise clipping", "element-wise clipping",
           replace=((CLIP_OUT, "    clipped = [np.clip(g, -max_norm, max_norm) for g in grads]"),)),
    Mutant(CLIP, "each array clipped by its own norm", "clipped by its own norm",
           replace=((CLIP_OUT, "    clipped = [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads]"),)),
    Mutant(CLIP, "sum of the per-array norms", "norms of the arrays are added",
           replace=(("    total_norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads)))",
                     "    total_norm = float(sum(np.linalg.norm(g) for g in grads))"),)),
    Mutant(CLIP, "squared norm", "squared norm",
           replace=(("    total_norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads)))",
                     "    total_norm = float(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads))"),)),
    Mutant(CLIP, "always rescales to max_norm", "scaled up to max_norm",
           replace=((CLIP_SCALE, "    scale = max_norm / total_norm"),)),
    Mutant(CLIP, "total_norm reported after clipping", "measured after clipping",
           replace=(("    return clipped, total_norm", "    return clipped, min(total_norm, max_norm)"),)),
    Mutant(CLIP, "scales the inputs in place", "modified its input",
           source='''def clip_by_global_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm must be > 0")
    total_norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    if total_norm > max_norm:
        for g in grads:
            g *= max_norm / total_norm
    return [g.copy() for g in grads], total_norm
'''),
    Mutant(CLIP, "returns the input arrays themselves when nothing is clipped", "returned an input array itself",
           replace=((CLIP_OUT, "    clipped = [g * scale if scale != 1.0 else g for g in grads]"),)),
    Mutant(CLIP, "PyTorch's 1e-6 added to the norm", named=False,
           replace=((CLIP_SCALE, "    scale = max_norm / (total_norm + 1e-6) if total_norm > max_norm else 1.0"),)),
]
