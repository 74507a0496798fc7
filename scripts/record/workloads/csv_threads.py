# MEDIUM: csv writer/reader over StringIO in 4 Python threads (GIL hand-offs), then a merge.
import csv, io, threading, random
random.seed(9)
results = [None] * 4
def work(k):
    buf = io.StringIO()
    w = csv.writer(buf)
    for i in range(20000):
        w.writerow([k, i, "name%d" % i, random.random(), "x" * (i % 13)])
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    results[k] = {r[1]: r for r in rows}
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
merged = {}
for r in results: merged.update(r)
print(len(merged), sum(len(r) for r in results))
