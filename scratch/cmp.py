import re,sys
def load(p):
    d={}
    for l in open(p):
        m=re.match(r"\| (\S+ \S+) \| ([^|]+) \| [\d,]+ \| ([\d.]+) \|",l)
        if m: d[m.group(1)+' '+m.group(2).strip()]=float(m.group(3))
    return d
files=sys.argv[1:]
ds=[load('/tmp/h1/scratch/res/footprint-%s.txt'%f) for f in files]
print('| row | ' + ' | '.join(files)+' |')
for k in ds[0]:
    vals=[d.get(k) for d in ds]
    if len(set(vals))>1: print('| '+k+' | '+' | '.join(str(v) for v in vals)+' |')
