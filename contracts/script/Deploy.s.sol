// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Token} from "../src/Token.sol";
import {Counter} from "../src/Counter.sol";

/// Minimal slice of the forge cheatcode interface (forge-std is not available).
interface Vm {
    function startBroadcast() external;
    function stopBroadcast() external;
}

/// Multi-transaction deployment:
///   forge script script/Deploy.s.sol --rpc-url $IR3_HTTP --broadcast \
///     --private-key <key> --use <abs>/scripts/solc-shim
/// Sends 4 transactions: create Token, create Counter, Counter.setNumber(42),
/// Token.transfer(account 1, 1000e18).
contract Deploy {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// forge-std's Script sets this; harmless without it, kept for parity.
    bool public IS_SCRIPT = true;

    address internal constant ACCOUNT1 = 0x70997970C51812dc3A010C7d01b50e0d17dc79C8;

    function run() external returns (Token token, Counter counter) {
        vm.startBroadcast();
        token = new Token("Ir3 Token", "IR3", 1_000_000 ether);
        counter = new Counter();
        counter.setNumber(42);
        require(token.transfer(ACCOUNT1, 1_000 ether), "transfer failed");
        vm.stopBroadcast();
    }
}
