# REALLOC-heavy: str += in place (unicode resize), io.StringIO growth, bytearray.extend / slice-assign,
# list.append / extend / insert growth, bytes join, array.array growth.
import io, array
s = ""
for i in range(60000):
    s += "k%d;" % i                      # in-place unicode realloc (refcount 1)
parts = []
for r in range(40):
    sio = io.StringIO()
    for i in range(3000):
        sio.write("row %d col %d\n" % (r, i))
    parts.append(sio.getvalue())
    b = io.BytesIO()
    for i in range(2000):
        b.write(b"%05d" % i)
    parts.append(b.getvalue().decode())
ba = bytearray()
for i in range(100000):
    ba.extend(b"ab" * (i % 5))
    if i % 1000 == 0:
        del ba[: len(ba) // 3]           # shrink
arr = array.array("i")
for i in range(200000):
    arr.append(i)
ls = [[] for _ in range(2000)]
for i in range(200000):
    ls[i % 2000].append(i)
for l in ls[:200]:
    l.insert(0, -1); l.extend(range(50))
bs = b"".join(bytes([i % 256]) * (i % 17) for i in range(50000))
print(len(s), sum(map(len, parts)), len(ba), len(arr), sum(map(len, ls)), len(bs))
