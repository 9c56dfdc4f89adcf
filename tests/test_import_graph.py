"""The modules of musiczoo import each other without a circle.

Every `import` and `from ... import` under musiczoo/ counts, at module level and inside
functions alike (a deferred import is still a dependency), relative imports resolved, and
`from package import name` taken as an import of the submodule when `name` is one.
Importing a submodule runs its parent package's __init__, but that is Python's doing, not
a dependency of the submodule, so it is not an edge; what an __init__ itself imports is.
`importlib.import_module("...")` by string (the registry loading musiczoo.models, a
family's model through its model_path) is plugin loading, not an import statement, and is
not counted.
"""
import ast
import pathlib

import musiczoo

PACKAGE_DIR = pathlib.Path(musiczoo.__file__).parent
PACKAGE = "musiczoo"


def _module_files():
    """{dotted module name: (path, is_package)} for every .py file under musiczoo/."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = (PACKAGE,) + path.relative_to(PACKAGE_DIR).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def _resolve_relative(module, is_package, level, name):
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _owning_module(name, modules):
    """The longest prefix of dotted `name` that is one of our modules, or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph():
    """{module: {modules of musiczoo it imports}}."""
    modules = _module_files()
    graph = {name: set() for name in modules}
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = (_resolve_relative(module, is_package, node.level, node.module)
                          if node.level else node.module)
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    targets.append(submodule if submodule in modules else source)
            for target in targets:
                owner = _owning_module(target, modules)
                if owner is not None and owner != module:
                    graph[module].add(owner)
    return graph


def find_cycles(graph):
    """Every strongly connected component of more than one module (Tarjan), each as a
    sorted list, plus one concrete loop through it for the message."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def _loop(graph, component):
    """A shortest loop from the component's first module back to itself."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return component


def test_graph_sees_deferred_relative_and_submodule_imports():
    graph = import_graph()
    # `from musiczoo import registry` is an import of the submodule, not of the package.
    assert "musiczoo.registry" in graph["musiczoo.commands"]
    assert "musiczoo" not in graph["musiczoo.commands"]
    # musiczoo/__init__ importing is an edge from `musiczoo`.
    assert "musiczoo.bundles" in graph["musiczoo"]
    assert "musiczoo.pipelines" not in graph["musiczoo.pipelines.stats"]


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    message = "\n".join(
        f"import cycle among {', '.join(c)}: {' -> '.join(_loop(graph, c))}" for c in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s):\n{message}"


def test_family_configs_do_not_register_themselves():
    """Family config modules are plain data: musiczoo.models registers them explicitly."""
    graph = import_graph()
    registering = sorted(module for module, targets in graph.items()
                         if module.startswith("musiczoo.models.")
                         and module.endswith((".configs", ".config"))
                         and "musiczoo.registry" in targets)
    assert not registering, (f"{', '.join(registering)} import musiczoo.registry; register "
                             f"families and configs in musiczoo/models/__init__.py instead")
