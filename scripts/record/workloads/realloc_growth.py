# SMALL/MEDIUM, realloc-heavy: bytearray and list growth, io.BytesIO/StringIO writes, str joins.
import io
ba = bytearray()
for i in range(200000):
    ba += b"x" * (i % 7)
bio = io.BytesIO(); sio = io.StringIO()
for i in range(50000):
    bio.write(b"%d," % i); sio.write("line %d\n" % i)
lists = []
for k in range(300):
    l = []
    for i in range(k * 10):
        l.append(i)
    lists.append(l)
s = "".join(str(i) for i in range(100000))
print(len(ba), len(bio.getvalue()), len(sio.getvalue()), sum(map(len, lists)), len(s))
