# MEDIUM: a small interpreter: generate Python source for many functions, ast.parse, NodeTransformer rewrite, compile, exec, call.
import ast, random
random.seed(25)
def gen(i):
    ops = ["+", "-", "*", "//", "%"]
    body = [f"    a{j} = {random.randint(1, 99)} {random.choice(ops)} (x + {j} or 1)" for j in range(random.randint(3, 25))]
    body.append("    s = " + " + ".join(f"a{j}" for j in range(len(body))))
    body.append(f"    return [s, {{'k{i}': s}}, 'f{i}:' + str(s)]")
    return f"def f{i}(x):\n" + "\n".join(body) + "\n"
class Consts(ast.NodeTransformer):
    def visit_Constant(self, node):
        if isinstance(node.value, int) and node.value > 50: return ast.copy_location(ast.Constant(node.value - 1), node)
        return node
ns = {}; results = []; trees = []
for batch in range(14):
    src = "".join(gen(batch * 100 + i) for i in range(100))
    tree = ast.fix_missing_locations(Consts().visit(ast.parse(src)))
    code = compile(tree, f"<gen{batch}>", "exec")
    exec(code, ns)
    if batch % 4 == 0: trees.append(tree)
    for i in range(100): results.append(ns[f"f{batch * 100 + i}"](batch))
print(len(ns), len(results), sum(r[0] for r in results) % 1000003, len(ast.unparse(trees[-1])))
