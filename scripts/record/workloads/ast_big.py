# MEDIUM: ast.parse of big stdlib modules (trees kept alive), walk, unparse some.
import ast, os, sysconfig
std = sysconfig.get_paths()["stdlib"]
names = ["typing.py", "argparse.py", "inspect.py", "tarfile.py", "subprocess.py", "email/_header_value_parser.py"]
trees = []
for n in names:
    with open(os.path.join(std, n), encoding="utf-8") as f:
        src = f.read()
    t = ast.parse(src, n)
    trees.append(t)
nodes = sum(1 for t in trees for _ in ast.walk(t))
out = ast.unparse(trees[0]) + ast.unparse(trees[1])
code = compile(trees[2], "inspect.py", "exec")
print(len(trees), nodes, len(out), code.co_name)
