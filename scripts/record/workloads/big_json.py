# LARGE: a large JSON document: build, dumps, loads (both kept alive).
import json, random, sys
random.seed(8)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 150000
doc = {"items": [{"id": i, "label": "lbl-%d" % i, "vals": [random.random() for _ in range(4)], "ok": i % 3 == 0} for i in range(n)]}
s = json.dumps(doc)
back = json.loads(s)
print(len(s), len(back["items"]))
