# LARGE: generator/coroutine pipeline with itertools (groupby, chain, islice, accumulate, tee), Fraction sums, results materialised (~100-200 MiB live).
import itertools, random
from fractions import Fraction
random.seed(28)
def source(n):
    for i in range(n): yield (i % 97, random.random(), "r%d" % i)
def scale(it):
    for k, v, s in it: yield k, v * 3, s.upper()
def sink():
    acc = []
    while True:
        x = yield
        if x is None: break
        acc.append(x)
    yield acc
s = sink(); next(s)
for row in scale(source(650000)): s.send(row)
rows = s.send(None)
a, b = itertools.tee(rows)
groups = {k: [r[2] for r in g] for k, g in itertools.groupby(sorted(a, key=lambda r: r[0]), key=lambda r: r[0])}
acc = list(itertools.accumulate(r[1] for r in itertools.islice(b, 0, None, 2)))
fr = sum((Fraction(i, i % 13 + 1) for i in range(1, 30000)), Fraction(0))
pairs = list(itertools.chain.from_iterable(zip(g, g[1:]) for g in groups.values()))
print(len(rows), len(groups), len(acc), fr.denominator % 1000, len(pairs))
