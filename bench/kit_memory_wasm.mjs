// One simulated kit under the 32-bit WebAssembly port of MicroPython (bench/kit_memory.py).
//
//   node kit_memory_wasm.mjs PACKAGE_DIR FIRMWARE_DIR HEAP_BYTES arg=value ...
//
// Copies the compiled firmware tree (.mpy) into the port's in-memory file system, runs
// firmware/sim/simkit.py with the given options in a heap of HEAP_BYTES, and prints the
// kit's JSON events followed by one line `{"event": "wasm_heap", "first": .., "last": ..}`
// with the GC heap's total at the start and the end. The port adds heap areas when an
// allocation fails after a collection, so a run whose total never changed ran as it would
// have in a fixed heap of that size; one whose total grew would have met a MemoryError.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [packageDir, firmwareDir, heapText, ...kitArgs] = process.argv.slice(2);
const { loadMicroPython } = await import(
  pathToFileURL(path.join(packageDir, "micropython.mjs")).href
);
const totals = [];
const used = [];
// STEPS_FILE: a JSON list of Python snippets, run one by one instead of the kit (below).
const steps = process.env.STEPS_FILE ? JSON.parse(fs.readFileSync(process.env.STEPS_FILE, "utf8")) : null;
const mp = await loadMicroPython({
  heapsize: parseInt(heapText, 10),
  pystack: 16384,
  linebuffer: true,
  stdout: (line) => {
    const found = /^GC: total: (\d+), used: (\d+)/.exec(line);
    if (found) {
      totals.push(parseInt(found[1], 10));
      used.push(parseInt(found[2], 10));
    }
    else if (!/^(stack:| No\. of)/.test(line)) process.stdout.write(line + "\n");
  },
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyTree(from, to) {
  mp.FS.mkdirTree(to);
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copyTree(source, `${to}/${entry.name}`);
    else if (entry.name.endsWith(".mpy")) mp.FS.writeFile(`${to}/${entry.name}`, fs.readFileSync(source));
  }
}
copyTree(firmwareDir, "/fw");
mp.runPython(
  "import sys, micropython\n" +
    "sys.path[:] = ['/fw/sim', '/fw']\n" +
    `sys.argv[:] = ${JSON.stringify(["simkit", ...kitArgs])}\n` +
    "micropython.mem_info()\n",
);
let code = 0;
if (steps) {
  // Each step runs at the top level; the collection before the next call frees its garbage,
  // so the heap in use after it is what the step keeps.
  for (const step of steps) {
    try {
      mp.runPython(step);
      // gc.collect() here only asks for a collection, which the next call then makes
      mp.runPython("import gc\ngc.collect()\n");
      mp.runPython("micropython.mem_info()\n");
      process.stdout.write(JSON.stringify({ event: "wasm_used", used: used[used.length - 1] }) + "\n");
    } catch (error) {
      if (error.name !== "PythonError") throw error;
      process.stderr.write(error.message + "\n");
      process.exit(1);
    }
  }
  process.exit(0);
}
try {
  mp.runPython("try:\n    import simkit\nfinally:\n    micropython.mem_info()\n");
} catch (error) {
  if (error.name !== "PythonError") throw error;
  if (error.type !== "SystemExit") {
    process.stderr.write(error.message + "\n");
    code = 1;
  }
}
process.stdout.write(
  JSON.stringify({ event: "wasm_heap", first: totals[0], last: totals[totals.length - 1] }) + "\n",
);
process.exit(code);
