// Compile contracts/src with the pinned npm solc into contracts/build/*.json.
// `node build.js --check` compiles and fails if the committed artifacts differ.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const SRC = path.join(ROOT, "src");
const OUT = path.join(ROOT, "build");
// The Python adapter ships a copy of each artifact inside the package.
const PKG = path.join(ROOT, "..", "src", "carbonledger", "adapters", "evm", "artifacts");
const CONTRACTS = ["CarbonLedger", "Governor", "DaoItems", "MemberItems"];
// Optimizer runs per contract: high for the ledger's hot paths; lower for the Governor,
// whose code must stay well under the 24 KB limit (EIP-170).
const RUNS = { CarbonLedger: 200, Governor: 1000, DaoItems: 10000, MemberItems: 10000 };
const EIP170 = 24576;

function findImport(name) {
  for (const base of [path.join(ROOT, "node_modules"), SRC]) {
    const file = path.join(base, name);
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `not found: ${name}` };
}

const sources = {};
for (const f of fs.readdirSync(SRC).filter((f) => f.endsWith(".sol")).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(SRC, f), "utf8") };
}
function compile(runs) {
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: "cancun",
      optimizer: { enabled: true, runs },
      viaIR: true,
      metadata: { bytecodeHash: "none", appendCBOR: false },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length) process.exit(1);
  return { input, output };
}
const compiled = {};
for (const runs of new Set(Object.values(RUNS))) compiled[runs] = compile(runs);

const check = process.argv.includes("--check");
let differ = false;
fs.mkdirSync(OUT, { recursive: true });
for (const name of CONTRACTS) {
  const { input, output } = compiled[RUNS[name]];
  const c = output.contracts[`${name}.sol`][name];
  if (c.evm.deployedBytecode.object.length / 2 > EIP170) {
    console.error(`${name}: ${c.evm.deployedBytecode.object.length / 2} bytes, over the 24 KB limit`);
    process.exit(1);
  }
  const artifact = {
    contractName: name,
    compiler: { name: "solc", version: solc.version() },
    settings: { evmVersion: input.settings.evmVersion, optimizer: input.settings.optimizer, viaIR: true },
    abi: c.abi,
    bytecode: "0x" + c.evm.bytecode.object,
    deployedBytecode: "0x" + c.evm.deployedBytecode.object,
  };
  const text = JSON.stringify(artifact, null, 2) + "\n";
  for (const dir of [OUT, PKG]) {
    const file = path.join(dir, `${name}.json`);
    if (check) {
      const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
      if (old !== text) {
        console.error(`${path.relative(process.cwd(), file)} differs from the sources: run npm run build`);
        differ = true;
      }
    } else {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(file, text);
      console.log(`wrote ${path.relative(process.cwd(), file)} (${c.evm.deployedBytecode.object.length / 2} bytes)`);
    }
  }
}
process.exit(differ ? 1 : 0);
