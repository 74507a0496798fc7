# MEDIUM: tokenize a few stdlib modules, keep token tuples, pickle round trip + marshal of code objects.
import tokenize, io, pickle, marshal, sysconfig, os, collections
std = sysconfig.get_paths()["stdlib"]
toks = []
srcs = []
for n in ["collections/__init__.py", "functools.py", "pathlib.py", "logging/__init__.py", "enum.py"]:
    with open(os.path.join(std, n), "rb") as f:
        src = f.read()
    srcs.append(src)
    toks.append([(t.type, t.string, t.start, t.end) for t in tokenize.tokenize(io.BytesIO(src).readline)])
kinds = collections.Counter(t[0] for ts in toks for t in ts)
blob = pickle.dumps(toks, protocol=4)
back = pickle.loads(blob)
codes = [compile(s, "m%d" % i, "exec") for i, s in enumerate(srcs)]
mblobs = [marshal.dumps(c) for c in codes]
again = [marshal.loads(b) for b in mblobs]
print(len(blob), sum(map(len, back)), len(kinds), sum(map(len, mblobs)), len(again))
