// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title GasHungry: calls that need more gas than they finally use.
/// Used to test eth_estimateGas: a naive estimator that returns the gas *used*
/// by a trial run (instead of binary-searching for the minimal gas *limit* that
/// succeeds) gives a limit with which the very same transaction then fails.
contract GasHungry {
    error NotEnoughGas(uint256 left, uint256 needed);

    uint256 public hits;
    uint256 private scratch;

    /// Reverts unless at least `minGas` is left on entry, then does a tiny bit of
    /// work. gasUsed ~ 21k + 20-25k, required gas limit >= ~21k + minGas.
    function needGas(uint256 minGas) public {
        uint256 left = gasleft();
        if (left < minGas) revert NotEnoughGas(left, minGas);
        hits += 1;
    }

    /// needGas(100_000)
    function hungry() external {
        needGas(100_000);
    }

    /// Makes an external call that forwards a fixed 150k gas; the callee checks
    /// it really got (almost) all of it and uses little. Because of EIP-150
    /// (63/64 rule) the caller needs ~150k * 64/63 + overhead available.
    function forward() external {
        (bool ok, bytes memory ret) = address(this).call{gas: 150_000}(abi.encodeCall(this.callee, ()));
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        hits += 1;
    }

    function callee() external view {
        uint256 left = gasleft();
        if (left < 140_000) revert NotEnoughGas(left, 140_000);
    }

    /// Writes a fresh storage slot (in a self-call, so the optimizer cannot drop
    /// the store) then clears it: the SSTORE refund (EIP-3529, capped at
    /// gasUsed/5) makes the final gasUsed lower than the gas needed during
    /// execution.
    function refund() external {
        this.setScratch(1);
        scratch = 0;
        hits += 1;
    }

    function setScratch(uint256 v) external {
        scratch = v;
    }
}
