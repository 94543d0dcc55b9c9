// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Accumulator: gas that depends on the block, like an AMM pair's price accumulators.
/// `poke()` writes a new slot only when time has passed since the last update, so an estimate
/// made in the context of the latest sealed block (same timestamp as the last update) is tens of
/// thousands of gas too low for the block the transaction is actually mined in.
contract Accumulator {
    uint256 public lastUpdate;
    uint256 public cumulative;
    mapping(uint256 => uint256) public observations;

    function poke() external {
        if (block.timestamp > lastUpdate) {
            cumulative += block.timestamp - lastUpdate;
            observations[block.number] = block.timestamp;
            lastUpdate = block.timestamp;
        }
    }
}
