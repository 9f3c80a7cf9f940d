// Compile Pyodide's standard library to bytecode with Pyodide's own Python, so the
// page imports .pyc files instead of compiling .py sources on every boot. The zip is
// stored, not deflated: brotli over the whole archive (make dist's .br) is smaller
// than deflate file by file, and zipimport reads stored entries without inflating.
// Usage: node compile_stdlib.mjs <pyodide folder> <output zip>   (run by tools/bytecode.py)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [folder, output] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(join(folder, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: folder + "/" });
pyodide.runPython(`
import importlib.util, sys, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

source = next(p for p in sys.path if p.endswith(".zip"))
with zipfile.ZipFile(source) as stdlib, zipfile.ZipFile("/tmp/out.zip", "w", zipfile.ZIP_STORED) as out:
    for info in stdlib.infolist():
        data = stdlib.read(info)
        if info.filename.endswith(".py"):
            code = compile(data, f"{source}/{info.filename}", "exec", dont_inherit=True)
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
            out.writestr(zipfile.ZipInfo(info.filename + "c", info.date_time), bytes(pyc))
        else:
            info.compress_type = zipfile.ZIP_STORED
            out.writestr(info, data)
`);
writeFileSync(output, pyodide.FS.readFile("/tmp/out.zip"));
