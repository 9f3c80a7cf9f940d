"""The browser shell: the only part of `web` that imports `js`, `pyodide` or `pyscript`."""
