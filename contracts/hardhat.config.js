// Hardhat's node as a second local chain for the EVM tests, set up like anvil's in
// src/carbonledger/adapters/evm/anvil.py: the same chain id, ten accounts funded from the
// same test mnemonic, a 30M gas block limit, and no mining of its own (the adapter mines
// each batch at the second it chose).
// allowUnlimitedContractSize stays off: the deployed contracts are under the 24,576-byte
// limit (EIP-170) and their creation code under 49,152 bytes (EIP-3860).
module.exports = {
  paths: { sources: "./src", cache: "./node_modules/.cache/hardhat", artifacts: "./node_modules/.cache/hardhat-artifacts" },
  networks: {
    hardhat: {
      chainId: 31337,
      accounts: { mnemonic: "test test test test test test test test test test test junk", count: 10, accountsBalance: "10000000000000000000000" },
      blockGasLimit: 30000000,
      mining: { auto: false, interval: 0 },
      // The adapter mines a batch at its ledger second, which may be the previous
      // block's second (anvil allows that; Hardhat only with this).
      allowBlocksWithSameTimestamp: true,
    },
  },
};
