# MEDIUM: pickle dumps/loads round trips of nested records (protocols 2, 4, 5).
import pickle, random
random.seed(3)
def rec(i):
    return {"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 13)],
            "pos": (random.random(), random.random()), "n": {"a": i * 3, "b": str(i)[::-1]}, "s": {i, i + 1}}
import sys
N = int(sys.argv[1]) if len(sys.argv) > 1 else 40000
data = [rec(i) for i in range(N)]
tot = 0
for proto in (2, 4, 5):
    blob = pickle.dumps(data, protocol=proto)
    back = pickle.loads(blob)
    tot += len(blob) + len(back)
    del back, blob
print(tot)
