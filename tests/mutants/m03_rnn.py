"""Chapter 03 (RNN): mistakes students make in rnn_step, rnn_forward, rnn_from_numpy, CharRNN."""

from mutants import Mutant

STEP = "    return np.tanh(x @ Wx + h_prev @ Wh + b)"
LOOP = "        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)"
CHAR_FORWARD = "        x = F.one_hot(idx, self.vocab_size).to(self.head.weight.dtype)"

MUTANTS = [
    # rnn_step
    Mutant("03_rnn_step", "bias left out", "the bias b is missing",
           replace=((STEP, "    return np.tanh(x @ Wx + h_prev @ Wh)"),)),
    Mutant("03_rnn_step", "tanh left out", "tanh is missing",
           replace=((STEP, "    return x @ Wx + h_prev @ Wh + b"),)),
    Mutant("03_rnn_step", "input and recurrent weights swapped", "swapped",
           replace=((STEP, "    return np.tanh(x @ Wh + h_prev @ Wx + b)"),)),
    Mutant("03_rnn_step", "both weights transposed", "transposed",
           replace=((STEP, "    return np.tanh(x @ Wx.T + h_prev @ Wh.T + b)"),)),
    Mutant("03_rnn_step", "only Wh transposed", "Wh is used transposed",
           replace=((STEP, "    return np.tanh(x @ Wx + h_prev @ Wh.T + b)"),)),
    Mutant("03_rnn_step", "previous state ignored", "previous state is ignored",
           replace=((STEP, "    return np.tanh(x @ Wx + b)"),)),
    Mutant("03_rnn_step", "sigmoid instead of tanh", "sigmoid",
           replace=((STEP, "    return 1 / (1 + np.exp(-(x @ Wx + h_prev @ Wh + b)))"),)),
    Mutant("03_rnn_step", "float32 inputs promoted to float64", "dtype",
           replace=((STEP, "    return np.tanh(x @ Wx + h_prev @ Wh + b).astype(np.float64)"),)),
    Mutant("03_rnn_step", "h_prev added without Wh", "the recurrent weights are missing",
           replace=((STEP, "    return np.tanh(x @ Wx + h_prev + b)"),)),
    # rnn_forward
    Mutant("03_rnn_forward", "state not carried", "the state is not carried",
           replace=((LOOP, "        h = np.tanh(xs[:, t] @ Wx + h0 @ Wh + b)"),)),
    Mutant("03_rnn_forward", "stores the state before the step", "before step t",
           replace=(("        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)\n        hs[:, t] = h",
                     "        hs[:, t] = h\n        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)"),)),
    Mutant("03_rnn_forward", "time-first result", "time-first",
           replace=(("    return hs\n", "    return hs.transpose(1, 0, 2)\n"),)),
    Mutant("03_rnn_forward", "bias left out", "the bias b is missing",
           replace=((LOOP, "        h = np.tanh(xs[:, t] @ Wx + h @ Wh)"),)),
    Mutant("03_rnn_forward", "tanh left out", "tanh is missing",
           replace=((LOOP, "        h = xs[:, t] @ Wx + h @ Wh + b"),)),
    Mutant("03_rnn_forward", "loop over the batch axis", "batch axis",
           source='''def rnn_forward(xs, h0, Wx, Wh, b):
    xs = np.asarray(xs)
    if xs.ndim != 3 or np.ndim(h0) != 2 or len(h0) != len(xs):
        raise ValueError("expected xs (N, T, D) and h0 (N, H)")
    h, out = h0, []
    for x in xs:   # meant to loop over time, but xs is (N, T, D)
        h = np.tanh(x @ Wx + h @ Wh + b)
        out.append(h)
    return np.stack(out, axis=1)
'''),
    Mutant("03_rnn_forward", "result always float64", "dtype",
           replace=(("dtype=np.result_type(xs, h0, Wx, Wh, b)", "dtype=np.float64"),)),
    Mutant("03_rnn_forward", "h0 overwritten in place (h = h0, then h[:] = ...)", "modified its input h0",
           replace=((LOOP, "        h[:] = np.tanh(xs[:, t] @ Wx + h @ Wh + b)"),)),
    # rnn_from_numpy
    Mutant("03_rnn_from_numpy", "b in both biases", "b is counted twice",
           replace=(("        layer.bias_hh_l0.zero_()",
                     "        layer.bias_hh_l0.copy_(torch.tensor(b, dtype=dtype))"),)),
    Mutant("03_rnn_from_numpy", "weights not transposed", "not transposed",
           replace=(("torch.tensor(Wx.T, dtype=dtype)", "torch.tensor(Wx.reshape(H, D), dtype=dtype)"),
                    ("torch.tensor(Wh.T, dtype=dtype)", "torch.tensor(Wh, dtype=dtype)"))),
    Mutant("03_rnn_from_numpy", "only Wh not transposed", "only weight_hh_l0 is not transposed",
           replace=(("torch.tensor(Wh.T, dtype=dtype)", "torch.tensor(Wh, dtype=dtype)"),)),
    Mutant("03_rnn_from_numpy", "default bias left in bias_hh", "bias_ih_l0 + bias_hh_l0 is not b",
           replace=(("        layer.bias_hh_l0.zero_()\n", ""),)),
    Mutant("03_rnn_from_numpy", "always float32", "dtype",
           replace=(("dtype = torch.float64 if Wx.dtype == np.float64 else torch.float32",
                     "dtype = torch.float32"),)),
    Mutant("03_rnn_from_numpy", "not batch_first", "batch_first",
           replace=(("batch_first=True, dtype=dtype)", "batch_first=False, dtype=dtype)"),)),
    Mutant("03_rnn_from_numpy", "ReLU instead of tanh", "nonlinearity='tanh'",
           replace=(('nonlinearity="tanh"', 'nonlinearity="relu"'),)),
    # CharRNN
    Mutant("03_CharRNN", "state given to forward ignored", "forward must start from the h it is given",
           replace=(("        hs, h_last = self.rnn(x, h)", "        hs, h_last = self.rnn(x)"),)),
    Mutant("03_CharRNN", "not batch_first", "batch_first",
           replace=(("nn.RNN(vocab_size, hidden_size, batch_first=True)",
                     "nn.RNN(vocab_size, hidden_size)"),)),
    Mutant("03_CharRNN", "returns probabilities instead of logits", "softmax",
           replace=(("        return self.head(hs), h_last",
                     "        return torch.softmax(self.head(hs), dim=-1), h_last"),)),
    Mutant("03_CharRNN", "returns the last state batch first", "(1, N, hidden_size)",
           replace=(("        return self.head(hs), h_last",
                     "        return self.head(hs), h_last.transpose(0, 1)"),)),
    Mutant("03_CharRNN", "one-hot encodes with the wrong size", "vocab_size",
           replace=((CHAR_FORWARD,
                     "        x = F.one_hot(idx).to(self.head.weight.dtype)"),)),
    Mutant("03_CharRNN", "read-out only from the last step", "may only depend on the inputs up to t",
           replace=(("        return self.head(hs), h_last",
                     "        return self.head(hs[:, -1:]).expand(-1, idx.shape[1], -1), h_last"),)),
]
