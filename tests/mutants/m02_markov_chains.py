"""Chapter 02 (Markov chains): realistic mistakes in each exercise, and the words that must name them."""

from __future__ import annotations

from . import Mutant

NG, NCD, SM, BPC = "02_ngram_counts", "02_next_char_distribution", "02_sample_markov", "02_bits_per_char"

MUTANTS = [
    # ngram_counts
    Mutant(NG, "counts positions t > order instead of t >= order", "misses the first position",
           replace=(("for t in range(order, len(text)))", "for t in range(order + 1, len(text)))"),)),
    Mutant(NG, "the last position is missing (range ends at len(text) - 1)", "misses the last position",
           replace=(("for t in range(order, len(text)))", "for t in range(order, len(text) - 1))"),)),
    Mutant(NG, "plain dicts instead of Counters", "expected a Counter",
           replace=(("counts[context] = Counter()", "counts[context] = {}"),)),
    Mutant(NG, "a negative order accepted", "ngram_counts('abc', -1) raised IndexError",
           replace=((" or order < 0:", ":"),)),
    Mutant(NG, "a numpy integer order rejected", "order may be a numpy integer",
           replace=(("not isinstance(order, (int, np.integer))", "not isinstance(order, int)"),)),
    Mutant(NG, "a float order not rejected (TypeError from range)", "ngram_counts('abc', 1.5) raised TypeError",
           replace=(("if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:",
                     "if order < 0:"),)),
    Mutant(NG, "order 0 special-cased as {'': Counter(text)}, also for the empty text", "an empty dict, not {'': Counter()}",
           replace=(("    # count whole (order + 1)-grams", "    if order == 0:\n        return {\"\": Counter(text)}\n"
                     "    # count whole (order + 1)-grams"),)),
    # next_char_distribution
    Mutant(NCD, "the denominator adds alpha per seen follower, not per vocabulary character",
           "adds alpha once per character seen",
           replace=(("total = n.sum() + alpha * len(vocab)", "total = n.sum() + alpha * len(followers or {})"),)),
    Mutant(NCD, "the denominator adds alpha once", "adds alpha only once",
           replace=(("total = n.sum() + alpha * len(vocab)", "total = n.sum() + alpha"),)),
    Mutant(NCD, "the first order characters of the context", "not the last order characters",
           replace=(("counts.get(context[len(context) - order :])", "counts.get(context[:order])"),)),
    Mutant(NCD, "context[-order:] (the whole context at order 0)", "context[-0:] is the whole string",
           replace=(("counts.get(context[len(context) - order :])", "counts.get(context[-order:])"),)),
    Mutant(NCD, "counts[h]: KeyError for an unseen context", "gives the uniform distribution",
           replace=(("counts.get(context[len(context) - order :])", "counts[context[len(context) - order :]]"),)),
    Mutant(NCD, "0 / 0 for an unseen context with alpha = 0", "divides 0 by 0",
           replace=(("    if total == 0:\n        return np.full(len(vocab), 1.0 / len(vocab))\n", ""),
                    ("return (n + alpha) / total", "with np.errstate(invalid=\"ignore\"):\n        return (n + alpha) / total"))),
    Mutant(NCD, "the entries in sorted order instead of vocab's", "not vocab's own order",
           replace=(("if followers else 0 for ch in vocab]", "if followers else 0 for ch in sorted(vocab)]"),)),
    Mutant(NCD, "counts modified with setdefault", "modified counts",
           replace=(("counts.get(context[len(context) - order :])",
                     "counts.setdefault(context[len(context) - order :], Counter())"),)),
    Mutant(NCD, "empty counts not rejected (StopIteration)", "raised StopIteration",
           replace=(("    if not counts:\n        raise ValueError(\"counts is empty: expected the output of "
                     "ngram_counts on a non-empty text\")\n", ""),)),
    # sample_markov
    Mutant(SM, "temperature applied to q instead of log q", "the temperature is ignored, or divides q",
           replace=(("p = np.exp(np.log(q) / temperature)", "p = q / temperature"),)),
    Mutant(SM, "p = q ** temperature", "p is q ** temperature",
           replace=(("p = np.exp(np.log(q) / temperature)", "p = q ** temperature"),)),
    Mutant(SM, "a softmax of q / temperature", "p is a softmax of q / temperature",
           replace=(("p = np.exp(np.log(q) / temperature)", "p = np.exp(q / temperature)"),)),
    Mutant(SM, "rng.choice without p", "drawn uniformly",
           replace=(("rng.choice(len(vocab), p=p)", "rng.choice(len(vocab))"),)),
    Mutant(SM, "np.random.choice instead of rng", "use only rng for randomness",
           replace=(("rng.choice(len(vocab), p=p)", "np.random.choice(len(vocab), p=p)"),)),
    Mutant(SM, "returns seed_text too", "returned seed_text too",
           replace=(("return \"\".join(new)", "return text"),)),
    Mutant(SM, "the context is never updated", "drawn after the seed text's context",
           replace=(("        text += ch\n", ""),)),
    Mutant(SM, "alpha ignored (always 1)", "alpha is ignored",
           replace=(("q = (n + alpha) / total if total > 0", "q = (n + 1.0) / (n.sum() + len(vocab)) if total > 0"),)),
    Mutant(SM, "a negative temperature accepted", "sample_markov(temperature=-1) did not raise ValueError",
           replace=(("if not temperature > 0:", "if temperature == 0:"),)),
    Mutant(SM, "empty counts not rejected (StopIteration)", "raised StopIteration",
           replace=(("    if not counts:\n        raise ValueError(\"counts is empty: expected the output of "
                     "ngram_counts on a non-empty text\")\n", ""),)),
    # bits_per_char
    Mutant(BPC, "natural log instead of log2", "natural log",
           replace=(("bits -= n * math.log2(p)", "bits -= n * math.log(p)"),)),
    Mutant(BPC, "divides by len(text): averages over all positions", "it divides by len(text)",
           replace=(("return bits / (len(text) - order)", "return bits / len(text)"),)),
    Mutant(BPC, "the sum, not the average", "sums instead of averaging",
           replace=(("return bits / (len(text) - order)", "return bits"),)),
    Mutant(BPC, "log2 p without the minus sign", "the sign is wrong",
           replace=(("bits -= n * math.log2(p)", "bits += n * math.log2(p)"),)),
    Mutant(BPC, "positions t > order", "skips the first position",
           replace=(("for t in range(order, len(text)))", "for t in range(order + 1, len(text)))"),
                    ("return bits / (len(text) - order)", "return bits / (len(text) - order - 1)"))),
    Mutant(BPC, "alpha ignored (always 1)", "alpha is ignored",
           replace=(("denominator = totals[context] + alpha * size", "denominator = totals[context] + size"),
                    ("(followers.get(ch, 0) + alpha)", "(followers.get(ch, 0) + 1.0)"))),
    Mutant(BPC, "no ValueError for a text without positions (ZeroDivisionError)", "raised ZeroDivisionError",
           replace=(("    if len(text) <= order:\n        raise ValueError(f\"a text of {len(text)} characters has no "
                     "position t >= order = {order} to score\")\n", ""),)),
]
