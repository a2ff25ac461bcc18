"""Chapter 06 (examples): mistakes in the adding problem, the regressor, the CharLSTM and the loop."""

from mutants import Mutant

RAND = "    values = torch.rand(batch_size, T, generator=rng)"
FIRST = "    first = torch.randint(0, T // 2, (batch_size,), generator=rng)    # in the first half"
SECOND = "    second = torch.randint(T // 2, T, (batch_size,), generator=rng)   # in the second half"
STACK = "    x = torch.stack([values, markers], dim=-1)"
TARGET = "    y = (values[rows, first] + values[rows, second]).unsqueeze(1)"
T_CHECK = ('    if isinstance(T, bool) or not isinstance(T, int) or T < 2:\n'
           '        raise ValueError(f"T must be an integer >= 2 (one marker in each half); got {T!r}")\n')

NONLIN = '                              nonlinearity="tanh" if cell == "rnn" else "relu")'
EYE = "                    self.rnn.weight_hh_l0.copy_(torch.eye(hidden_size))\n"
ZERO_B = ("                    self.rnn.bias_ih_l0.zero_()\n"
          "                    self.rnn.bias_hh_l0.zero_()\n")
READ = "        return self.head(hs[:, -1])"
RUN = "        hs, _ = self.rnn(x)"
LSTM_LAYER = "            self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)"
RNN_LAYER = "            self.rnn = nn.RNN(input_size, hidden_size, batch_first=True,"
BAD_CELL = """            raise ValueError(f"cell must be 'rnn', 'irnn' or 'lstm'; got {cell!r}")"""

CL_LAYER = "        self.lstm = nn.LSTM(vocab_size, hidden_size, num_layers, batch_first=True)"
CL_ONEHOT = "        x = F.one_hot(idx, self.vocab_size).to(self.head.weight.dtype)"
CL_RUN = "        hs, state = self.lstm(x, state)"
CL_RETURN = "        return self.head(hs), state"

TS_DEVICE = "    device = rnnkit.device() if device is None else torch.device(device)"
TS_MOVE = "    model.to(device)\n"
TS_OPT = "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
TS_BATCH = "        x, y = x.to(device), y.to(device)\n"
TS_TUPLE = ("        if isinstance(prediction, tuple):\n"
            "            prediction = prediction[0]\n")
TS_ZERO = "        optimizer.zero_grad()\n"
TS_BACK = "        loss.backward()\n"
TS_CLIP = "        nn.utils.clip_grad_norm_(model.parameters(), clip)\n"
TS_STEP = "        optimizer.step()\n"
TS_APPEND = "        losses.append(loss.item())"

