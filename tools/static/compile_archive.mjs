// Add bytecode to the page's Python archive (web.zip), compiled by Pyodide's own Python:
// beside each module, the `__pycache__` file its import system looks for, hash-based and
// unchecked, so the page loads it as it is instead of compiling the source on every boot.
// Sources stay (tracebacks show their lines). The archive is stored, not deflated: brotli
// over the whole file (make dist's .br) is smaller than deflate file by file.
// Usage: node compile_archive.mjs <pyodide folder> <input zip> <output zip>
//   (run by tools/bytecode.py)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [folder, input, output] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(join(folder, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: folder + "/" });
pyodide.FS.writeFile("/tmp/in.zip", readFileSync(input));
pyodide.runPython(`
import importlib.util, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

with zipfile.ZipFile("/tmp/in.zip") as source, zipfile.ZipFile("/tmp/out.zip", "w", zipfile.ZIP_STORED) as out:
    for info in source.infolist():
        data = source.read(info)
        out.writestr(zipfile.ZipInfo(info.filename, info.date_time), data)
        if info.filename.endswith(".py"):
            code = compile(data, info.filename, "exec", dont_inherit=True)
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
            cached = importlib.util.cache_from_source(info.filename)
            out.writestr(zipfile.ZipInfo(cached, info.date_time), bytes(pyc))
`);
writeFileSync(output, pyodide.FS.readFile("/tmp/out.zip"));
