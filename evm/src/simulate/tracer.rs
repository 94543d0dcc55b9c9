//! The logs of a simulated call as geth's `eth_simulateV1` reports them: the contract logs of
//! the frames that did not fail, and (with `traceTransfers`) every ETH transfer as an ERC-20
//! `Transfer` log of the ERC-7528 pseudo-address `0xEeee…EEeE`, in execution order.

use alloy_primitives::{Address, B256, Bytes, Log, LogData, U256, address, b256};
use revm::{
    Inspector,
    context_interface::ContextTr,
    interpreter::{
        CallInputs, CallOutcome, CallScheme, CreateInputs, CreateOutcome,
        interpreter::EthInterpreter,
    },
};

/// `keccak256("Transfer(address,address,uint256)")`.
const TRANSFER_TOPIC: B256 =
    b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
/// The ERC-7528 address standing for native ETH.
pub const ETH_TRANSFER_ADDRESS: Address = address!("EeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE");

/// A log with its index in the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexedLog {
    /// The log.
    pub(crate) log: Log,
    /// Its index among the logs of the block (indexes of logs dropped with a failed frame are
    /// not reused, as in geth).
    pub(crate) index: u64,
}

/// Collects the logs of one block's calls, frame by frame.
#[derive(Debug, Default)]
pub(crate) struct LogTracer {
    /// Whether value transfers are reported as logs.
    trace_transfers: bool,
    /// The logs of every open frame (the outermost first).
    frames: Vec<Vec<IndexedLog>>,
    /// Logs of the finished top-level frame.
    done: Vec<IndexedLog>,
    /// Next log index in the block.
    count: u64,
}

impl LogTracer {
    /// A tracer for one block.
    pub(crate) fn new(trace_transfers: bool) -> Self {
        Self { trace_transfers, ..Self::default() }
    }

    /// Takes the logs of the call that just ran and gets ready for the next one.
    pub(crate) fn take_logs(&mut self) -> Vec<IndexedLog> {
        self.frames.clear();
        std::mem::take(&mut self.done)
    }

    fn capture(&mut self, log: Log) {
        let index = self.count;
        self.count += 1;
        if let Some(frame) = self.frames.last_mut() {
            frame.push(IndexedLog { log, index });
        }
    }

    fn capture_transfer(&mut self, from: Address, to: Address, value: U256) {
        if !self.trace_transfers || value.is_zero() {
            return;
        }
        self.capture(transfer_log(from, to, value));
    }

    fn enter(&mut self) {
        self.frames.push(Vec::new());
    }

    fn exit(&mut self, success: bool) {
        let Some(logs) = self.frames.pop() else { return };
        match self.frames.last_mut() {
            Some(parent) if success => parent.extend(logs),
            Some(_) => {}
            None => self.done = if success { logs } else { Vec::new() },
        }
    }
}

/// The `Transfer(from, to, value)` log of an ETH transfer.
fn transfer_log(from: Address, to: Address, value: U256) -> Log {
    let topics = vec![TRANSFER_TOPIC, from.into_word(), to.into_word()];
    Log {
        address: ETH_TRANSFER_ADDRESS,
        data: LogData::new_unchecked(topics, Bytes::from(value.to_be_bytes::<32>().to_vec())),
    }
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for LogTracer {
    fn log(&mut self, _context: &mut CTX, log: Log) {
        self.capture(log);
    }

    fn call(&mut self, _context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        self.enter();
        // DELEGATECALL and CALLCODE move no value between accounts (geth reports neither).
        if matches!(inputs.scheme, CallScheme::Call)
            && let Some(value) = inputs.transfer_value()
        {
            self.capture_transfer(inputs.caller, inputs.target_address, value);
        }
        None
    }

    fn call_end(&mut self, _context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.exit(outcome.result.is_ok());
    }

    fn create(&mut self, _context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.enter();
        if self.trace_transfers && !inputs.value().is_zero() {
            // The new address is known at the end; the log keeps its place and index.
            let index = self.count;
            self.count += 1;
            let placeholder = transfer_log(inputs.caller(), Address::ZERO, inputs.value());
            if let Some(frame) = self.frames.last_mut() {
                frame.push(IndexedLog { log: placeholder, index });
            }
        }
        None
    }

    fn create_end(
        &mut self,
        _context: &mut CTX,
        inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        if self.trace_transfers
            && !inputs.value().is_zero()
            && let (Some(address), Some(frame)) = (outcome.address, self.frames.last_mut())
            && let Some(first) = frame.first_mut()
        {
            first.log = transfer_log(inputs.caller(), address, inputs.value());
        }
        self.exit(outcome.result.is_ok());
    }

    fn selfdestruct(&mut self, contract: Address, target: Address, value: U256) {
        self.capture_transfer(contract, target, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_of_failed_frames_are_dropped_but_keep_their_indexes() {
        let mut tracer = LogTracer::new(true);
        tracer.enter();
        tracer.capture_transfer(Address::ZERO, Address::repeat_byte(1), U256::from(5));
        tracer.enter();
        tracer.capture_transfer(Address::repeat_byte(1), Address::repeat_byte(2), U256::from(1));
        tracer.exit(false);
        tracer.capture_transfer(Address::repeat_byte(1), Address::repeat_byte(3), U256::from(1));
        tracer.exit(true);
        let logs = tracer.take_logs();
        assert_eq!(logs.len(), 2);
        assert_eq!((logs[0].index, logs[1].index), (0, 2));
        assert_eq!(logs[0].log.address, ETH_TRANSFER_ADDRESS);
        assert_eq!(logs[0].log.topics()[0], TRANSFER_TOPIC);
    }
}
