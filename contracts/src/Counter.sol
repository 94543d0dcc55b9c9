// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Counter: storage, events and revert reasons for ir3 end-to-end tests.
contract Counter {
    uint256 public number;

    event NumberSet(uint256 indexed newNumber, address indexed by);

    function increment() external {
        number++;
    }

    function setNumber(uint256 newNumber) external {
        number = newNumber;
        emit NumberSet(newNumber, msg.sender);
    }

    /// Always reverts with Error(string) = `reason`.
    function fail(string calldata reason) external pure {
        revert(reason);
    }

    /// Reverts with Error("too small") unless x > 10.
    function requireBig(uint256 x) external pure returns (uint256) {
        require(x > 10, "too small");
        return x;
    }
}
