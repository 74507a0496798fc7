# CALLOC-dense: short-lived zero-filled bytes(n) (PyObject_Calloc) of many sizes churned through a
# deque(maxlen=4096) (each append frees the oldest), sizes precomputed so the loop allocates little else.
import collections
sizes = [(i * 2654435761) % 1400 + 1 for i in range(800000)]
dq = collections.deque(maxlen=4096)
app = dq.append
for _ in range(2):
    for n in sizes:
        app(bytes(n))                 # calloc (+ free of the oldest)
print(sum(map(len, dq)))
