# LARGE: sqlite3 in :memory: with text and blob columns, bulk insert, joins, fetchall into Python (~50-100 MiB live).
import sqlite3, random
random.seed(15)
con = sqlite3.connect(":memory:")
con.executescript("create table a(id integer primary key, name text, blob blob, v real);"
                  "create table b(id integer primary key, aid integer, tag text);")
con.executemany("insert into a values (?,?,?,?)",
                ((i, "name-%d-%s" % (i, "z" * (i % 30)), random.randbytes(i % 64), random.random()) for i in range(150000)))
con.executemany("insert into b values (?,?,?)", ((i, i % 150000, "t%d" % (i % 333)) for i in range(300000)))
con.execute("create index bi on b(aid)")
rows = con.execute("select a.id, a.name, a.blob, b.tag from a join b on b.aid = a.id").fetchall()
agg = con.execute("select tag, count(*), sum(length(name)) from b join a on a.id = b.aid group by tag").fetchall()
index = {}
for r in rows:
    index.setdefault(r[3], []).append(r)
print(len(rows), len(agg), len(index))
