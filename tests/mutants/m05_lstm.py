"""Chapter 05 (LSTM): mistakes students make in the sigmoid, the gates, the updates and nn.LSTM."""

from mutants import Mutant

SIG = ("    e = np.exp(-np.abs(z))                      # in [0, 1]: never overflows\n"
       "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))")
SPLIT = "    i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))"
SQUASH = "    return squash(i), squash(f), np.tanh(g), squash(o)"
GATE_CHECK = "    if h_prev.shape[0] != N or Wx.shape != (D, 4 * H) or Wh.shape != (H, 4 * H) or b.shape != (4 * H,):"
UPDATE = "    return f * c_prev + i * g"
UPDATE_CHECK = "    if not c_prev.ndim == 2 or not c_prev.shape == i.shape == f.shape == g.shape:"
OUTPUT = "    return o * np.tanh(c_next)"
STEP_IFO = "    i, f, o = sig[:, :H], sig[:, H:2 * H], sig[:, 3 * H:]"
STEP_G = "    g = np.tanh(a[:, 2 * H:3 * H])"
STEP_C = "    c_next = f * c_prev + i * g"
STEP_H = "    h_next = o * np.tanh(c_next)"
LOOP_A = "        a = xs[:, t] @ Wx + h @ Wh + b"
LOOP_C = "        c = sig[:, H:2 * H] * c + sig[:, :H] * np.tanh(a[:, 2 * H:3 * H])"
LOOP_H = "        h = sig[:, 3 * H:] * np.tanh(c)"
LOOP_STORE = "        hs[:, t], cs[:, t] = h, c"
W_IH = "        layer.weight_ih_l0.copy_(torch.tensor(Wx.T, dtype=dtype))   # (4H, D), rows in the order i, f, g, o"
W_HH = "        layer.weight_hh_l0.copy_(torch.tensor(Wh.T, dtype=dtype))   # (4H, H)"
B_IH = "        layer.bias_ih_l0.copy_(torch.tensor(b, dtype=dtype))"
B_HH = "        layer.bias_hh_l0.zero_()                                    # PyTorch adds both biases: they must sum to b"
IFOG = "np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]"

