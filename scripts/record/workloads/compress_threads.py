# MEDIUM, raw-domain heavy: zlib/bz2/lzma compression in 4 threads (their buffers come from
# PyMem_RawMalloc, partly called without the GIL).
import zlib, bz2, lzma, random, hashlib
from concurrent.futures import ThreadPoolExecutor
random.seed(6)
chunks = [bytes(random.choices(b"abcdefgh \n", k=200000)) for _ in range(16)]
def job(i):
    b = chunks[i]
    z = zlib.compress(b, 6); x = lzma.compress(b, preset=2); y = bz2.compress(b, 5)
    assert zlib.decompress(z) == b and lzma.decompress(x) == b and bz2.decompress(y) == b
    return len(z) + len(x) + len(y), hashlib.sha256(b).hexdigest()[:8]
with ThreadPoolExecutor(4) as ex:
    res = list(ex.map(job, range(16)))
print(sum(r[0] for r in res))
