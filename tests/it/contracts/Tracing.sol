// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Callee of the tracing comparison: writes storage, emits events, returns data, reverts on
/// request (custom error or Error(string)), and creates a child contract.
contract B {
    error TooBig(uint256 value);

    event Stored(uint256 indexed value, address indexed from, bytes32 tag);

    uint256 public stored;
    mapping(address => uint256) public paid;

    function store(uint256 v) external payable returns (uint256) {
        if (v > 100) revert TooBig(v);
        stored = v;
        paid[msg.sender] += msg.value;
        emit Stored(v, msg.sender, keccak256(abi.encode(v)));
        return v * 2;
    }

    function fail(string calldata reason) external pure {
        revert(reason);
    }

    function spawn(uint256 salt) external returns (address) {
        return address(new Child{salt: bytes32(salt)}(salt));
    }
}

/// Created by B.spawn (a CREATE2 frame in the trace).
contract Child {
    uint256 public immutable seed;

    constructor(uint256 seed_) {
        seed = seed_;
    }
}

/// Caller: A.callB() makes a value call, a caught custom-error revert, a caught Error(string)
/// revert, a static call, a CREATE2 through B and a plain ETH transfer.
contract A {
    B public immutable b;
    uint256 public caught;
    string public lastReason;

    event Done(uint256 result, uint256 caught);

    constructor(B b_) {
        b = b_;
    }

    function callB(uint256 v) external payable returns (uint256 r) {
        require(v != 7, "seven is not allowed");
        r = b.store{value: msg.value / 2}(v);
        try b.store(v + 1000) returns (uint256) {
            r += 1;
        } catch (bytes memory) {
            caught += 1;
        }
        try b.fail("inner boom") {} catch Error(string memory reason) {
            lastReason = reason;
            caught += 1;
        }
        r += b.stored();
        b.spawn(v);
        (bool sent, ) = payable(address(b)).call{value: 1}("");
        if (!sent) caught += 1;
        emit Done(r, caught);
    }

    /// Bubbles B's custom error up to the top level.
    function callBUnchecked(uint256 v) external returns (uint256) {
        return b.store(v);
    }
}