MUTANTS = [
    # sigmoid
    Mutant("05_sigmoid", "the textbook formula: exp(-z) overflows for z < -709", "overflows for z below",
           source="def sigmoid(z):\n    return 1 / (1 + np.exp(-np.asarray(z)))\n"),
    Mutant("05_sigmoid", "np.where with np.exp(-z) and np.exp(z): both branches are computed",
           "computes both a and b",
           replace=((SIG, "    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))"),)),
    Mutant("05_sigmoid", "(1 + tanh(z / 2)) / 2: the tail rounds to 0", "rounds to 0",
           replace=((SIG, "    return (1 + np.tanh(z / 2)) / 2"),)),
    Mutant("05_sigmoid", "1 - sigmoid(-z) for negative z: the tail rounds to 0", "rounds to 0",
           replace=((SIG, "    e = np.exp(-np.abs(z))\n"
                          "    return np.where(z >= 0, 1 / (1 + e), 1 - 1 / (1 + e))"),)),
    Mutant("05_sigmoid", "z clipped to [-30, 30] to avoid the overflow", "clip",
           replace=((SIG, "    z = np.clip(z, -30, 30)\n" + SIG),)),
    Mutant("05_sigmoid", "float32 input promoted to float64", "the input's float dtype",
           replace=(("    z = np.asarray(z)\n", "    z = np.asarray(z, dtype=np.float64)\n"),)),
    Mutant("05_sigmoid", "|z| taken in place, to save memory", "modified its input z",
           replace=((SIG, "    negative = z < 0\n"
                          "    z[negative] = -z[negative]\n"
                          "    e = np.exp(-z)\n"
                          "    return np.where(negative, e / (1 + e), 1 / (1 + e))"),)),
    # lstm_gates
    Mutant("05_lstm_gates", "CS231n's gate order i, f, o, g", "order i, f, o, g",
           replace=((SPLIT, SPLIT.replace("i, f, g, o =", "i, f, o, g =")),)),
    Mutant("05_lstm_gates", "gate order f, i, g, o", "order f, i, g, o",
           replace=((SPLIT, SPLIT.replace("i, f, g, o =", "f, i, g, o =")),)),
    Mutant("05_lstm_gates", "candidate through a sigmoid", "goes through a sigmoid",
           replace=((SQUASH, "    return squash(i), squash(f), squash(g), squash(o)"),)),
    Mutant("05_lstm_gates", "output gate through tanh", "o goes through tanh",
           replace=((SQUASH, "    return squash(i), squash(f), np.tanh(g), np.tanh(o)"),)),
    Mutant("05_lstm_gates", "forget gate through tanh", "f goes through tanh",
           replace=((SQUASH, "    return squash(i), np.tanh(f), np.tanh(g), squash(o)"),)),
    Mutant("05_lstm_gates", "bias left out", "the bias b is missing",
           replace=(("    a = x @ Wx + h_prev @ Wh + b ", "    a = x @ Wx + h_prev @ Wh     "),)),
    Mutant("05_lstm_gates", "previous state left out", "h_prev is ignored",
           replace=(("    a = x @ Wx + h_prev @ Wh + b ", "    a = x @ Wx + b               "),)),
    Mutant("05_lstm_gates", "no shape check: a Wx too narrow gives an empty gate", "did not raise ValueError",
           replace=((GATE_CHECK, "    if h_prev.shape[0] != N:"),)),
    # lstm_cell_update
    Mutant("05_lstm_cell_update", "forget gate dropped", "the forget gate is dropped",
           replace=((UPDATE, "    return c_prev + i * g"),)),
    Mutant("05_lstm_cell_update", "forget gate applied to the candidate too",
           "the forget gate is applied to the candidate",
           replace=((UPDATE, "    return f * (c_prev + i * g)"),)),
    Mutant("05_lstm_cell_update", "input and forget gates swapped", "i and f are swapped",
           replace=((UPDATE, "    return i * c_prev + f * g"),)),
    Mutant("05_lstm_cell_update", "1 - f keeps the memory", "multiplied by 1 - f",
           replace=((UPDATE, "    return (1 - f) * c_prev + i * g"),)),
    Mutant("05_lstm_cell_update", "cell state squashed by tanh", "goes through tanh",
           replace=((UPDATE, "    return np.tanh(f * c_prev + i * g)"),)),
    Mutant("05_lstm_cell_update", "input gate left out", "the input gate is missing",
           replace=((UPDATE, "    return f * c_prev + g"),)),
    Mutant("05_lstm_cell_update", "no shape check: a one-row f broadcasts", "did not raise ValueError",
           replace=((UPDATE_CHECK, "    if c_prev.shape != i.shape:"),)),
    # lstm_output
    Mutant("05_lstm_output", "tanh(c) left out", "tanh(c_next) is missing",
           replace=((OUTPUT, "    return o * c_next"),)),
    Mutant("05_lstm_output", "tanh of o * c", "tanh is taken of o * c_next",
           replace=((OUTPUT, "    return np.tanh(o * c_next)"),)),
    Mutant("05_lstm_output", "output gate left out", "the output gate o is missing",
           replace=((OUTPUT, "    return np.tanh(c_next)"),)),
    Mutant("05_lstm_output", "sigmoid instead of tanh", "sigmoid is used instead of tanh",
           replace=((OUTPUT, "    return o / (1 + np.exp(-c_next))"),)),
    # lstm_step
    Mutant("05_lstm_step", "CS231n's gate order i, f, o, g", "order i, f, o, g",
           replace=((STEP_IFO, "    i, f, o = sig[:, :H], sig[:, H:2 * H], sig[:, 2 * H:3 * H]"),
                    (STEP_G, "    g = np.tanh(a[:, 3 * H:])"))),
    Mutant("05_lstm_step", "gate order f, i, g, o", "order f, i, g, o",
           replace=((STEP_IFO, "    i, f, o = sig[:, H:2 * H], sig[:, :H], sig[:, 3 * H:]"),)),
    Mutant("05_lstm_step", "candidate through a sigmoid", "goes through a sigmoid",
           replace=((STEP_G, "    g = sig[:, 2 * H:3 * H]"),)),
    Mutant("05_lstm_step", "output gate through tanh", "o goes through tanh",
           replace=((STEP_IFO, "    i, f, o = sig[:, :H], sig[:, H:2 * H], np.tanh(a[:, 3 * H:])"),)),
    Mutant("05_lstm_step", "forget gate dropped", "the forget gate is dropped",
           replace=((STEP_C, "    c_next = c_prev + i * g"),)),
    Mutant("05_lstm_step", "forget gate applied to the candidate too",
           "the forget gate is applied to the candidate",
           replace=((STEP_C, "    c_next = f * (c_prev + i * g)"),)),
    Mutant("05_lstm_step", "tanh(c) left out of the output", "tanh(c_next) is missing",
           replace=((STEP_H, "    h_next = o * c_next"),)),
    Mutant("05_lstm_step", "new hidden state from the old cell state", "computed from c_prev",
           replace=((STEP_H, "    h_next = o * np.tanh(c_prev)"),)),
    Mutant("05_lstm_step", "returns (c_next, h_next)", "returns (c_next, h_next)",
           replace=(("    return h_next, c_next", "    return c_next, h_next"),)),
    # lstm_forward
    Mutant("05_lstm_forward", "cell state not carried", "the cell state is not carried",
           replace=((LOOP_C, LOOP_C.replace("* c +", "* c0 +")),)),
    Mutant("05_lstm_forward", "hidden state not carried", "the hidden state is not carried",
           replace=((LOOP_A, "        a = xs[:, t] @ Wx + h0 @ Wh + b"),)),
    Mutant("05_lstm_forward", "stores the states before the step", "before step t",
           replace=((LOOP_A, LOOP_STORE.replace("= h, c", "= h, c") + "\n" + LOOP_A),
                    (LOOP_H + "\n" + LOOP_STORE, LOOP_H))),
    Mutant("05_lstm_forward", "time-first result", "time-first",
           replace=(("    return hs, cs\n", "    return hs.transpose(1, 0, 2), cs.transpose(1, 0, 2)\n"),)),
    Mutant("05_lstm_forward", "returns (cs, hs)", "returns (cs, hs)",
           replace=(("    return hs, cs\n", "    return cs, hs\n"),)),
    Mutant("05_lstm_forward", "new hidden state from the old cell state", "computed from c_prev",
           replace=((LOOP_C, LOOP_C.replace("        c = ", "        c_new = ")),
                    (LOOP_H, LOOP_H + "\n        c = c_new"))),
    Mutant("05_lstm_forward", "CS231n's gate order i, f, o, g", "order i, f, o, g",
           replace=((LOOP_C, LOOP_C.replace("a[:, 2 * H:3 * H]", "a[:, 3 * H:]")),
                    (LOOP_H, LOOP_H.replace("sig[:, 3 * H:]", "sig[:, 2 * H:3 * H]")))),
    Mutant("05_lstm_forward", "result always float64", "dtype",
           replace=(("    dtype = np.result_type(xs, h0, c0, Wx, Wh, b)", "    dtype = np.float64"),)),
    # lstm_from_numpy
    Mutant("05_lstm_from_numpy", "b in both of PyTorch's biases", "b is counted twice",
           replace=((B_HH, "        layer.bias_hh_l0.copy_(torch.tensor(b, dtype=dtype))"),)),
    Mutant("05_lstm_from_numpy", "only bias_ih set: bias_hh keeps its random values", "only bias_ih_l0 is set",
           replace=((B_HH, "        pass"),)),
    Mutant("05_lstm_from_numpy", "only bias_hh set: bias_ih keeps its random values", "only bias_hh_l0 is set",
           replace=((B_IH, "        layer.bias_hh_l0.copy_(torch.tensor(b, dtype=dtype))"), (B_HH, "        pass"))),
    Mutant("05_lstm_from_numpy", "weights not transposed", "transposed",
           replace=((W_IH, "        layer.weight_ih_l0.copy_(torch.tensor(Wx, dtype=dtype))"),
                    (W_HH, "        layer.weight_hh_l0.copy_(torch.tensor(Wh, dtype=dtype))"))),
    Mutant("05_lstm_from_numpy", "rows reordered to CS231n's i, f, o, g", "reordered to i, f, o, g",
           replace=((W_IH, f"        layer.weight_ih_l0.copy_(torch.tensor(Wx.T[{IFOG}], dtype=dtype))"),
                    (W_HH, f"        layer.weight_hh_l0.copy_(torch.tensor(Wh.T[{IFOG}], dtype=dtype))"),
                    (B_IH, f"        layer.bias_ih_l0.copy_(torch.tensor(b[{IFOG}], dtype=dtype))"))),
    Mutant("05_lstm_from_numpy", "not batch_first", "batch_first",
           replace=(("batch_first=True, dtype=dtype)", "dtype=dtype)"),)),
    Mutant("05_lstm_from_numpy", "always float32", "float64 weights give a float64 module",
           replace=(("    dtype = torch.float64 if Wx.dtype == np.float64 else torch.float32",
                     "    dtype = torch.float32"),)),
    Mutant("05_lstm_from_numpy", "parameters share memory with the arrays", "share memory",
           replace=((W_IH, "        layer.weight_ih_l0 = nn.Parameter(torch.from_numpy(Wx.T))"),
                    (W_HH, "        layer.weight_hh_l0 = nn.Parameter(torch.from_numpy(Wh.T))"))),
]
