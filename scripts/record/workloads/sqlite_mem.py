# MEDIUM: sqlite3 in-memory database: inserts, index, queries, fetchall.
import sqlite3, random
random.seed(4)
con = sqlite3.connect(":memory:")
con.execute("create table t (id integer primary key, name text, grp integer, score real, note text)")
rows = [(i, "name%d" % i, i % 100, random.random() * 100, "note " * (i % 10)) for i in range(30000)]
con.executemany("insert into t values (?,?,?,?,?)", rows)
con.execute("create index ig on t(grp)")
res = con.execute("select grp, count(*), avg(score), max(name) from t group by grp").fetchall()
allrows = con.execute("select * from t where score > 20 order by name").fetchall()
d = {r[0]: r for r in allrows}
for g in range(0, 100, 5):
    con.execute("update t set score = score + 1 where grp = ?", (g,))
con.commit()
print(len(res), len(allrows), len(d))