MUTANTS = [
    # adding_problem_batch
    Mutant("06_adding_problem_batch", "second marker drawn over the whole sequence",
           "expected exactly one marker in each half",
           replace=((SECOND, SECOND.replace("torch.randint(T // 2, T,", "torch.randint(0, T,")),)),
    Mutant("06_adding_problem_batch", "first marker's upper end included (randint high is exclusive)",
           "exactly one marker in each half",
           replace=((FIRST, FIRST.replace("torch.randint(0, T // 2,", "torch.randint(0, T // 2 + 1,")),)),
    Mutant("06_adding_problem_batch", "second marker never on position T // 2", "must be uniform over positions",
           replace=((SECOND, SECOND.replace("torch.randint(T // 2, T,", "torch.randint(T // 2 + 1, T,")),)),
    Mutant("06_adding_problem_batch", "first marker never on position 0", "must be uniform over positions",
           replace=((FIRST, FIRST.replace("torch.randint(0, T // 2,", "torch.randint(1, max(T // 2, 2),")),)),
    Mutant("06_adding_problem_batch", "the 1997 original's values in [-1, 1)", "1997 original",
           replace=((RAND, RAND + " * 2 - 1"),)),
    Mutant("06_adding_problem_batch", "float64 values", "expected torch.float32",
           replace=((RAND, RAND.replace("generator=rng)", "generator=rng, dtype=torch.float64)")),
                    ("    markers = torch.zeros(batch_size, T)",
                     "    markers = torch.zeros(batch_size, T, dtype=torch.float64)"))),
    Mutant("06_adding_problem_batch", "y of shape (B,)", "y[:, None] turns shape (B,) into (B, 1)",
           replace=((TARGET, TARGET.replace(".unsqueeze(1)", "")),)),
    Mutant("06_adding_problem_batch", "y the sum of every value", "the sum of all the values",
           replace=((TARGET, "    y = values.sum(dim=1, keepdim=True)"),)),
    Mutant("06_adding_problem_batch", "y the mean of the two marked values", "the mean of the two marked values",
           replace=((TARGET, TARGET.replace(").unsqueeze(1)", ").unsqueeze(1) / 2")),)),
    Mutant("06_adding_problem_batch", "channels swapped", "the channels are swapped",
           replace=((STACK, "    x = torch.stack([markers, values], dim=-1)"),)),
    Mutant("06_adding_problem_batch", "values from torch's global generator", "not from torch's global generator",
           replace=((RAND, "    values = torch.rand(batch_size, T)"),)),
    Mutant("06_adding_problem_batch", "the generator re-seeded inside the function", "do not re-seed",
           replace=((RAND, "    rng.manual_seed(0)\n" + RAND),)),
    Mutant("06_adding_problem_batch", "no ValueError for T < 2", "expected ValueError",
           replace=((T_CHECK, ""),)),

    # SequenceRegressor
    Mutant("06_SequenceRegressor", "IRNN recurrent weights left at PyTorch's random start",
           "the IRNN is not identity-initialised", replace=((EYE, ""),)),
    Mutant("06_SequenceRegressor", "identity put into the input weights instead",
           "the IRNN is not identity-initialised",
           replace=((EYE, "                    nn.init.eye_(self.rnn.weight_ih_l0)\n"),)),
    Mutant("06_SequenceRegressor", "IRNN with tanh units", "whose units are ReLUs",
           replace=((NONLIN, '                              nonlinearity="tanh")'),)),
    Mutant("06_SequenceRegressor", "the tanh RNN built with ReLUs", "is the tanh RNN",
           replace=((NONLIN, '                              nonlinearity="relu")'),)),
    Mutant("06_SequenceRegressor", "IRNN biases left at PyTorch's random start", "biases at zero",
           replace=((ZERO_B, ""),)),
    Mutant("06_SequenceRegressor", "read out from the first step", "first step's hidden state",
           replace=((READ, "        return self.head(hs[:, 0])"),)),
    Mutant("06_SequenceRegressor", "read out from the mean over time", "mean of the hidden states",
           replace=((READ, "        return self.head(hs.mean(dim=1))"),)),
    Mutant("06_SequenceRegressor", "LSTM read out from the cell state c", "cell state c",
           replace=((RUN, "        hs, state = self.rnn(x)\n"
                          "        if isinstance(state, tuple):\n"
                          "            return self.head(state[1][-1])"),)),
    Mutant("06_SequenceRegressor", "h_n used with its layer axis", "PyTorch's layout (num_layers, B, H)",
           replace=((RUN, "        hs, state = self.rnn(x)\n"
                          "        h_n = state[0] if isinstance(state, tuple) else state"),
                    (READ, "        return self.head(h_n)"))),
    Mutant("06_SequenceRegressor", "recurrent layers not batch_first", "not batch_first",
           replace=((LSTM_LAYER, LSTM_LAYER.replace(", batch_first=True", "")),
                    (RNN_LAYER, RNN_LAYER.replace(" batch_first=True,", "")))),
    Mutant("06_SequenceRegressor", "a sigmoid on the prediction", "a sigmoid squashes the prediction",
           replace=((READ, "        return torch.sigmoid(self.head(hs[:, -1]))"),)),
    Mutant("06_SequenceRegressor", "an unknown cell silently becomes an LSTM", "did not raise ValueError",
           replace=((BAD_CELL, "            self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)"),)),
    Mutant("06_SequenceRegressor", "input_size ignored (always 2)", "(input_size, hidden_size)",
           replace=((LSTM_LAYER, LSTM_LAYER.replace("nn.LSTM(input_size,", "nn.LSTM(2,")),
                    (RNN_LAYER, RNN_LAYER.replace("nn.RNN(input_size,", "nn.RNN(2,")))),

    # CharLSTM
    Mutant("06_CharLSTM", "state returned as (c, h)", "looks like (c, h)",
           replace=((CL_RUN, "        hs, (h, c) = self.lstm(x, state)"),
                    (CL_RETURN, "        return self.head(hs), (c, h)"))),
    Mutant("06_CharLSTM", "num_layers ignored", "pass num_layers to nn.LSTM",
           replace=((CL_LAYER, "        self.lstm = nn.LSTM(vocab_size, hidden_size, batch_first=True)"),)),
    Mutant("06_CharLSTM", "state without its layer axis", "keep the layer axis",
           replace=((CL_RUN, "        hs, (h, c) = self.lstm(x, state if state is None else "
                             "(state[0][None], state[1][None]))"),
                    (CL_RETURN, "        return self.head(hs), (h[0], c[0])"))),
    Mutant("06_CharLSTM", "the state given is ignored", "start from the state given",
           replace=((CL_RUN, "        hs, state = self.lstm(x)"),)),
    Mutant("06_CharLSTM", "LSTM not batch_first", "not batch_first",
           replace=((CL_LAYER, CL_LAYER.replace(", batch_first=True", "")),)),
    Mutant("06_CharLSTM", "only h returned as the state", "expected the tuple (h, c)",
           replace=((CL_RETURN, "        return self.head(hs), state[0]"),)),
    Mutant("06_CharLSTM", "logits of the last step only", "(N, T, vocab_size)",
           replace=((CL_RETURN, "        return self.head(hs[:, -1]), state"),)),
    Mutant("06_CharLSTM", "one-hot inputs always float32", "convert the one-hot inputs to the weights' dtype",
           replace=((CL_ONEHOT, "        x = F.one_hot(idx, self.vocab_size).float()"),)),
    Mutant("06_CharLSTM", "softmax applied to the logits", "a softmax of the scores",
           replace=((CL_RETURN, "        return torch.softmax(self.head(hs), dim=-1), state"),)),

    # train_steps
    Mutant("06_train_steps", "gradients never zeroed", "the gradients are not zeroed",
           replace=((TS_ZERO, ""),)),
    Mutant("06_train_steps", "gradients zeroed between backward and step",
           "not between backward() and step()",
           replace=((TS_ZERO + TS_BACK + TS_CLIP, TS_BACK + TS_CLIP + TS_ZERO),)),
    Mutant("06_train_steps", "no clipping", "not clipped", replace=((TS_CLIP, ""),)),
    Mutant("06_train_steps", "element-wise clipping", "element by element",
           replace=((TS_CLIP, "        nn.utils.clip_grad_value_(model.parameters(), clip)\n"),)),
    Mutant("06_train_steps", "clipping after the step", "not clipped before optimizer.step()",
           replace=((TS_CLIP + TS_STEP, TS_STEP + TS_CLIP),)),
    Mutant("06_train_steps", "clip argument ignored", "the clip argument is ignored",
           replace=((TS_CLIP, "        nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"),)),
    Mutant("06_train_steps", "batches not moved to the device", "did not move every batch",
           replace=((TS_BATCH, ""),)),
    Mutant("06_train_steps", "model not moved to the device", "did not move the model",
           replace=((TS_MOVE, ""),)),
    Mutant("06_train_steps", "device=None means the CPU, not rnnkit.device()", "must move the model to rnnkit.device()",
           replace=((TS_DEVICE, '    device = torch.device(device if device is not None else "cpu")'),)),
    Mutant("06_train_steps", "loss tensors returned instead of floats", "append loss.item()",
           replace=((TS_APPEND, "        losses.append(loss)"),)),
    Mutant("06_train_steps", "a model's tuple output passed to the loss", "its first element is the prediction",
           replace=((TS_TUPLE, ""),)),
    Mutant("06_train_steps", "a new optimiser at every step", "a new optimiser is made at every step",
           replace=((TS_OPT, ""), ("        x, y = make_batch()\n", "        x, y = make_batch()\n" + "    " + TS_OPT))),
    Mutant("06_train_steps", "SGD instead of Adam", "the optimiser is SGD",
           replace=((TS_OPT, TS_OPT.replace("torch.optim.Adam", "torch.optim.SGD")),)),
    Mutant("06_train_steps", "lr not passed to Adam", "the lr",
           replace=((TS_OPT, "    optimizer = torch.optim.Adam(model.parameters())\n"),)),
    Mutant("06_train_steps", "one step too few (range(steps - 1))", "the number of losses",
           replace=(("    for _ in range(steps):", "    for _ in range(steps - 1):"),)),
]
